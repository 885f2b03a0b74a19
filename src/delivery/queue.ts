import { DurableObject } from "cloudflare:workers";
import type { Env } from "../config";
import type { QueueConfig } from "../webhooks/types";
import { Alerts } from "./alerts";
import type { Parts } from "./attempt";
import type { HeldChoice, QueueHealth, QueueItem, QueueRpc, QueueStatus, TestResult } from "./contract";
import { sendToDestination } from "./destination";
import { Health } from "./health";
import { Held } from "./held";
import { Journal } from "./journal";
import { logStatements } from "./log";
import { readMeta, writeMeta } from "./meta";
import { attemptLog, failureReason } from "./outcome";
import { Pacing } from "./pacing";
import { Requests } from "./request";
import type { Row } from "./rows";
import { Scheduler } from "./scheduler";
import { type LogSink, productionSeams, type Seams, shardSink } from "./seams";
import { QueueStore } from "./store";

/**
 * One webhook's delivery queue: the only code that talks to receivers. A thin shell: it builds the parts from its
 * storage and seams, and each RPC method delegates to them.
 *
 * - store (store.ts): the queued rows and their states — start there.
 * - lines (lines.ts): which rows are due, per ordering mode, and batches.
 * - pacing (pacing.ts), request building (request.ts), outcome (outcome.ts, pure), one attempt (attempt.ts).
 * - journal (journal.ts): how the log reaches D1, and the outbox.
 * - scheduler (scheduler.ts): runs and the alarm.
 */
export class WebhookQueue extends DurableObject<Env> implements QueueRpc {
  /** Where a queue gets its clock, alarm, network and log; tests put their own here (test/support/worker.ts). */
  static seams: (ctx: DurableObjectState, env: Env) => Seams = productionSeams;

  readonly #p: Parts;
  readonly #scheduler: Scheduler;
  readonly #log: LogSink;
  #cfg: QueueConfig | null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const seams = (this.constructor as typeof WebhookQueue).seams(ctx, env);
    const store = new QueueStore(seams.sql);
    this.#cfg = readMeta<QueueConfig>(seams.sql, "config");
    // The log goes to the webhook's log shard, which its configuration names (shard 0, the main database, before one).
    this.#log = shardSink(seams.log, () => this.#cfg?.log_shard ?? 0);
    const journal = new Journal(seams.sql, store, this.#log);
    const health = new Health(seams.sql);
    this.#p = {
      seams,
      store,
      journal,
      pacing: new Pacing(seams.sql),
      requests: new Requests(seams.settings),
      health,
      alerts: new Alerts(seams.sql, health, seams.settings, seams.emit),
      held: new Held(seams.sql, store, journal, seams.settings),
      config: () => this.#cfg,
      saveConfig: (cfg) => this.#save(cfg),
    };
    this.#scheduler = new Scheduler(this.#p);
  }

  async configure(cfg: QueueConfig): Promise<void> {
    const previous = this.#cfg;
    if (previous && previous.updated_at > cfg.updated_at) return;
    const { store, journal, health, alerts, held, seams } = this.#p;
    // What was sent goes done first, so that a delete or a re-key sees only what is still owed.
    await journal.flush();
    this.#save(cfg);
    if (cfg.deleted) {
      // The route cancels the deliveries D1 has; the queue writes those D1 has not heard of yet as cancelled, and lets
      // go of its rows. The alarm stays only while the outbox holds log entries: those attempts happened.
      journal.closeUnlogged(cfg, "cancelled", seams.now());
      store.clear();
      await this.#scheduler.arm({ force: true, clear: true });
      return;
    }
    const rekeyed = previous !== null && (previous.ordering !== cfg.ordering || previous.ordering_key !== cfg.ordering_key);
    if (rekeyed) store.rekey(cfg);
    // Coming back, the failing clock starts again.
    if (cfg.active && previous && !previous.active) health.restart();
    // A person turned it off (a disable of the queue's own is saved without configure): say so, and hold.
    const wentOff = previous?.active === true && !cfg.active;
    if (wentOff) {
      held.wentOff(cfg, seams.now());
      alerts.disabledByPerson(cfg, store.owed().count, seams.now());
    }
    if (wentOff || (cfg.active && previous && (!previous.active || rekeyed))) {
      // What was held goes out; a new ordering may have freed lines; an alert is owed.
      this.#scheduler.kick();
    } else {
      // Going inactive drops an alarm that would only find nothing to send.
      await this.#scheduler.arm({ force: !cfg.active, clear: !cfg.active });
    }
  }

  async enqueue(cfg: QueueConfig, items: QueueItem[]): Promise<{ accepted: number }> {
    const c = await this.#adopt(cfg);
    if (c.deleted) return { accepted: 0 };
    const { store, journal, seams } = this.#p;
    // A re-hand-off (a repeated ingest, the sweepers) is built from D1 showing the delivery pending or not at all. A
    // delivery this queue holds, owed or done, is known here; one that left it went done only after its log was safe,
    // in D1 or in the outbox — so what neither holds is asked of D1, after what is here was looked at.
    const rehanded = items.filter((it) => !it.fresh).map((it) => it.delivery_id);
    const known = store.present(rehanded);
    for (const id of rehanded) if (journal.inOutbox(id)) known.add(id);
    const unknown = rehanded.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      try {
        for (const id of await this.#log.finished(c.webhook_id, unknown)) known.add(id);
      } catch (err) {
        // At worst the delivery is sent once more (at least once), never lost.
        console.error("could not check a re-hand-off against the log", err instanceof Error ? err.message : String(err));
      }
      // Another hand-off of the same delivery may have come in while D1 answered.
      for (const id of store.present(unknown)) known.add(id);
    }
    let accepted = 0;
    const now = seams.now();
    for (const item of items) {
      if (!item.fresh && known.has(item.delivery_id)) continue;
      known.add(item.delivery_id);
      // Held while the webhook is off, a delivery expires within the retention too.
      const expiresAt = !c.active ? this.#p.held.expiresAt(c, item.created_at) : c.ttl_s ? item.created_at + c.ttl_s * 1000 : null;
      journal.handed(store.add(c, item, { nextAt: item.created_at, expiresAt, attempts: 0 }), now);
      accepted++;
    }
    // And it keeps at most MAX_HELD_PER_WEBHOOK, the oldest expiring first.
    if (!c.active) this.#p.held.trim(c, now);
    // Held deliveries (the webhook is off) are written pending at once: nothing will send them soon. The run still
    // starts, for what has expired and for the alarm.
    if (!c.active) await journal.writePending(c, true, now);
    this.#scheduler.kick();
    return { accepted };
  }

  async redeliver(cfg: QueueConfig, items: QueueItem[]): Promise<{ requeued: number }> {
    const c = await this.#adopt(cfg);
    if (c.deleted) return { requeued: 0 };
    const { store, journal, seams } = this.#p;
    // A delivery sent a moment ago and not yet logged is finished, not waiting: it must go done before it reopens.
    await journal.flush();
    const now = seams.now();
    for (const item of items) {
      store.reopen(c, item, now);
      journal.record([
        {
          sql: "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE webhook_id = ? AND id = ?",
          params: [now, now, c.webhook_id, item.delivery_id],
        },
      ]);
    }
    await journal.flush();
    this.#scheduler.kick();
    return { requeued: items.length };
  }

  async releaseHeld(cfg: QueueConfig, choice: HeldChoice): Promise<{ discarded: number }> {
    const c = await this.#adopt(cfg);
    // Only a queue that is off holds anything: the route asks before it enables the webhook.
    if (choice !== "discard" || c.active || c.deleted) return { discarded: 0 };
    const { journal, held, seams } = this.#p;
    await journal.flush();
    const discarded = held.discard(c, seams.now());
    // The cancellations reach D1 now; if it refuses, they wait in the outbox and the alarm empties it.
    if (!(await journal.flush())) await this.#scheduler.arm();
    return { discarded };
  }

  async health(): Promise<QueueHealth> {
    const { store, health, held } = this.#p;
    const s = health.state;
    const off = this.#cfg !== null && !this.#cfg.active && !this.#cfg.deleted;
    return {
      failing_since: s.since,
      consecutive_failures: s.failures,
      last_status_code: s.lastStatusCode,
      last_error: s.lastError,
      held: off ? store.owed().count : null,
      held_expired: off ? held.expired : 0,
    };
  }

  async reserveTest(cfg: QueueConfig): Promise<number> {
    const c = await this.#adopt(cfg);
    return this.#p.pacing.reserveTest(c, this.#p.seams.now());
  }

  async sendTest(cfg: QueueConfig, item: QueueItem): Promise<TestResult> {
    const c = await this.#adopt(cfg);
    const { journal, requests, seams } = this.#p;
    const now = seams.now();
    const row: Row = {
      seq: 0,
      delivery_id: item.delivery_id,
      event_id: item.event_id,
      event_type: item.event_type,
      payload: item.payload,
      order_key: "",
      attempts: 0,
      next_at: now,
      created_at: item.created_at,
      expires_at: null,
      batch_id: null,
    };
    const built = await requests.build(c, { rows: [row], batchId: null }, now);
    const sent = await sendToDestination(seams, c, built.request);
    const ok = sent.result.status !== undefined && sent.result.status >= 200 && sent.result.status < 300;
    journal.record(
      logStatements({
        webhookId: c.webhook_id,
        accountId: c.account_id,
        deliveries: [row],
        attempt: attemptLog(sent, 1, built.logHeaders, built.logBody),
        outcome: ok ? { kind: "delivered" } : { kind: "give-up", reason: failureReason(sent) },
      }),
    );
    // If D1 refuses the log it waits in the outbox, and only an alarm empties that.
    if (!(await journal.flush())) await this.#scheduler.arm();
    return {
      ok,
      status_code: sent.result.status ?? null,
      duration_ms: sent.durationMs,
      response_body: sent.responseBody,
      error: sent.result.error ?? null,
    };
  }

  async status(): Promise<QueueStatus> {
    const { store, journal, pacing, health, seams } = this.#p;
    const owed = store.owed();
    const now = seams.now();
    const wake = this.#scheduler.nextWake();
    return {
      queued: owed.count,
      oldest_at: owed.oldest,
      next_attempt_at: owed.count > 0 && this.#cfg?.active ? wake : null,
      last_sequence: store.last,
      outbox: journal.outbox,
      alarm: await seams.alarm.get(),
      active: this.#cfg ? this.#cfg.active && !this.#cfg.deleted : null,
      paused_until: pacing.pausedUntil > now ? pacing.pausedUntil : null,
      failing_since: health.failingSince,
    };
  }

  async retryNow(): Promise<{ due: number }> {
    const c = this.#cfg;
    // Held deliveries (the webhook is off) stay held: only enabling it sends them.
    if (!c || c.deleted || !c.active) return { due: 0 };
    const due = this.#p.store.dueNow(this.#p.seams.now());
    this.#scheduler.kick();
    return { due };
  }

  async sweep(): Promise<void> {
    await this.#p.journal.flush();
    this.#scheduler.kick();
    await this.#scheduler.arm({ force: true, clear: true });
  }

  async alarm(): Promise<void> {
    await this.#scheduler.alarm();
  }

  /** Takes a configuration handed along with work if it is newer than ours (self-healing if a configure was lost). */
  async #adopt(cfg: QueueConfig): Promise<QueueConfig> {
    if (!this.#cfg || this.#cfg.updated_at < cfg.updated_at) await this.configure(cfg);
    return this.#cfg!;
  }

  #save(cfg: QueueConfig): void {
    writeMeta(this.#p.seams.sql, "config", cfg);
    this.#cfg = cfg;
  }
}
