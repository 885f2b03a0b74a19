import { DurableObject } from "cloudflare:workers";
import { config, type Env } from "../config";
import { newId } from "../ids";
import { decryptSecret, type SigningKey, signatureHeader } from "../signing";
import { IN_LIST_MAX, inLists } from "../sql";
import { maskHeaders, openHeaders } from "../webhooks/headers";
import { destinationOptions, sendChecked } from "../webhooks/resolve";
import type { QueueConfig } from "../webhooks/store";
import { TestThrottle } from "../webhooks/test-throttle";
import { type AttemptLog, closedStatement, type LogStatement, logStatements, pendingStatement, prepared } from "./log";
import { classifyAttempt, type Outcome } from "./retry";
import type { OutgoingRequest, SentAttempt } from "./send";
import { toSlackMessage } from "./slack";

/** One delivery handed to a webhook's queue: the event's payload as this webhook receives it (already redacted). */
export interface QueueItem {
  delivery_id: string;
  event_id: string;
  event_type: string;
  /** The JSON payload, exactly as it will be signed and sent. */
  payload: string;
  /** When the event was accepted (ms): the start of its end-to-end latency and of its ttl. */
  created_at: number;
  /** Attempts already made (a redelivery continues the numbering, so every attempt keeps its own log record). */
  attempt_count?: number;
  /** The x-broxiai-sequence it was first sent with: a redelivery of a finished delivery goes out under it again. */
  sequence?: number;
  /** Made by this very ingest (its id is new), so no queue can hold it yet: enqueue skips looking it up. */
  fresh?: boolean;
}

/** The answer to a synchronous test send. */
export interface TestResult {
  ok: boolean;
  status_code: number | null;
  duration_ms: number;
  response_body: string | null;
  error: string | null;
}

interface Row extends Record<string, SqlStorageValue> {
  seq: number;
  delivery_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  order_key: string;
  attempts: number;
  next_at: number;
  created_at: number;
  expires_at: number | null;
  batch_id: string | null;
}

/** A unit of sending: one delivery, or a batch of them that travels as one request. */
interface Unit {
  rows: Row[];
  batchId: string | null;
}

/** Deliveries the receiver took whose log is not in D1 yet: their rows stay (and are not sent) until it is. */
interface Sent {
  seqs: number[];
  ids: string[];
  statements: LogStatement[];
  size: number;
}

export const VERSION = "0.1.0";
export const USER_AGENT = `BroxiAI-Webhooks/${VERSION}`;
/** Workers allow six simultaneous outbound connections per invocation; more would only queue inside the runtime. */
const MAX_CONCURRENCY = 6;
/** One run sends for at most this long, then re-arms the alarm, so a huge backlog never pins one invocation. */
const RUN_BUDGET_MS = 25_000;
/**
 * …and makes at most about this many subrequests (sends and D1 batches): an invocation may make 1,000 on older
 * paid plans (10,000 today), and a run that hit the limit would throw in the middle of a wave.
 */
const RUN_SUBREQUESTS = 900;
/** During a run the log is written to D1 once this many deliveries wait for it, or this often. */
const LOG_FLUSH_ROWS = 20;
const LOG_FLUSH_MS = 1000;
/** When D1 refuses the log, the outbox is retried after this long. */
const OUTBOX_RETRY_MS = 15_000;
/**
 * A run started by a hand-off (not by the alarm) that is about to send a delivery due BACKSTOP_AFTER_MS ago or more
 * — a backlog: a slow or throttled receiver, a stream faster than it, rows a wake-up found — sets the alarm
 * BACKSTOP_MS ahead, so a process that dies mid-backlog resumes by itself (a healthy run ends within its budget and
 * re-arms first). A run that keeps up sets none, however long a stream keeps it going: a process that dies during
 * one leaves only what it had in flight, to the stream's next hand-off or, at worst, the cron sweeper.
 */
const BACKSTOP_AFTER_MS = 2_000;
const BACKSTOP_MS = 30_000;
/** Rows settled (expired) per statement, so one run never holds a huge result in memory. */
const PAGE = 500;
/** Request bodies are logged up to this size (a batch's body is logged once per delivery, so it gets a share of it). */
export const REQUEST_BODY_LOG_BYTES = 256 * 1024;
/** D1 log batches and outbox rows are cut to about this many characters: a DO SQLite row stops at 2 MB. */
const LOG_CHUNK_CHARS = 1_000_000;

/**
 * Done rows kept for reuse (see SCHEMA) at most; more are deleted, the lowest first. Enough for the depth a queue
 * reaches under a steady load, or a batch ingest of 100 events two at a time, to take over rows instead of inserting
 * new ones that are deleted later (the benchmark's load peaked near 240).
 */
const MAX_SPARES = 500;
/** Rows still to be sent: above #floor (see #unsentArgs), and neither sent nor a spare. */
const UNSENT = "seq > ? AND seq NOT IN (SELECT value FROM json_each(?))";
/**
 * A delivery still queued this long after its hand-off is written to D1 as pending (D1 otherwise first hears of a
 * delivery at its outcome): see #logHeld.
 */
const HOLD_MS = 2_000;
/** Rows settled against D1 per question after a wake-up (with the highest row, one bound list). */
const SETTLE_PAGE = IN_LIST_MAX - 1;

/**
 * The queue holds deliveries still to be made (and, for a moment, ones sent whose log has not reached D1), plus
 * spares: a row that is done (delivered and logged, given up, expired) is not deleted but kept, skipped like a sent
 * row, and the next insert takes it over — one UPDATE that gives it the new sequence and delivery, where an insert
 * and a delete would be two rows written. The highest row, done, is always kept: the next sequence is the highest
 * + 1, so the numbering goes on with no counter to write. Strict ordering — the default — reads the table in `seq`
 * order and writes no index at all: a delivery costs one row written here. Key and none ordering keep a `head` flag
 * per line, in partial indexes that strict rows (order key '') never enter; ttl and batches have partial indexes of
 * their own.
 *
 * Spares lie below every row still to be sent (but the highest, which may be one): a done row above one is deleted
 * instead (#keepSparesLow). Storage cannot tell a spare from a delivery still to make, so after a wake-up the
 * rows are settled against D1 from the lowest up, and the first that D1 shows pending ends the done ones
 * (#settleUnsure).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS queue (
  seq INTEGER PRIMARY KEY,
  delivery_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  order_key TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  batch_id TEXT,
  head INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_line ON queue(order_key, seq) WHERE order_key <> '';
CREATE INDEX IF NOT EXISTS queue_ready ON queue(next_at, seq) WHERE head = 1;
CREATE INDEX IF NOT EXISTS queue_expiry ON queue(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS queue_batch ON queue(batch_id) WHERE batch_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, statements TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * Brings a queue stored by an earlier version up to the current schema. Version 1 kept finished rows (state 'done')
 * and indexed every row four ways; version 2 kept the same table with a head flag added later; version 3 numbered
 * rows with AUTOINCREMENT, whose counter was one more row written per insert. The queued rows are copied, keeping
 * their sequence numbers, and the highest number ever used is kept by a placeholder row (empty delivery id) when
 * no copied row holds it, so no number is used twice.
 */
export function upgradeQueueSchema(sql: SqlStorage): void {
  const old = sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'queue'").toArray()[0];
  if (!old || !/\bAUTOINCREMENT\b/i.test(old.sql)) return;
  const v1 = /\bstate\b/.test(old.sql);
  const hasHead = /\bhead\b/.test(old.sql);
  // Keys of key ordering now carry a prefix (an event without the key used to share strict's '').
  const cfg = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'config'").toArray()[0];
  const keyed = v1 && cfg ? (JSON.parse(cfg.value) as QueueConfig).ordering === "key" : false;
  const counter = sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").toArray()[0]?.seq ?? null;
  const top = sql.exec<{ s: number | null }>("SELECT max(seq) AS s FROM queue").one().s;
  const last = counter === null ? top : top === null ? counter : Math.max(counter, top);
  for (const index of ["queue_heads", "queue_due", "queue_line", "queue_expiry", "queue_batch", "queue_ready", "queue_head_of"]) {
    sql.exec(`DROP INDEX IF EXISTS ${index}`);
  }
  sql.exec("ALTER TABLE queue RENAME TO queue_old");
  sql.exec(SCHEMA);
  sql.exec(
    `INSERT INTO queue (seq, delivery_id, event_id, event_type, payload, order_key, attempts, next_at, created_at, expires_at, batch_id, head)
     SELECT seq, delivery_id, event_id, event_type, payload, ${keyed ? "'k:' || order_key" : "order_key"}, attempts, next_at, created_at, expires_at, batch_id,
       ${hasHead ? "head" : "0"}
     FROM queue_old ${v1 ? "WHERE state = 'queued'" : ""}`,
  );
  if (last !== null && sql.exec("SELECT 1 FROM queue WHERE seq = ?", last).toArray().length === 0) {
    sql.exec("INSERT INTO queue (seq, delivery_id, event_id, event_type, payload, next_at, created_at) VALUES (?, '', '', '', '', 0, 0)", last);
  }
  sql.exec("DROP TABLE queue_old");
  recomputeHeads(sql);
}

/**
 * Sets every head from scratch: the lowest sequence of each keyed line (strict rows, key '', have none). Rows in
 * `skip` (sent, or spares; a JSON array of sequences) are in no line.
 */
function recomputeHeads(sql: SqlStorage, skip = "[]"): void {
  // Only rows whose flag changes are written, so a queue that is already right costs reads only.
  const heads = "SELECT min(seq) FROM queue WHERE order_key <> '' AND seq NOT IN (SELECT value FROM json_each(?1)) GROUP BY order_key";
  sql.exec(`UPDATE queue SET head = 0 WHERE head = 1 AND (order_key = '' OR seq NOT IN (${heads}))`, skip);
  sql.exec(`UPDATE queue SET head = 1 WHERE head = 0 AND seq IN (${heads})`, skip);
}

/**
 * One webhook's delivery queue. It is the only code that talks to receivers.
 *
 * Sending: a hand-off (`enqueue`) that finds the webhook idle sends at once, in the same invocation; the alarm is
 * for retries, waits (batches, pauses, rate limits) and long backlogs. Tests set ALARM_MIN_DELAY_MS and drive every
 * send through the alarm instead.
 *
 * Ordering: every queued delivery has an `order_key`; `strict` gives every row '' and sends the lowest sequence;
 * `key` gives the value at `ordering_key`, and a row is sent only when it is its line's `head` (a flag kept on the
 * lowest unsent sequence of each key); `none` a random key per row (every row its own line). Due times live in
 * SQLite and the alarm is always set to the earliest one, so nothing depends on memory surviving an eviction.
 *
 * Logging: a delivery the receiver took stays in the queue, marked sent in memory, until its log is in D1; then
 * the row becomes a spare (see SCHEMA). If the process dies first the row is still there
 * and is sent again (at least once; the receiver deduplicates on webhook-id), so no delivery goes unlogged. Every
 * other outcome (a failure, a retry, an expiry) is written to the object's outbox together with the state change it
 * records, and reaches D1 from there, in order, whenever D1 takes it. Delivery never waits on D1.
 */
export class WebhookQueue extends DurableObject<Env> {
  #sql: SqlStorage;
  #cfg: QueueConfig | null | undefined;
  #keys: { sealed: string; keys: SigningKey[] } | null = null;
  #tokens = 0;
  #tokensAt = 0;
  /** Issue 17: the test route's own rate, per webhook (in memory: an eviction only refills it). */
  #testThrottle = new TestThrottle();
  #outboxCount = 0;
  #sent: Sent[] = [];
  #sentSeqs = new Set<number>();
  /** Done rows kept for the next inserts to take over (see SCHEMA); each is in #sentSeqs too, so it is skipped. */
  #spares = new Set<number>();
  /**
   * After a wake-up, the highest row then: it and the rows below it may be spares the last process left, or
   * deliveries still to make. Storage cannot tell, so the first run asks D1 (#settleUnsure); until then, and if D1
   * cannot answer, they are deliveries to make (at least once, never dropped).
   */
  #unsureTop: number | null = null;
  #settling: Promise<void> | null = null;
  /**
   * The highest sequence in the table (a spare's, when the queue is done), or null when it is empty; kept here, since
   * rows are only added above it, or all deleted.
   */
  #top: number | null = null;
  /** Every row at or below this sequence is sent or a spare: statements looking for rows to send start above it. */
  #floor = Number.MIN_SAFE_INTEGER;
  /**
   * Queued rows that D1 may not have yet, with when they were handed over (0: unknown, after a wake-up). A delivery
   * reaches D1 with its outcome; one that waits instead is written pending (#logHeld).
   */
  #unlogged = new Map<number, number>();
  /** Delivery ids whose rows left the queue in the last minute, with when: see enqueue(). */
  #finished = new Map<string, number>();
  #running: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      upgradeQueueSchema(this.#sql);
      this.#sql.exec(SCHEMA);
      // Heads moved past sent rows in memory; if the process died before their log reached D1, those rows are still
      // here, unsent as far as storage knows, and must lead their lines again.
      recomputeHeads(this.#sql);
      this.#outboxCount = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
      const top = this.#sql.exec<{ seq: number; delivery_id: string }>("SELECT seq, delivery_id FROM queue ORDER BY seq DESC LIMIT 1").toArray()[0];
      this.#top = top?.seq ?? null;
      // An upgrade's placeholder has no delivery, so it is done; everything else is settled against D1 by the first run.
      if (top?.delivery_id === "") this.#dropDone([top.seq]);
      if (top) this.#unsureTop = top.seq;
    });
  }

  /** Stores the webhook's settings (newer wins) and applies what changed: held deliveries resume, deletes cancel. */
  async configure(cfg: QueueConfig): Promise<void> {
    const previous = this.#config();
    if (previous && previous.updated_at > cfg.updated_at) return;
    await this.#flushLog();
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('config', ?)", JSON.stringify(cfg));
    this.#cfg = cfg;
    if (cfg.deleted) {
      // The route marks the D1 rows cancelled in the same request; here the queue lets go of them, and writes
      // those D1 may not have yet as cancelled too. The alarm stays only if the outbox still holds log entries:
      // those attempts happened and must reach D1.
      const now = Date.now();
      for (const rows of this.#rowPages([...this.#unlogged.keys()])) {
        this.#log(rows.map((r) => closedStatement(cfg.webhook_id, cfg.account_id, r, "cancelled", null, now)));
      }
      this.#unlogged.clear();
      this.#sql.exec("DELETE FROM queue");
      this.#sentSeqs.clear();
      this.#spares.clear();
      this.#unsureTop = null;
      this.#top = null;
      this.#floor = Number.MIN_SAFE_INTEGER;
      await this.#arm({ force: true, clear: true });
      return;
    }
    if (!previous || previous.ordering !== cfg.ordering || previous.ordering_key !== cfg.ordering_key) {
      this.#sql.exec(`UPDATE queue SET order_key = ${orderKeyExpr(cfg)}`, ...orderKeyArgs(cfg));
      recomputeHeads(this.#sql, this.#sentJson());
    }
    if (cfg.active && previous && !previous.active) this.#sql.exec("DELETE FROM meta WHERE key = 'failing_since'");
    // Going inactive drops an alarm that would only find nothing to send; coming back sends what was held.
    if (cfg.active && previous && !previous.active) await this.#sendOrArm();
    else await this.#arm({ force: !cfg.active, clear: !cfg.active });
  }

  /**
   * Accepts deliveries. Idempotent on delivery id: a repeated hand-off (the platform re-sending an event, or the
   * sweeper re-enqueueing what D1 still shows pending) changes nothing for a delivery still queued here.
   * Returns once the rows are durable in this object's storage; an idle webhook starts sending them at once.
   */
  async enqueue(cfg: QueueConfig, items: QueueItem[]): Promise<{ accepted: number }> {
    const c = await this.#adopt(cfg);
    if (c.deleted) return { accepted: 0 };
    // A re-hand-off (a repeated ingest, the sweepers: up to 200 at once) is built from D1 showing the delivery
    // pending or not at all, which may be out of date: the delivery may have been sent and logged since, and its
    // row become a spare and been taken over. So D1 is asked again here, after any of our own log writes (a row
    // becomes a spare only once its log is in D1); a row that does so while we wait for the answer is in #finished.
    // Only then is the queue looked at — in one pass, rather than through a unique index, which would cost a row
    // written on every insert and delete.
    const known = new Set<string>();
    const handedBefore = items.filter((it) => !it.fresh);
    for (const id of (await this.#finishedInLog(handedBefore.map((it) => it.delivery_id))) ?? []) known.add(id);
    for (const it of handedBefore) if (this.#finished.has(it.delivery_id)) known.add(it.delivery_id);
    for (const { items: ids, marks } of inLists(handedBefore.map((it) => it.delivery_id))) {
      for (const r of this.#sql.exec<{ delivery_id: string }>(`SELECT delivery_id FROM queue WHERE delivery_id IN (${marks})`, ...ids))
        known.add(r.delivery_id);
    }
    let accepted = 0;
    for (const item of items) {
      if (!item.fresh && (known.has(item.delivery_id) || this.#awaitsLog(item.delivery_id))) continue;
      known.add(item.delivery_id);
      const seq = this.#insert(c, item, { nextAt: item.created_at, expiresAt: c.ttl_s ? item.created_at + c.ttl_s * 1000 : null, attempts: 0 });
      this.#unlogged.set(seq, Date.now());
      accepted++;
    }
    // Deliveries that will not be sent now (the alarm sends them, or the webhook is off) are written pending now.
    if (!this.#sendsAtOnce() || !c.active) await this.#logHeld(true);
    await this.#sendOrArm();
    return { accepted };
  }

  /**
   * Redelivers now: a pending delivery skips its backoff, a finished one (failed, delivered, expired) is queued
   * again with the sequence number it was first sent with (when the caller knows it), so the receiver can tell it
   * is the same event.
   */
  async redeliver(cfg: QueueConfig, items: QueueItem[]): Promise<{ requeued: number }> {
    const c = await this.#adopt(cfg);
    if (c.deleted) return { requeued: 0 };
    // A delivery sent a moment ago and not yet logged is finished, not pending: its row must go first. Rows a
    // wake-up left unsure are settled, so that a spare is known for what it is.
    if (await this.#flushLog()) await this.#settleUnsure();
    const now = Date.now();
    let requeued = 0;
    for (const item of items) {
      const existing = this.#sql.exec<{ seq: number }>("SELECT seq FROM queue WHERE delivery_id = ?", item.delivery_id).toArray()[0];
      if (existing && this.#spares.has(existing.seq)) {
        // A spare is this very delivery, done: it goes out again under its own number, continuing its attempt numbering.
        this.#spares.delete(existing.seq);
        this.#sentSeqs.delete(existing.seq);
        const { order_key } = this.#sql
          .exec<{ order_key: string }>(
            "UPDATE queue SET next_at = ?, expires_at = NULL, batch_id = NULL, attempts = max(attempts, ?) WHERE seq = ? RETURNING order_key",
            now,
            item.attempt_count ?? 0,
            existing.seq,
          )
          .one();
        this.#reopenedAt(existing.seq);
        this.#rehead(order_key);
      } else if (existing) {
        this.#sql.exec("UPDATE queue SET next_at = ? WHERE seq = ?", now, existing.seq);
      } else {
        const taken = item.sequence !== undefined && this.#sql.exec("SELECT 1 FROM queue WHERE seq = ?", item.sequence).toArray().length > 0;
        this.#insert(c, { ...item, sequence: taken ? undefined : item.sequence }, { nextAt: now, expiresAt: null, attempts: item.attempt_count ?? 0 });
      }
      this.#log([
        {
          sql: "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE webhook_id = ? AND id = ?",
          params: [now, now, c.webhook_id, item.delivery_id],
        },
      ]);
      requeued++;
    }
    await this.#flushLog();
    await this.#sendOrArm();
    return { requeued };
  }

  /**
   * Issue 17: whether a test send may go now: the test route's documented rate, and the webhook's rate_limit_per_s,
   * which test sends share with deliveries. Answers the milliseconds to wait; 0 means go, and both are taken.
   */
  async reserveTest(cfg: QueueConfig): Promise<number> {
    const c = await this.#adopt(cfg);
    const now = Date.now();
    const wait = this.#testThrottle.wait(now);
    if (wait > 0) return wait;
    if (this.#takeTokens(c, 1) < 1) return Math.ceil(((1 - this.#tokens) * 1000) / (c.rate_limit_per_s ?? 1));
    this.#testThrottle.take(now);
    return 0;
  }

  /** Sends one event now, outside the queue, and answers what the receiver said (the test route). Logged too. */
  async sendTest(cfg: QueueConfig, item: QueueItem): Promise<TestResult> {
    const c = await this.#adopt(cfg);
    const row: Row = {
      delivery_id: item.delivery_id,
      event_id: item.event_id,
      event_type: item.event_type,
      payload: item.payload,
      created_at: item.created_at,
      seq: 0,
      order_key: "",
      attempts: 0,
      next_at: Date.now(),
      expires_at: null,
      batch_id: null,
    };
    const sent = await this.#send(c, { rows: [row], batchId: null });
    const ok = sent.sent.result.status !== undefined && sent.sent.result.status >= 200 && sent.sent.result.status < 300;
    this.#log(
      logStatements({
        webhookId: c.webhook_id,
        accountId: c.account_id,
        deliveries: [row],
        attempt: sent.attempt,
        outcome: ok ? { kind: "delivered" } : { kind: "give-up", reason: failureReason(sent.sent) },
      }),
    );
    await this.#flushLog();
    // If D1 refused the log it waits in the outbox, and only an alarm empties that.
    if (this.#outboxCount > 0) await this.#arm();
    return {
      ok,
      status_code: sent.sent.result.status ?? null,
      duration_ms: sent.sent.durationMs,
      response_body: sent.sent.responseBody,
      error: sent.sent.result.error ?? null,
    };
  }

  /**
   * What the queue holds now (for the sweeper, the stats and tests): `queued` counts deliveries still to make;
   * `spares` the done rows kept for reuse, `placeholder` the highest row when it is one of them (it holds the numbering).
   */
  async status(): Promise<{ queued: number; spares: number[]; outbox: number; alarm: number | null; active: boolean | null; placeholder: number | null }> {
    if (await this.#flushLog()) await this.#settleUnsure();
    const queued = this.#sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM queue WHERE seq NOT IN (SELECT value FROM json_each(?))", JSON.stringify([...this.#spares]))
      .one().n;
    const top = this.#top;
    return {
      queued,
      spares: [...this.#spares].sort((a, b) => a - b),
      outbox: this.#outboxCount,
      alarm: await this.ctx.storage.getAlarm(),
      active: this.#config()?.active ?? null,
      placeholder: top !== null && this.#spares.has(top) ? top : null,
    };
  }

  /** Makes sure whatever is due gets sent (the cron sweeper calls this so nothing is forgotten). */
  async sweep(): Promise<void> {
    await this.#flushLog();
    if (this.#sendsAtOnce()) this.#kick();
    await this.#arm({ force: true, clear: true });
  }

  /** Sends whatever is due. Never throws for a delivery failure. */
  async alarm(): Promise<void> {
    // A run started by a hand-off may still be going (the alarm was its backstop): it re-arms when it ends.
    if (this.#running) {
      await this.#running;
      return;
    }
    await this.#serialRun(true);
  }

  /** Starts a run in this invocation unless one is going (which picks up new rows before it ends). */
  #kick(): void {
    if (this.#running) return;
    const run = this.#serialRun(false);
    this.ctx.waitUntil(run);
  }

  #serialRun(byAlarm: boolean): Promise<void> {
    const run = this.#run(byAlarm).finally(() => {
      this.#running = null;
    });
    this.#running = run;
    return run;
  }

  /** What new work gets: a run now (production), or the alarm (tests, ALARM_MIN_DELAY_MS > 0). */
  async #sendOrArm(): Promise<void> {
    if (this.#sendsAtOnce()) this.#kick();
    else await this.#arm();
  }

  /** Whether a hand-off sends at once (production) or leaves every send to the alarm (tests, ALARM_MIN_DELAY_MS > 0). */
  #sendsAtOnce(): boolean {
    return config(this.env).ALARM_MIN_DELAY_MS === 0;
  }

  /** Wave after wave until nothing is due or the run's budget is spent; the log goes to D1 a page (or a second) at a time. */
  async #run(byAlarm: boolean): Promise<void> {
    // Once D1 has refused the log in this run, the run stops asking it: sends go on, the outbox waits.
    let logging = await this.#flushLog();
    // With the outbox written, D1 knows every outcome this object recorded: it can settle the rows left unsure.
    // Otherwise they are deliveries to make.
    await this.#settleUnsure(logging);
    const started = Date.now();
    // Expiry runs whether or not the webhook is active: a held event past its ttl_s is as useless as any other.
    if (this.#config() && !this.#config()!.deleted) this.#expire(started);
    let subrequests = 0;
    let flushedAt = started;
    let backstop = byAlarm;
    while (Date.now() - started < RUN_BUDGET_MS && subrequests < RUN_SUBREQUESTS) {
      const cfg = this.#config();
      if (!cfg?.active || cfg.deleted) break;
      const units = this.#dueUnits(cfg, Date.now());
      const allowed = units.slice(0, this.#takeTokens(cfg, units.length));
      if (allowed.length === 0) {
        // Before stopping, the log goes out: a hand-off that came in meanwhile is then seen by the next look.
        if (logging && this.#sent.length > 0) {
          logging = await this.#flushLog();
          subrequests++;
          continue;
        }
        break;
      }
      // An alarm run that dies is run again by the runtime; a hand-off's run that has fallen behind needs an alarm to fall back on.
      if (!backstop && this.#behind(allowed, Date.now())) {
        backstop = true;
        await this.#backstop();
      }
      await Promise.all(allowed.map((u) => this.#deliver(cfg, u)));
      subrequests += allowed.length;
      // A delivered row's log waits in memory with the row still stored, so D1 is written a page at a time (or
      // once a second), not after every wave: waiting for D1 between sends halved a strict webhook's throughput.
      if (logging && (this.#sent.length >= LOG_FLUSH_ROWS || Date.now() - flushedAt >= LOG_FLUSH_MS)) {
        logging = await this.#flushLog();
        if (logging) await this.#logHeld(false);
        flushedAt = Date.now();
        subrequests++;
      }
    }
    // What is still unlogged leaves memory now: to D1, or to the outbox if D1 is refusing.
    if (logging) await this.#flushLog();
    else this.#spill(this.#sent.splice(0));
    // Deliveries left waiting are written pending: all of them when nothing sends soon (a retry, a pause, the
    // webhook off), else those that have waited HOLD_MS.
    const wake = this.#nextWake();
    await this.#logHeld(wake === null || wake > Date.now() + HOLD_MS);
    // A backstop this run set is not left to fire for nothing.
    await this.#arm({ force: true, clear: !byAlarm && backstop });
  }

  /** Whether a wave sends a delivery that has been due for BACKSTOP_AFTER_MS or more: the queue is behind. */
  #behind(units: Unit[], now: number): boolean {
    return units.some((u) => u.rows.some((r) => r.next_at <= now - BACKSTOP_AFTER_MS));
  }

  /** Sets the alarm as a backstop for a run started by a hand-off that has fallen behind (unless an earlier one is set). */
  async #backstop(): Promise<void> {
    if (!this.#sendsAtOnce()) return;
    const at = Date.now() + BACKSTOP_MS;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Takes a configuration handed along with work if it is newer than ours (self-healing if a configure was lost). */
  async #adopt(cfg: QueueConfig): Promise<QueueConfig> {
    const current = this.#config();
    if (!current || current.updated_at < cfg.updated_at) await this.configure(cfg);
    return this.#config()!;
  }

  /**
   * Adds a delivery at the end of the queue (or at its old sequence number, for a redelivery) and keeps its line's
   * head right. It takes over the lowest spare when there is one (one row written instead of two), but never the
   * highest row for a lower number: that row holds the numbering.
   */
  #insert(c: QueueConfig, item: QueueItem, at: { nextAt: number; expiresAt: number | null; attempts: number }): number {
    const top = this.#top;
    const seq = item.sequence ?? (top ?? 0) + 1;
    let spare: number | undefined;
    for (const s of this.#spares) if ((s !== top || seq > top) && (spare === undefined || s < spare)) spare = s;
    const values = [
      seq,
      item.delivery_id,
      item.event_id,
      item.event_type,
      item.payload,
      ...orderKeyArgs(c),
      at.nextAt,
      item.created_at,
      at.expiresAt,
      at.attempts,
    ];
    const { order_key } =
      spare === undefined
        ? this.#sql
            .exec<{ order_key: string }>(
              `INSERT INTO queue (seq, delivery_id, event_id, event_type, payload, order_key, next_at, created_at, expires_at, attempts)
               VALUES (?, ?, ?, ?, ?, ${orderKeyExpr(c, "?5")}, ?, ?, ?, ?) RETURNING order_key`,
              ...values,
            )
            .one()
        : this.#sql
            .exec<{ order_key: string }>(
              `UPDATE queue SET seq = ?, delivery_id = ?, event_id = ?, event_type = ?, payload = ?, order_key = ${orderKeyExpr(c, "?5")},
                 next_at = ?, created_at = ?, expires_at = ?, attempts = ?, batch_id = NULL, head = 0
               WHERE seq = ? RETURNING order_key`,
              ...values,
              spare,
            )
            .one();
    if (spare !== undefined) {
      this.#spares.delete(spare);
      this.#sentSeqs.delete(spare);
    }
    if (top === null || seq > top) this.#top = seq;
    else this.#reopenedAt(seq);
    this.#rehead(order_key);
    return seq;
  }

  /**
   * A row to send now stands at `seq`, under an old number (a redelivery): the floor goes below it, and the spares
   * above it go.
   */
  #reopenedAt(seq: number): void {
    if (seq <= this.#floor) this.#floor = seq - 1;
    this.#keepSparesLow();
  }

  /**
   * Deletes the spares above the lowest row still to be sent, but the highest row, and the lowest spares past
   * MAX_SPARES: spares must lie below every row still to be sent (see SCHEMA). Then moves #floor up to just below
   * that row.
   */
  #keepSparesLow(): void {
    const top = this.#top;
    const head = this.#lineHead()?.seq ?? null;
    const below = (s: number) => head === null || s < head;
    const kept = [...this.#spares].filter((s) => below(s) || s === top).sort((a, b) => a - b);
    const gone = [...this.#spares].filter((s) => !below(s) && s !== top);
    const excess = kept.length - MAX_SPARES;
    if (excess > 0) gone.push(...kept.filter((s) => s !== top).slice(0, excess));
    if (gone.length > 0) {
      this.#sql.exec("DELETE FROM queue WHERE seq IN (SELECT value FROM json_each(?))", JSON.stringify(gone));
      for (const s of gone) {
        this.#spares.delete(s);
        this.#sentSeqs.delete(s);
      }
    }
    const floor = head === null ? (top ?? Number.MIN_SAFE_INTEGER) : head - 1;
    if (floor > this.#floor) this.#floor = floor;
  }

  /**
   * Settles the rows left unsure by a wake-up, against D1, from the lowest up (the highest row in each question as
   * well): those whose delivery D1 shows finished are the last process's spares, done. Spares lie below every row
   * still to be sent, so the first page with a row D1 shows pending ends them. If D1 cannot answer, every unsure
   * row is a delivery still to make. One settling at a time; a run settles before it sends anything.
   */
  async #settleUnsure(ask = true): Promise<void> {
    while (this.#settling) await this.#settling;
    if (this.#unsureTop === null) return;
    const settling = (ask ? this.#settle(this.#unsureTop) : Promise.resolve()).finally(() => {
      // What a wake-up found still to send may be missing from D1 (its process died before writing it pending).
      for (const r of this.#sql.exec<{ seq: number }>(`SELECT seq FROM queue WHERE ${UNSENT}`, ...this.#unsentArgs())) {
        if (!this.#unlogged.has(r.seq)) this.#unlogged.set(r.seq, 0);
      }
      this.#unsureTop = null;
      this.#settling = null;
    });
    this.#settling = settling;
    await settling;
  }

  async #settle(top: number): Promise<void> {
    let after = Number.MIN_SAFE_INTEGER;
    for (let first = true; ; first = false) {
      const page = this.#sql
        .exec<{ seq: number; delivery_id: string }>(
          "SELECT seq, delivery_id FROM queue WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?",
          after,
          top,
          SETTLE_PAGE,
        )
        .toArray();
      const rows = first ? [...page, ...this.#sql.exec<{ seq: number; delivery_id: string }>("SELECT seq, delivery_id FROM queue WHERE seq = ?", top)] : page;
      // Spares already known (an upgrade's placeholder, which has no delivery) need no answer.
      const asked = rows.filter((r) => !this.#spares.has(r.seq));
      const finished = asked.length > 0 ? await this.#finishedInLog(asked.map((r) => r.delivery_id)) : [];
      if (finished === null) return;
      const done = new Set(finished);
      // Rows may have changed while D1 answered (a webhook deleted, a spare taken over): only rows as they were count.
      const still = this.#sql
        .exec<{ seq: number; delivery_id: string; order_key: string }>(
          "SELECT seq, delivery_id, order_key FROM queue WHERE seq IN (SELECT value FROM json_each(?))",
          JSON.stringify(asked.filter((r) => done.has(r.delivery_id)).map((r) => r.seq)),
        )
        .toArray()
        .filter((r) => asked.some((a) => a.seq === r.seq && a.delivery_id === r.delivery_id));
      this.#dropDone(still.map((r) => r.seq));
      for (const key of new Set(still.map((r) => r.order_key))) this.#rehead(key);
      if (page.length < SETTLE_PAGE || asked.some((r) => r.seq !== top && !done.has(r.delivery_id))) return;
      after = page[page.length - 1].seq;
    }
  }

  /**
   * Writes deliveries still queued to D1 as pending (D1 hears of a delivery at its outcome otherwise): all of them,
   * or those handed over HOLD_MS ago or more. Statements D1 refuses wait in the outbox.
   */
  async #logHeld(all: boolean): Promise<void> {
    const cfg = this.#config();
    if (this.#unlogged.size === 0 || !cfg || cfg.deleted) return;
    const now = Date.now();
    const due: number[] = [];
    for (const [seq, at] of this.#unlogged) if (!this.#sentSeqs.has(seq) && (all || at <= now - HOLD_MS)) due.push(seq);
    for (const seq of due) this.#unlogged.delete(seq);
    for (const rows of this.#rowPages(due)) {
      const statements = rows.map((r) => pendingStatement(cfg.webhook_id, cfg.account_id, r, r.next_at, now));
      if (statements.length > 0 && !(await this.#writeLog(statements))) this.#log(statements);
    }
  }

  /** The rows at these sequences, PAGE at a time (a sequence no longer in the table is skipped). */
  *#rowPages(seqs: number[]): Generator<Row[]> {
    for (let i = 0; i < seqs.length; i += PAGE) {
      yield this.#sql.exec<Row>("SELECT * FROM queue WHERE seq IN (SELECT value FROM json_each(?))", JSON.stringify(seqs.slice(i, i + PAGE))).toArray();
    }
  }

  #config(): QueueConfig | null {
    if (this.#cfg === undefined) {
      const row = this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'config'").toArray()[0];
      this.#cfg = row ? (JSON.parse(row.value) as QueueConfig) : null;
    }
    return this.#cfg;
  }

  #setMeta(key: string, value: string | null): void {
    if (value === null) this.#sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  #meta(key: string): string | null {
    return this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  /**
   * Whether the delivery's outcome waits in the outbox for D1: its row has left the queue, but D1 still shows it
   * pending, so a hand-off built from D1 may bring it back; it must not be sent again. The outbox is empty unless D1
   * has been refusing writes.
   */
  #awaitsLog(deliveryId: string): boolean {
    return (
      this.#outboxCount > 0 && this.#sql.exec("SELECT 1 FROM outbox WHERE instr(statements, ?) > 0 LIMIT 1", JSON.stringify(deliveryId)).toArray().length > 0
    );
  }

  /**
   * Which of these deliveries D1 shows finished. When D1 cannot answer, none: a hand-off then goes ahead, and at
   * worst a delivery is sent once more (at least once), never lost.
   */
  async #finishedInLog(ids: string[]): Promise<string[]> {
    const finished: string[] = [];
    const webhookId = this.#config()?.webhook_id;
    if (!webhookId) return finished;
    try {
      for (const { items: chunk, marks } of inLists(ids)) {
        const rows = await this.env.DB.prepare(`SELECT id FROM deliveries WHERE webhook_id = ? AND id IN (${marks}) AND status <> 'pending'`)
          .bind(webhookId, ...chunk)
          .all<{ id: string }>();
        for (const r of rows.results) finished.push(r.id);
      }
    } catch (err) {
      console.error("could not check a re-hand-off against the log", err instanceof Error ? err.message : String(err));
    }
    return finished;
  }

  /** The sequence numbers sent and awaiting their log, and the spares, as a JSON array (for re-keying). */
  #sentJson(): string {
    return JSON.stringify([...this.#sentSeqs]);
  }

  /**
   * The arguments of UNSENT: rows at or below #floor are all sent or spares, so only the sent rows and spares above
   * it need listing — a page at most, not every spare, in every statement that looks for rows to send.
   */
  #unsentArgs(): [number, string] {
    const floor = this.#floor;
    const above: number[] = [];
    for (const s of this.#sentSeqs) if (s > floor) above.push(s);
    return [floor, JSON.stringify(above)];
  }

  /** The lowest unsent row: the head of a strict or batched line (read in sequence order; no index needed). */
  #lineHead(): Row | undefined {
    return this.#sql.exec<Row>(`SELECT * FROM queue WHERE ${UNSENT} ORDER BY seq LIMIT 1`, ...this.#unsentArgs()).toArray()[0];
  }

  /** The sendable units, oldest first: expired rows are settled on the way. */
  #dueUnits(cfg: QueueConfig, now: number): Unit[] {
    const pausedUntil = Number(this.#meta("paused_until") ?? 0);
    if (pausedUntil > now) return [];
    this.#expire(now);
    if (cfg.batch) return this.#dueBatch(cfg, now);
    const rows =
      cfg.ordering === "strict"
        ? [this.#lineHead()].filter((r): r is Row => r !== undefined && r.next_at <= now)
        : this.#sql
            // INDEXED BY: without statistics SQLite may walk the rowid order instead, reading every row behind the heads.
            .exec<Row>(
              `SELECT * FROM queue INDEXED BY queue_ready WHERE head = 1 AND next_at <= ? AND ${UNSENT}
               ORDER BY next_at, seq LIMIT ?`,
              now,
              ...this.#unsentArgs(),
              MAX_CONCURRENCY,
            )
            .toArray();
    return rows.map((r) => ({ rows: [r], batchId: null }));
  }

  /** The head batch: a batch already formed (being retried), or up to max_size rows once full or old enough. */
  #dueBatch(cfg: QueueConfig, now: number): Unit[] {
    const { max_size, max_wait_ms } = cfg.batch!;
    const head = this.#lineHead();
    if (!head || head.next_at > now) return [];
    if (head.batch_id) {
      // Not its spares: a row of the batch that expired while it waited for a retry is done, and keeps the batch id.
      const rows = this.#sql
        .exec<Row>(`SELECT * FROM queue WHERE batch_id = ? AND ${UNSENT} ORDER BY seq LIMIT ?`, head.batch_id, ...this.#unsentArgs(), max_size)
        .toArray();
      return [{ rows, batchId: head.batch_id }];
    }
    const open = this.#openBatchRows(max_size);
    if (open < max_size && head.created_at + max_wait_ms > now) return [];
    // The batch is formed by one statement choosing its rows (a list of up to 100 seqs would pass SQLite's limit of
    // 100 bound parameters per statement), and it is formed once: a retry sends the same rows under the same id.
    const batchId = newId("bat", now);
    const rows = this.#sql
      .exec<Row>(
        `UPDATE queue SET batch_id = ? WHERE seq IN
           (SELECT seq FROM queue WHERE batch_id IS NULL AND ${UNSENT} ORDER BY seq LIMIT ?)
         RETURNING *`,
        batchId,
        ...this.#unsentArgs(),
        max_size,
      )
      .toArray()
      .sort((a, b) => a.seq - b.seq);
    return [{ rows, batchId }];
  }

  /** How many unsent rows wait outside any batch, counted up to `max`. */
  #openBatchRows(max: number): number {
    return this.#sql
      .exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM queue WHERE batch_id IS NULL AND ${UNSENT} LIMIT ?)`, ...this.#unsentArgs(), max)
      .one().n;
  }

  /** Removes every unsent row past its ttl_s, a page at a time; each one is logged as expired. */
  #expire(now: number): void {
    const cfg = this.#config();
    if (!cfg) return;
    for (;;) {
      const expired = this.#sql
        .exec<Row>(`SELECT * FROM queue WHERE expires_at IS NOT NULL AND expires_at <= ? AND ${UNSENT} LIMIT ?`, now, ...this.#unsentArgs(), PAGE)
        .toArray();
      if (expired.length === 0) return;
      // Settled as spares (which the next page's look skips) and logged in one commit.
      this.#dropDone(expired.map((r) => r.seq));
      for (const key of new Set(expired.map((r) => r.order_key))) this.#rehead(key);
      this.#log(expired.map((r) => closedStatement(cfg.webhook_id, cfg.account_id, r, "expired", "not delivered within ttl_s", now)));
      for (const r of expired) this.#unlogged.delete(r.seq);
      if (expired.length < PAGE) return;
    }
  }

  /** Keeps `head` on exactly the lowest unsent sequence of one keyed line (strict has no heads): a few index lookups. */
  #rehead(key: string): void {
    if (key === "") return;
    const min = this.#sql
      .exec<{ s: number | null }>(`SELECT min(seq) AS s FROM queue WHERE order_key = ? AND order_key <> '' AND ${UNSENT}`, key, ...this.#unsentArgs())
      .one().s;
    this.#sql.exec("UPDATE queue SET head = 0 WHERE order_key = ? AND order_key <> '' AND head = 1 AND seq IS NOT ?", key, min);
    if (min !== null) this.#sql.exec("UPDATE queue SET head = 1 WHERE seq = ? AND head = 0", min);
  }

  /** Token bucket for rate_limit_per_s: a burst of at most one second's worth. */
  #takeTokens(cfg: QueueConfig, wanted: number): number {
    const rate = cfg.rate_limit_per_s;
    if (!rate) return wanted;
    const now = Date.now();
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAt) / 1000) * rate);
    this.#tokensAt = now;
    const n = Math.min(wanted, Math.floor(this.#tokens));
    this.#tokens -= n;
    return n;
  }

  async #signingKeys(cfg: QueueConfig): Promise<SigningKey[]> {
    const now = Date.now();
    const live = cfg.keys.filter((k) => k.expires_at === null || k.expires_at > now);
    const sealed = live.map((k) => k.sealed).join(" ");
    if (this.#keys?.sealed !== sealed) {
      const key = config(this.env).ENCRYPTION_KEY;
      const keys = await Promise.all(
        live.map(async (k): Promise<SigningKey> => {
          const plain = await decryptSecret(key, k.sealed);
          return k.scheme === "hmac" ? { scheme: "hmac", secret: plain } : { scheme: "ed25519", privateKey: plain };
        }),
      );
      this.#keys = { sealed, keys };
    }
    return this.#keys.keys;
  }

  /** Builds, signs and sends one unit; returns the attempt as logged. */
  async #send(cfg: QueueConfig, unit: Unit): Promise<{ sent: SentAttempt; attempt: AttemptLog }> {
    const first = unit.rows[0];
    const attemptNumber = first.attempts + 1;
    const now = Date.now();
    const timestamp = Math.floor(now / 1000);
    const msgId = unit.batchId ?? first.event_id;
    const body = unit.batchId
      ? `{"id":${JSON.stringify(unit.batchId)},"type":"batch","timestamp":${JSON.stringify(new Date(now).toISOString())},"account_id":${JSON.stringify(cfg.account_id)},"data":{"events":[${unit.rows.map((r) => r.payload).join(",")}]}}`
      : cfg.format === "slack"
        ? JSON.stringify(toSlackMessage(JSON.parse(first.payload), { dashboardUrl: deliveryPageUrl(config(this.env).DASHBOARD_URL, first.delivery_id) }))
        : first.payload;
    const headers: Record<string, string> = {
      // Issue 17: custom header values are stored sealed; they are opened only here, to go on the wire.
      ...(await openHeaders(config(this.env).ENCRYPTION_KEY, cfg.headers)),
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      "webhook-id": msgId,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": await signatureHeader(await this.#signingKeys(cfg), msgId, timestamp, body),
      "x-broxiai-event": unit.batchId ? "batch" : first.event_type,
      "x-broxiai-delivery": unit.batchId ?? first.delivery_id,
      "x-broxiai-attempt": String(attemptNumber),
      "x-broxiai-sequence": unit.batchId ? `${first.seq}-${unit.rows[unit.rows.length - 1].seq}` : String(first.seq),
    };
    const request: OutgoingRequest = { url: cfg.url, headers, body, timeoutMs: cfg.timeout_ms };
    // Issue 17: the destination is checked (URL rules, then its host's DNS) before every send; a refusal is a failed attempt.
    const sent = await sendChecked(request, destinationOptions(config(this.env)));
    return {
      sent,
      attempt: {
        number: attemptNumber,
        startedAt: sent.startedAt,
        durationMs: sent.durationMs,
        statusCode: sent.result.status ?? null,
        error: sent.result.status !== undefined && sent.result.status >= 200 && sent.result.status < 300 ? null : failureReason(sent),
        // Issue 17: the log shows custom header values masked, like every answer.
        requestHeaders: maskHeaders(headers, Object.keys(cfg.headers)),
        requestBody: truncateForLog(body, Math.max(4096, Math.floor(REQUEST_BODY_LOG_BYTES / unit.rows.length))),
        responseHeaders: sent.responseHeaders,
        responseBody: sent.responseBody,
      },
    };
  }

  /** Sends one unit and settles it: the object's own state first, then the log. */
  async #deliver(cfg: QueueConfig, unit: Unit): Promise<void> {
    let sent: { sent: SentAttempt; attempt: AttemptLog };
    try {
      sent = await this.#send(cfg, unit);
    } catch (err) {
      // Something on our side (a key that cannot be decrypted, say): count it as a failed attempt, never throw.
      const message = `could not send: ${err instanceof Error ? err.message : String(err)}`;
      console.error("webhook send failed before the request", cfg.webhook_id, message);
      const now = Date.now();
      sent = {
        sent: { result: { error: message }, startedAt: now, durationMs: 0, responseHeaders: null, responseBody: null },
        attempt: {
          number: unit.rows[0].attempts + 1,
          startedAt: now,
          durationMs: 0,
          statusCode: null,
          error: message,
          requestHeaders: {},
          requestBody: "",
          responseHeaders: null,
          responseBody: null,
        },
      };
    }
    const now = Date.now();
    let outcome: Outcome = classifyAttempt(sent.sent.result, sent.attempt.number, cfg.retry, now, Math.random);
    const seqs = unit.rows.map((r) => r.seq);
    // A batch's rows share its id; naming them by it keeps every statement to two parameters whatever the batch size.
    const which = unit.batchId ? "batch_id = ?" : "seq = ?";
    const whichArg = unit.batchId ?? unit.rows[0].seq;

    if (outcome.kind === "delivered") {
      if (this.#meta("failing_since") !== null) this.#setMeta("failing_since", null);
    } else if (outcome.kind !== "disable") {
      const since = Number(this.#meta("failing_since") ?? now);
      this.#setMeta("failing_since", String(since));
      const limitMs = config(this.env).DISABLE_AFTER_FAILING_HOURS * 3_600_000;
      if (now - since >= limitMs) {
        outcome = { kind: "disable", reason: `no successful delivery for ${Math.round((now - since) / 3_600_000)} h (last: ${outcome.reason})` };
      }
    }
    if (sent.sent.result.status === 429 && outcome.kind === "retry") {
      // A receiver asking us to slow down pauses the whole endpoint, not only this delivery.
      this.#setMeta("paused_until", String(now + outcome.delayMs));
    }

    const statements = logStatements({
      webhookId: cfg.webhook_id,
      accountId: cfg.account_id,
      deliveries: unit.rows,
      attempt: sent.attempt,
      outcome,
    });
    // Whatever the outcome, its statements create the delivery's row in D1 if it has none.
    for (const seq of seqs) this.#unlogged.delete(seq);
    const keys = new Set(unit.rows.map((r) => r.order_key));
    switch (outcome.kind) {
      case "delivered":
        // The happy path writes nothing here: the rows stay, marked sent, until their log is in D1 (#flushLog).
        for (const seq of seqs) this.#sentSeqs.add(seq);
        this.#sent.push({ seqs, ids: unit.rows.map((r) => r.delivery_id), statements, size: statementsSize(statements) });
        for (const key of keys) this.#rehead(key);
        return;
      case "give-up":
        // Its log goes to the outbox below, in the same storage commit.
        this.#dropDone(seqs);
        for (const key of keys) this.#rehead(key);
        break;
      case "retry":
        this.#sql.exec(`UPDATE queue SET attempts = attempts + 1, next_at = ? WHERE ${which}`, now + outcome.delayMs, whichArg);
        break;
      case "disable": {
        // Held, not dropped: the delivery stays at the head and goes out first when the webhook is enabled again.
        this.#sql.exec(`UPDATE queue SET attempts = attempts + 1, next_at = ? WHERE ${which}`, now, whichArg);
        const disabled: QueueConfig = { ...cfg, active: false };
        this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('config', ?)", JSON.stringify(disabled));
        this.#cfg = disabled;
        this.#log([
          {
            // Guarded by time: replayed late from the outbox, it must not undo the customer re-enabling the webhook since.
            sql: "UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL AND updated_at <= ?",
            params: [outcome.reason, now, cfg.webhook_id, now],
          },
        ]);
        break;
      }
    }
    this.#log(statements);
  }

  /** The earliest time anything here needs the alarm: a due head, a batch's wait, a pause, an expiry, the outbox. */
  #nextWake(): number | null {
    const cfg = this.#config();
    let next: number | null = this.#outboxCount > 0 ? Date.now() + OUTBOX_RETRY_MS : null;
    const consider = (t: number | null | undefined) => {
      if (t !== null && t !== undefined && (next === null || t < next)) next = t;
    };
    const unsent = this.#unsentArgs();
    if (cfg?.active && !cfg.deleted) {
      let due: number | null | undefined;
      if (cfg.ordering !== "strict" && !cfg.batch) {
        due = this.#sql
          .exec<{ t: number | null }>(`SELECT min(next_at) AS t FROM queue INDEXED BY queue_ready WHERE head = 1 AND ${UNSENT}`, ...unsent)
          .one().t;
      } else {
        const head = this.#lineHead();
        if (head) {
          due = head.next_at;
          if (cfg.batch && !head.batch_id && this.#openBatchRows(cfg.batch.max_size) < cfg.batch.max_size) {
            due = Math.max(due, head.created_at + cfg.batch.max_wait_ms);
          }
        }
      }
      if (due !== null && due !== undefined) {
        const paused = Number(this.#meta("paused_until") ?? 0);
        due = Math.max(due, paused);
        if (cfg.rate_limit_per_s && this.#tokens < 1) due = Math.max(due, this.#tokensAt + 1000 / cfg.rate_limit_per_s);
      }
      consider(due);
    }
    if (cfg && !cfg.deleted) {
      // A row's ttl_s may end while it waits (behind a failing head, or held while the webhook is disabled).
      consider(this.#sql.exec<{ t: number | null }>(`SELECT min(expires_at) AS t FROM queue WHERE expires_at IS NOT NULL AND ${UNSENT}`, ...unsent).one().t);
    }
    return next;
  }

  /**
   * Sets the alarm to the earliest wake-up. Outside a run an earlier alarm is never pushed later; `force` (at the
   * end of a run, whose own alarm is spent) sets it regardless. With nothing to wake for, an alarm already set is
   * left to fire and find nothing (cheaper than deleting it) unless `clear` asks for it to go.
   */
  async #arm(opts: { force?: boolean; clear?: boolean } = {}): Promise<void> {
    const wake = this.#nextWake();
    if (wake === null) {
      if (opts.clear && (await this.ctx.storage.getAlarm()) !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    const at = Math.max(wake, Date.now() + config(this.env).ALARM_MIN_DELAY_MS);
    if (!opts.force) {
      const current = await this.ctx.storage.getAlarm();
      if (current !== null && current <= at) return;
    }
    await this.ctx.storage.setAlarm(at);
  }

  /**
   * Records log statements in the outbox, in the same synchronous stretch as the state change they describe, so the
   * two are committed together: a process killed before the D1 write loses nothing, the next flush sends it.
   */
  #log(statements: LogStatement[]): void {
    for (const chunk of chunkStatements(statements)) {
      this.#sql.exec("INSERT INTO outbox (statements) VALUES (?)", JSON.stringify(chunk));
      this.#outboxCount++;
    }
  }

  /** Moves sent deliveries' log into the outbox and their rows out of the queue, in one storage commit. */
  #spill(entries: Sent[]): void {
    for (const entry of entries) {
      this.#log(entry.statements);
      this.#dropDone(entry.seqs);
    }
  }

  /**
   * Settles done rows — sent ones whose log is safe (in D1, or in the outbox), given up or expired ones whose log is
   * written in the same commit — as spares for the next inserts to take over (see SCHEMA). A done row above a row
   * still to be sent is deleted instead (but the highest, which holds the numbering), and so are the lowest spares
   * past MAX_SPARES. The one way rows leave the queue, but a deleted webhook's.
   */
  #dropDone(seqs: number[]): void {
    for (const seq of seqs) {
      this.#spares.add(seq);
      this.#sentSeqs.add(seq);
    }
    this.#keepSparesLow();
  }

  #flushing: Promise<void> | null = null;

  /**
   * Writes the log to D1: the outbox first (oldest first), then the deliveries sent since; stops at the first
   * failure, and then what was sent moves to the outbox to wait for a later alarm. Afterwards nothing is left in
   * memory either way. One flush at a time: two side by side could land an older statement after a newer one.
   * True when D1 took everything.
   */
  async #flushLog(): Promise<boolean> {
    while (this.#flushing) await this.#flushing;
    const run = this.#drain();
    const done = () => {
      this.#flushing = null;
    };
    this.#flushing = run.then(done, done);
    return run;
  }

  async #drain(): Promise<boolean> {
    const ok = (await this.#drainOutbox()) && (await this.#drainSent());
    if (!ok) this.#spill(this.#sent.splice(0));
    return ok;
  }

  /** Writes sent deliveries' log to D1 about a chunk per batch, deleting their rows once it is there. */
  async #drainSent(): Promise<boolean> {
    while (this.#sent.length > 0) {
      const n = firstChunk(this.#sent.map((e) => e.size));
      const taken = this.#sent.slice(0, n);
      if (!(await this.#writeLog(taken.flatMap((e) => e.statements)))) return false;
      // Sends that finished during the write were appended behind these; only what was written goes.
      this.#sent.splice(0, n);
      const now = Date.now();
      this.#dropDone(taken.flatMap((e) => e.seqs));
      for (const id of taken.flatMap((e) => e.ids)) this.#finished.set(id, now);
      for (const [id, at] of this.#finished) {
        if (at > now - 60_000) break;
        this.#finished.delete(id);
      }
    }
    return true;
  }

  /** One D1 batch of log statements; false (and said in the log) when D1 refuses it. */
  async #writeLog(statements: LogStatement[]): Promise<boolean> {
    try {
      await this.env.DB.batch(statements.map((s) => prepared(this.env.DB, s)));
      return true;
    } catch (err) {
      console.error("delivery log cannot reach D1; it waits in the outbox", err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  /** Writes the outbox to D1, oldest first, about a chunk per batch, deleting what was written. True when it is empty. */
  async #drainOutbox(): Promise<boolean> {
    while (this.#outboxCount > 0) {
      const page = this.#sql.exec<{ id: number; statements: string }>("SELECT id, statements FROM outbox ORDER BY id LIMIT 20").toArray();
      if (page.length === 0) {
        this.#outboxCount = 0;
        return true;
      }
      const taken = page.slice(0, firstChunk(page.map((r) => r.statements.length)));
      if (!(await this.#writeLog(taken.flatMap((r) => JSON.parse(r.statements) as LogStatement[])))) return false;
      this.#sql.exec("DELETE FROM outbox WHERE id <= ?", taken[taken.length - 1].id);
      this.#outboxCount = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
    }
    return true;
  }
}

/** How many of the leading sizes fit in LOG_CHUNK_CHARS together (always at least one). */
function firstChunk(sizes: number[]): number {
  let n = 0;
  let size = 0;
  while (n < sizes.length && (n === 0 || size + sizes[n] <= LOG_CHUNK_CHARS)) size += sizes[n++];
  return n;
}

/** About how many characters a run of statements takes (what the chunking measures). */
function statementsSize(statements: LogStatement[]): number {
  return statements.reduce((t, s) => t + s.sql.length + s.params.reduce<number>((u, p) => u + (typeof p === "string" ? p.length : 8), 0), 0);
}

/** Splits log statements, in order, into runs of about LOG_CHUNK_CHARS (a larger single statement is a run of its own). */
function chunkStatements(statements: LogStatement[]): LogStatement[][] {
  const chunks: LogStatement[][] = [];
  let current: LogStatement[] = [];
  let size = 0;
  for (const s of statements) {
    const n = statementsSize([s]);
    if (current.length > 0 && size + n > LOG_CHUNK_CHARS) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(s);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function truncateForLog(body: string, limit: number): string {
  return body.length > limit ? `${body.slice(0, limit)}…[truncated]` : body;
}

/** The SQL that computes a row's order key from its payload, so a change of ordering can rekey the queue in one statement. */
function orderKeyExpr(cfg: QueueConfig, payloadParam = "payload"): string {
  if (cfg.ordering === "strict") return "''";
  if (cfg.ordering === "none") return "hex(randomblob(8))";
  // Prefixed so that an event without the key still has a keyed line ('' is strict's, which keeps no heads).
  return `'k:' || coalesce(json_extract(${payloadParam}, ?), '')`;
}

function orderKeyArgs(cfg: QueueConfig): string[] {
  if (cfg.ordering !== "key" || !cfg.ordering_key) return [];
  return [jsonPath(cfg.ordering_key)];
}

/** "data.items.0.id" → `$."data"."items"[0]."id"` for SQLite's json_extract. */
function jsonPath(dotted: string): string {
  return `$${dotted
    .split(".")
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `."${s}"`))
    .join("")}`;
}

function failureReason(sent: SentAttempt): string {
  const r = sent.result;
  if (r.error) return r.error;
  if (r.status !== undefined && r.status >= 300 && r.status < 400) return `HTTP ${r.status} (redirects are not followed)`;
  return `HTTP ${r.status}`;
}

/** The dashboard page of a delivery, for the link in a Slack message; none when DASHBOARD_URL is not set. */
function deliveryPageUrl(base: string, deliveryId: string): string | undefined {
  return base ? `${base.replace(/\/+$/, "")}/deliveries/${encodeURIComponent(deliveryId)}` : undefined;
}
