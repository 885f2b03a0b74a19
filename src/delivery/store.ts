import type { QueueConfig } from "../webhooks/types";
import type { QueueItem } from "./contract";
import { readMeta, writeMeta } from "./meta";
import { orderKey } from "./order-keys";
import { QUEUE_SCHEMA, type Row, type Start } from "./rows";

/**
 * The row store: a webhook's queue in its Durable Object's SQLite, and the one place that knows what state a queued
 * delivery is in. Every other part asks it, and only it writes the `queue` table and the marks. It stays one file,
 * past the ~300 lines the other parts keep, so that every transition sits beside the invariants it must keep.
 *
 * Glossary
 * - row: one delivery in the queue, numbered by `seq`, the x-broxiai-sequence it is sent with.
 * - line: rows that go out in order. `strict`: all of them (order key ''), read in `seq` order; `key`: the rows with
 *   one value at `ordering_key` ('k:' + value); `none`: every row alone (a random key).
 * - head: the lowest waiting row of a keyed line, flagged `head = 1` (strict's one line needs no flag; a `none` row
 *   keeps its flag until it is done).
 * - the mark (`done`): every row numbered at or below it is done; every row above it is owed.
 * - spare: a done row kept so that the next delivery takes it over: one UPDATE, where an INSERT now and a DELETE
 *   later would be two rows written.
 * - top: the highest number ever given. The next row is numbered max(top, highest row) + 1.
 *
 * A delivery's states
 *
 *     add ─▶ waiting ──send──▶ in flight ──2xx──▶ sent ──its log is in D1──▶ done (a spare, or deleted)
 *                          (in flight leaves by its outcome: every other arrow below starts from it too)
 *              ▲ │
 *              │ ├── failed, attempts left ──▶ waiting again, due later (next_at)
 *              │ ├── 410, or failing too long ──▶ waiting, held while the webhook is off
 *              │ └── given up, expired, cancelled: its log goes to the outbox in the same commit ──▶ done
 *              └──── redelivered: a done delivery goes back to waiting, under its own number
 *
 * - waiting: a row above the mark, in storage.
 * - in flight: a waiting row this process is sending now: a mark in memory only, so that no other send takes it.
 * - sent: a row above the mark that this process delivered and whose log is on its way to D1: a mark in memory only.
 * - done: a row at or below the mark, or no row at all.
 *
 * Invariants (this module keeps them; the property test in test/unit checks them after every step)
 * 1. Every row above the mark is owed. So a wake-up needs nobody to tell finished rows from live ones: every row
 *    above the mark is sent (a sent row whose log had not reached D1 goes again, under the same webhook-id: at least
 *    once).
 * 2. No number is given twice: a new row gets max(top, highest row) + 1, and `top` is written in every commit that
 *    deletes rows.
 * 3. Nothing is lost: a row goes done only in a commit made after its log is safe — in D1, or in the outbox in
 *    that same commit.
 * 4. Spares are at most MAX_SPARES, all at or below the mark: a row done above it (a lower one is still owed) is
 *    deleted instead.
 * 5. A keyed line's head is its lowest waiting row; a `none` row (a line of its own) is flagged from its hand-off until
 *    it is done, sent or not (the queries for rows to send leave sent rows out).
 * 6. No row is sent twice at once: the queries for rows to send leave in-flight rows out, a keyed line's head stays
 *    its head while in flight, and a strict or batched line sends nothing while one of its rows is in flight.
 */

/**
 * Spares kept at most. A spare costs storage only (the old payload stays until the row is taken over); deleting one
 * costs a row written. So a queue keeps as many as the deepest backlog it drained, up to this bound, and a backlog
 * deeper than that deletes its extra rows as they finish.
 */
export const MAX_SPARES = 500;

export class QueueStore {
  readonly sql: SqlStorage;
  #done: number;
  /** max(top, highest row): the last number given. */
  #last: number;
  #spares: number;
  /** The lowest spares, read a page at a time, so that taking one over costs no query. */
  #spareSeqs: number[] = [];
  /** Whether a waiting row may have an expiry (ttl_s): while none can, no one looks. */
  #mayExpire: boolean;
  /** Rows delivered by this process whose log is not in D1 yet. */
  readonly #sent = new Set<number>();
  /** Rows this process is sending now: still waiting (a wake-up sends them again), but not to be chosen twice. */
  readonly #inFlight = new Set<number>();

  constructor(sql: SqlStorage) {
    this.sql = sql;
    sql.exec(QUEUE_SCHEMA);
    const marks = readMeta<{ done: number; top: number }>(sql, "marks") ?? { done: 0, top: 0 };
    const highest = sql.exec<{ s: number | null }>("SELECT max(seq) AS s FROM queue").one().s ?? 0;
    this.#done = marks.done;
    this.#last = Math.max(marks.top, highest);
    this.#spares = sql.exec<{ n: number }>("SELECT count(*) AS n FROM queue WHERE seq <= ?", this.#done).one().n;
    this.#mayExpire = sql.exec("SELECT 1 FROM queue WHERE seq > ? AND expires_at IS NOT NULL LIMIT 1", this.#done).toArray().length > 0;
    // A wake-up forgets what was sent: those rows are waiting again, and must lead their lines again.
    this.recomputeHeads();
  }

  /** The mark: every row at or below it is done. */
  get done(): number {
    return this.#done;
  }

  /** The last x-broxiai-sequence given, or null before the first. */
  get last(): number | null {
    return this.#last === 0 ? null : this.#last;
  }

  get spares(): number {
    return this.#spares;
  }

  /** False only when no waiting row has an expiry; lines.ts asks before it looks for expired rows. */
  get mayExpire(): boolean {
    return this.#mayExpire;
  }

  /** A look found no waiting row with an expiry. */
  noneExpire(): void {
    this.#mayExpire = false;
  }

  /** The SQL condition for a waiting row (owed and not sent) and its two arguments. */
  waiting(): { where: string; args: [number, string] } {
    return this.#owedExcept(this.#sent);
  }

  /**
   * The SQL condition for a row that may be chosen for a send: waiting and not in flight. Heads are kept by
   * `waiting()`, so a keyed line's head stays its head while in flight and the line's next row waits behind it.
   */
  ready(): { where: string; args: [number, string] } {
    return this.#owedExcept([...this.#sent, ...this.#inFlight]);
  }

  /** The SQL condition for a row above the mark and not one of `seqs`, and its two arguments. */
  #owedExcept(seqs: Iterable<number>): { where: string; args: [number, string] } {
    return { where: "seq > ? AND seq NOT IN (SELECT value FROM json_each(?))", args: [this.#done, JSON.stringify([...seqs])] };
  }

  /** waiting → in flight: a send took these rows. Their outcome (markSent, retry, finish) lets go of them. */
  dispatch(rows: Row[]): void {
    for (const r of rows) this.#inFlight.add(r.seq);
  }

  /** Rows being sent now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  isSent(seq: number): boolean {
    return this.#sent.has(seq);
  }

  sentCount(): number {
    return this.#sent.size;
  }

  /** Deliveries still owed (waiting or sent). */
  owed(): { count: number; oldest: number | null } {
    const r = this.sql.exec<{ n: number; t: number | null }>("SELECT count(*) AS n, min(created_at) AS t FROM queue WHERE seq > ?", this.#done).one();
    return { count: r.n, oldest: r.t };
  }

  /** The rows at these numbers that are still stored, in order. */
  rows(seqs: number[]): Row[] {
    return this.sql.exec<Row>("SELECT * FROM queue WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq", JSON.stringify(seqs)).toArray();
  }

  /** Which of these deliveries have a row here, owed or done. */
  present(deliveryIds: string[]): Set<string> {
    const found = new Set<string>();
    if (deliveryIds.length === 0) return found;
    const rows = this.sql.exec<{ delivery_id: string }>(
      "SELECT delivery_id FROM queue WHERE delivery_id IN (SELECT value FROM json_each(?))",
      JSON.stringify(deliveryIds),
    );
    for (const r of rows) found.add(r.delivery_id);
    return found;
  }

  /** Adds a delivery at the end of the queue, taking over the lowest spare when there is one. → waiting */
  add(cfg: QueueConfig, item: QueueItem, start: Start): number {
    const seq = ++this.#last;
    const spare = this.#takeSpare();
    if (start.expiresAt !== null) this.#mayExpire = true;
    const order = orderKey(cfg, item.payload);
    const values = [seq, item.delivery_id, item.event_id, item.event_type, item.payload, ...order.args, start.nextAt, item.created_at, start.expiresAt];
    const head = cfg.ordering === "none" ? 1 : 0;
    const key =
      spare === null
        ? this.sql
            .exec<{ order_key: string }>(
              `INSERT INTO queue (seq, delivery_id, event_id, event_type, payload, order_key, next_at, created_at, expires_at, attempts, head)
               VALUES (?, ?, ?, ?, ?, ${order.sql}, ?, ?, ?, ?, ?) RETURNING order_key`,
              ...values,
              start.attempts,
              head,
            )
            .one().order_key
        : this.sql
            .exec<{ order_key: string }>(
              `UPDATE queue SET seq = ?, delivery_id = ?, event_id = ?, event_type = ?, payload = ?, order_key = ${order.sql},
                 next_at = ?, created_at = ?, expires_at = ?, attempts = ?, head = ?, batch_id = NULL
               WHERE seq = ? RETURNING order_key`,
              ...values,
              start.attempts,
              head,
              spare,
            )
            .one().order_key;
    if (cfg.ordering === "key") this.rehead(key);
    return seq;
  }

  /** The lowest spare, taken (spares are the lowest rows), or null when there is none. */
  #takeSpare(): number | null {
    if (this.#spares === 0) return null;
    if (this.#spareSeqs.length === 0) {
      this.#spareSeqs = this.sql
        .exec<{ seq: number }>("SELECT seq FROM queue WHERE seq <= ? ORDER BY seq LIMIT 64", this.#done)
        .toArray()
        .map((r) => r.seq);
    }
    this.#spares--;
    return this.#spareSeqs.shift() ?? null;
  }

  /**
   * Puts a delivery back to waiting, due now, under its own number (a redelivery): its row if it still has one, else a
   * new row at `sequence` (when known and free) or at the end. A done row below the mark lowers the mark beneath it.
   */
  reopen(cfg: QueueConfig, item: QueueItem, now: number): number {
    const existing = this.sql.exec<{ seq: number }>("SELECT seq FROM queue WHERE delivery_id = ?", item.delivery_id).toArray()[0]?.seq;
    if (existing !== undefined && existing > this.#done) {
      // Owed already: it only skips its wait.
      this.sql.exec("UPDATE queue SET next_at = ? WHERE seq = ?", now, existing);
      return existing;
    }
    const free = item.sequence !== undefined && item.sequence > 0 && this.sql.exec("SELECT 1 FROM queue WHERE seq = ?", item.sequence).toArray().length === 0;
    const seq = existing ?? (free ? item.sequence! : this.#last + 1);
    if (seq <= this.#done) this.#lowerMark(seq - 1, existing);
    if (existing !== undefined) {
      this.sql.exec(
        "UPDATE queue SET next_at = ?, expires_at = NULL, batch_id = NULL, attempts = max(attempts, ?), head = 0 WHERE seq = ?",
        now,
        item.attempt_count ?? 0,
        seq,
      );
    } else {
      this.#last = Math.max(this.#last, seq);
      this.sql.exec(
        `INSERT INTO queue (seq, delivery_id, event_id, event_type, payload, order_key, next_at, created_at, attempts, head)
         VALUES (?, ?, ?, ?, ?, ${orderKey(cfg, item.payload).sql}, ?, ?, ?, ?)`,
        seq,
        item.delivery_id,
        item.event_id,
        item.event_type,
        item.payload,
        ...orderKey(cfg, item.payload).args,
        now,
        item.created_at,
        item.attempt_count ?? 0,
        cfg.ordering === "none" ? 1 : 0,
      );
    }
    this.rehead(this.sql.exec<{ order_key: string }>("SELECT order_key FROM queue WHERE seq = ?", seq).one().order_key);
    return seq;
  }

  /** Every waiting row due later is due at `now` instead (their order is their numbers', untouched); answers how many. */
  dueNow(now: number): number {
    const w = this.waiting();
    return this.sql.exec(`UPDATE queue SET next_at = ? WHERE next_at > ? AND ${w.where}`, now, now, ...w.args).rowsWritten;
  }

  /** waiting → sent: the receiver took these rows; their log is on its way. */
  markSent(rows: Row[]): void {
    for (const r of rows) {
      this.#inFlight.delete(r.seq);
      this.#sent.add(r.seq);
    }
    // A keyed line's head moves on to its next row. A `none` row is a line of its own: it keeps its flag while sent (the
    // queries for rows to send leave sent rows out), and gives it up when it is done (finish), a page at a time.
    for (const key of keysOf(rows)) if (!isAlone(key)) this.rehead(key);
  }

  /** A failed attempt with attempts left, or a hold: the rows stay waiting, with one more attempt, due at `nextAt`. */
  retry(rows: Row[], nextAt: number, batchId: string | null): void {
    for (const r of rows) this.#inFlight.delete(r.seq);
    // A batch is written to its rows only when it has to be retried, so that the retry sends the same rows under the same id.
    this.sql.exec(
      "UPDATE queue SET attempts = attempts + 1, next_at = ?, batch_id = ? WHERE seq IN (SELECT value FROM json_each(?))",
      nextAt,
      batchId,
      JSON.stringify(rows.map((r) => r.seq)),
    );
  }

  /**
   * → done. Called in the commit that makes the rows' log safe (after D1 took it, or with it in the outbox). Moves the
   * mark up to just below the lowest row still owed, deletes finished rows left above it, keeps at most MAX_SPARES,
   * and writes the marks. Rows that were waiting hand their lines to the next row.
   */
  finish(seqs: number[]): void {
    if (seqs.length === 0) return;
    const list = JSON.stringify(seqs);
    // Rows that were waiting (given up, expired, cancelled) hand their lines on; sent ones already did.
    const waiting = seqs.filter((seq) => !this.#sent.has(seq));
    const keys =
      waiting.length === 0
        ? new Set<string>()
        : new Set(
            this.sql
              .exec<{ order_key: string }>(
                "SELECT DISTINCT order_key FROM queue WHERE seq IN (SELECT value FROM json_each(?)) AND order_key <> ''",
                JSON.stringify(waiting),
              )
              .toArray()
              .map((r) => r.order_key),
          );
    const sent = seqs.filter((seq) => this.#sent.has(seq));
    for (const s of seqs) {
      this.#sent.delete(s);
      this.#inFlight.delete(s);
    }
    // A sent `none` row gives up the head flag it kept while sent (markSent).
    if (sent.length > 0) this.sql.exec("UPDATE queue SET head = 0 WHERE head = 1 AND seq IN (SELECT value FROM json_each(?))", JSON.stringify(sent));
    const lowestOwed = this.sql
      .exec<{ s: number | null }>("SELECT min(seq) AS s FROM queue WHERE seq > ? AND seq NOT IN (SELECT value FROM json_each(?))", this.#done, list)
      .one().s;
    const done = lowestOwed === null ? this.#last : lowestOwed - 1;
    const above = seqs.filter((s) => s > done);
    if (above.length > 0) this.sql.exec("DELETE FROM queue WHERE seq IN (SELECT value FROM json_each(?))", JSON.stringify(above));
    const moved = done > this.#done;
    if (moved) {
      this.#spares += this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM queue WHERE seq > ? AND seq <= ?", this.#done, done).one().n;
      this.#done = done;
    }
    const trimmed = this.#trimSpares();
    if (moved || above.length > 0 || trimmed) this.#writeMarks();
    for (const key of keys) this.rehead(key);
  }

  /** Deletes every row (the webhook is deleted); the numbering is kept. */
  clear(): void {
    this.sql.exec("DELETE FROM queue");
    this.#sent.clear();
    this.#inFlight.clear();
    this.#spares = 0;
    this.#spareSeqs = [];
    this.#done = this.#last;
    this.#writeMarks();
  }

  /** Caps every owed row's expiry at `ms` after its event arrived (the webhook went off: held rows expire then). */
  capExpiry(ms: number): void {
    this.sql.exec("UPDATE queue SET expires_at = created_at + ? WHERE seq > ? AND (expires_at IS NULL OR expires_at > created_at + ?)", ms, this.#done, ms);
    this.#mayExpire = true;
  }

  /** Recomputes every row's order key (the webhook's ordering changed) and every head. */
  rekey(cfg: QueueConfig): void {
    const key = orderKey(cfg);
    this.sql.exec(`UPDATE queue SET order_key = ${key.sql} WHERE seq > ?`, ...key.args, this.#done);
    this.recomputeHeads();
  }

  /** Keeps `head` on exactly the lowest waiting row of one keyed line (strict, key '', has no heads). */
  rehead(key: string): void {
    if (key === "") return;
    const w = this.waiting();
    const min = this.sql.exec<{ s: number | null }>(`SELECT min(seq) AS s FROM queue WHERE order_key = ? AND ${w.where}`, key, ...w.args).one().s;
    this.sql.exec("UPDATE queue SET head = 0 WHERE order_key = ? AND head = 1 AND seq IS NOT ?", key, min);
    if (min !== null) this.sql.exec("UPDATE queue SET head = 1 WHERE seq = ? AND head = 0", min);
  }

  /** Sets every head from scratch: the lowest waiting row of each keyed line. Only rows whose flag changes are written. */
  recomputeHeads(): void {
    const w = this.waiting();
    const heads = `SELECT min(seq) FROM queue WHERE order_key <> '' AND ${w.where} GROUP BY order_key`;
    this.sql.exec(`UPDATE queue SET head = 0 WHERE head = 1 AND (order_key = '' OR seq NOT IN (${heads}))`, ...w.args);
    this.sql.exec(`UPDATE queue SET head = 1 WHERE head = 0 AND seq IN (${heads})`, ...w.args);
  }

  /** Lowers the mark to `to` (a done row goes back to waiting): the spares above it are deleted, but `keep`. */
  #lowerMark(to: number, keep: number | undefined): void {
    this.sql.exec("DELETE FROM queue WHERE seq > ? AND seq <= ? AND seq IS NOT ?", to, this.#done, keep ?? null);
    this.#done = to;
    this.#spares = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM queue WHERE seq <= ?", to).one().n;
    this.#spareSeqs = [];
    this.#writeMarks();
  }

  /** Deletes the lowest spares past MAX_SPARES; true if it deleted any. */
  #trimSpares(): boolean {
    const excess = this.#spares - MAX_SPARES;
    if (excess <= 0) return false;
    this.sql.exec("DELETE FROM queue WHERE seq IN (SELECT seq FROM queue WHERE seq <= ? ORDER BY seq LIMIT ?)", this.#done, excess);
    this.#spares -= excess;
    // The lowest went, so the page read of them is stale.
    this.#spareSeqs = [];
    return true;
  }

  #writeMarks(): void {
    writeMeta(this.sql, "marks", { done: this.#done, top: this.#last });
  }
}

/** Whether an order key is a `none` row's, a line of that one row (order-keys.ts). */
function isAlone(key: string): boolean {
  return key.startsWith("n:");
}

function keysOf(rows: Row[]): Set<string> {
  return new Set(rows.map((r) => r.order_key).filter((k) => k !== ""));
}
