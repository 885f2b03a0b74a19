import { newId } from "../ids";
import type { QueueConfig } from "../webhooks/types";
import { deliver, type Parts } from "./attempt";
import { HOLD_MS } from "./journal";
import { dueUnits, expiredRows, nextDue, nextExpiry, SEND_SLOTS, type Unit } from "./lines";

/** One run sends for at most this long, then re-arms the alarm, so a huge backlog never pins one invocation. */
const RUN_BUDGET_MS = 25_000;
/**
 * …and makes at most about this many subrequests (sends and D1 batches): an invocation may make 1,000 on older paid
 * plans (10,000 today), and a run that hit the limit would throw in the middle of its sends.
 */
const RUN_SUBREQUESTS = 900;
/**
 * During a run the log goes to D1 once this many delivered rows wait for it, or this often: waiting for D1 between
 * sends would halve a strict webhook's rate, and a page bounds what a crash sends twice.
 */
const LOG_FLUSH_ROWS = 20;
const LOG_FLUSH_MS = 1000;
/** When D1 refuses the log, the outbox is tried again after this long. */
const OUTBOX_RETRY_MS = 15_000;
/**
 * A run started by a hand-off (not by the alarm) that is about to send a delivery due BACKSTOP_AFTER_MS ago or more
 * — the queue is behind: a slow or throttled receiver, a stream faster than it, rows a wake-up found — sets the alarm
 * BACKSTOP_MS ahead, so a process that dies mid-backlog resumes by itself. A run that keeps up sets none (an alarm
 * set and cleared is two rows written); a process that dies during one leaves only what it had in flight, to the
 * stream's next hand-off or, at worst, the cron sweeper.
 */
const BACKSTOP_AFTER_MS = 2_000;
const BACKSTOP_MS = 30_000;
/** Rows expired per statement, so one run never holds a huge result in memory. */
const PAGE = 500;

/**
 * The scheduler: when the queue sends. A hand-off that finds the queue idle starts a run in its own invocation; the
 * alarm is for retries, waits (batches, pauses, rate limits), the outbox and long backlogs, and is always set to the
 * earliest of them. A run keeps up to SEND_SLOTS sends going (one for a strict or batched line), each slot taking the
 * next due unit as soon as its send has an outcome, so one slow receiver answer holds up no other send, until nothing
 * is due or its budget is spent.
 */
export class Scheduler {
  readonly #p: Parts;
  #running: Promise<void> | null = null;
  /** A hand-off came in while a run was finishing: another run follows it at once, rather than the alarm. */
  #again = false;
  /** Wakes a run that waits for a free slot or for news (a hand-off). */
  #wake: (() => void) | null = null;

  constructor(parts: Parts) {
    this.#p = parts;
  }

  /** Starts a run in this invocation unless one is going (it picks up new rows before it ends). */
  kick(): void {
    if (this.#running) {
      this.#again = true;
      this.#wake?.();
      return;
    }
    this.#p.seams.waitUntil(this.#serial(false));
  }

  /** The alarm: a run, unless one started by a hand-off is going (the alarm was its backstop; it re-arms at its end). */
  async alarm(): Promise<void> {
    if (this.#running) return this.#running;
    return this.#serial(true);
  }

  #serial(byAlarm: boolean): Promise<void> {
    const run = (async () => {
      await this.#run(byAlarm);
      // A run looks for new rows until it stops sending; one handed over during its last steps (the final log
      // write, the pending writes, the alarm) is sent by the next run, now.
      while (this.#again) {
        this.#again = false;
        await this.#run(false);
      }
    })().finally(() => {
      this.#running = null;
    });
    this.#running = run;
    return run;
  }

  async #run(byAlarm: boolean): Promise<void> {
    const { store, journal, pacing, seams } = this.#p;
    // Once D1 has refused the log in this run, the run stops asking it: sends go on, the outbox waits.
    let logging = await journal.flush();
    const started = seams.now();
    let subrequests = 0;
    let flushedAt = started;
    let backstop = byAlarm;
    const sending = new Set<Promise<void>>();
    for (;;) {
      const cfg = this.#p.config();
      if (!cfg || cfg.deleted) break;
      const now = seams.now();
      // Expiry runs whether or not the webhook is active: a held event past its ttl_s is as useless as any other.
      this.#expire(cfg, now);
      if (!cfg.active || now - started >= RUN_BUDGET_MS || subrequests >= RUN_SUBREQUESTS) break;
      const units = dueUnits(store, cfg, now, () => newId("bat", now), SEND_SLOTS - sending.size);
      const allowed = units.slice(0, pacing.take(cfg, units.length, now));
      if (allowed.length === 0) {
        // Nothing more may go now: wait for a send's outcome (or a hand-off), then look again.
        if (sending.size > 0) {
          await this.#nextChange(sending);
          continue;
        }
        // Before stopping, the log goes out: a hand-off that came in meanwhile is then seen by the next look.
        if (logging && journal.sentRows > 0) {
          logging = await journal.flush();
          subrequests++;
          continue;
        }
        break;
      }
      // An alarm run that dies is run again by the runtime; a hand-off's run that has fallen behind needs an alarm.
      if (!backstop && behind(allowed, now)) {
        backstop = true;
        await this.#backstop(now);
      }
      for (const unit of allowed) {
        store.dispatch(unit.rows);
        const send: Promise<void> = deliver(this.#p, cfg, unit).finally(() => sending.delete(send));
        sending.add(send);
      }
      subrequests += allowed.length;
      if (logging && (journal.sentRows >= LOG_FLUSH_ROWS || seams.now() - flushedAt >= LOG_FLUSH_MS)) {
        logging = await journal.flush();
        if (logging) await journal.writePending(cfg, false, seams.now());
        flushedAt = seams.now();
        subrequests++;
      }
    }
    // The sends still going finish first: their outcomes belong to this run.
    await Promise.all(sending);
    // What is still unlogged leaves memory now: to D1, or to the outbox if D1 is refusing.
    if (logging) await journal.flush();
    else journal.spill();
    const cfg = this.#p.config();
    // The alerts this run owes go out now (an alert of a deleted webhook too: its attempts happened), before the
    // next wake-up is judged below.
    if (cfg) await this.#p.alerts.emit(cfg.account_id, seams.now());
    // Deliveries left waiting are written pending: all of them when nothing sends soon (a retry, a pause, the webhook
    // off), else those that have waited HOLD_MS.
    if (cfg && !cfg.deleted) {
      const wake = this.nextWake();
      await journal.writePending(cfg, wake === null || wake > seams.now() + HOLD_MS, seams.now());
    }
    // A backstop this run set is not left to fire for nothing.
    await this.arm({ force: true, clear: !byAlarm && backstop });
  }

  /** Until one of the sends has its outcome, or a hand-off comes in. */
  #nextChange(sending: Set<Promise<void>>): Promise<void> {
    const handedOff = new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
    return Promise.race([...sending, handedOff]).finally(() => {
      this.#wake = null;
    });
  }

  /** Closes every waiting row past its ttl_s (or held past the retention) as expired, a page at a time. */
  #expire(cfg: QueueConfig, now: number): void {
    for (;;) {
      const rows = expiredRows(this.#p.store, now, PAGE);
      // A held row's expiry may be the retention's, not its ttl_s (src/delivery/held.ts says which).
      const byReason = Map.groupBy(rows, (r) => this.#p.held.expiryReason(cfg, r));
      for (const [reason, group] of byReason) this.#p.journal.close(cfg, group, "expired", reason, now);
      if (rows.length < PAGE) return;
    }
  }

  /** The earliest time anything here needs the alarm: a due unit, a batch's wait, a pause, an expiry, the outbox. */
  nextWake(): number | null {
    const { store, journal, pacing, seams } = this.#p;
    const cfg = this.#p.config();
    let next: number | null = journal.outbox > 0 ? seams.now() + OUTBOX_RETRY_MS : null;
    const consider = (t: number | null) => {
      if (t !== null && (next === null || t < next)) next = t;
    };
    if (cfg && !cfg.deleted) {
      if (cfg.active) {
        const due = nextDue(store, cfg);
        consider(due === null ? null : pacing.notBefore(cfg, due));
      }
      // A row's ttl_s may end while it waits (behind a failing head, or held while the webhook is off).
      consider(nextExpiry(store));
    }
    // An alert due (a gathered dead-letter report, an emission to try again).
    consider(this.#p.alerts.nextWake());
    return next;
  }

  /**
   * Sets the alarm to the earliest wake-up. An earlier alarm is never pushed later, unless `force` (at the end of a
   * run, whose own alarm is spent). With nothing to wake for, an alarm already set is left to fire and find nothing
   * (cheaper than deleting it) unless `clear` asks for it to go.
   */
  async arm(opts: { force?: boolean; clear?: boolean } = {}): Promise<void> {
    const { alarm } = this.#p.seams;
    const wake = this.nextWake();
    if (wake === null) {
      if (opts.clear && (await alarm.get()) !== null) await alarm.clear();
      return;
    }
    if (!opts.force) {
      const current = await alarm.get();
      if (current !== null && current <= wake) return;
    }
    await alarm.set(wake);
  }

  /** Sets the alarm as a backstop for a run that has fallen behind (unless an earlier one is set). */
  async #backstop(now: number): Promise<void> {
    const { alarm } = this.#p.seams;
    const at = now + BACKSTOP_MS;
    const current = await alarm.get();
    if (current === null || current > at) await alarm.set(at);
  }
}

/** Whether the units about to go include a delivery due BACKSTOP_AFTER_MS ago or more: the queue is behind. */
function behind(units: Unit[], now: number): boolean {
  return units.some((u) => u.rows.some((r) => r.next_at <= now - BACKSTOP_AFTER_MS));
}
