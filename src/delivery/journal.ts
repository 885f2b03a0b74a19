import type { QueueConfig } from "../webhooks/types";
import { closedStatement, type LogStatement, pendingStatement } from "./log";
import type { Row } from "./rows";
import type { LogSink } from "./seams";
import type { QueueStore } from "./store";

/**
 * The log pipeline: how what the queue does reaches D1, and why a D1 that is slow or down never holds delivery up.
 *
 * - A delivered row's log waits in memory (`sent` in the store) and goes to D1 a page at a time; once D1 has it,
 *   the row is done. A process that dies first sends the row again: its log is never lost.
 * - Every other outcome (a failed attempt, a retry, an expiry, a cancel) is written to the outbox in the same storage
 *   commit as the state change it records, and reaches D1 from there, oldest first.
 * - When D1 refuses, the sent rows' log moves to the outbox (and the rows go done), and the outbox waits for a later
 *   flush. Nothing is kept in memory across a failure.
 * - A delivery's D1 row is written by its outcome; one that has to wait is written `pending` instead, once it has
 *   waited HOLD_MS (or at once when nothing will send it soon), so the API shows it.
 */

/** A delivery still queued this long after its hand-off is written to D1 as pending. */
export const HOLD_MS = 2_000;
/** D1 batches and outbox rows are cut to about this many characters: a Durable Object's SQLite row stops at 2 MB. */
const CHUNK_CHARS = 1_000_000;
/** Rows written pending per statement batch after a wake-up. */
const PAGE = 200;

interface SentLog {
  seqs: number[];
  statements: LogStatement[];
  size: number;
}

export class Journal {
  readonly #sql: SqlStorage;
  readonly #store: QueueStore;
  readonly #sink: LogSink;
  #outbox: number;
  #sent: SentLog[] = [];
  /** Rows handed over in this process whose D1 row may not exist yet, with when they were handed over. */
  readonly #handed = new Map<number, number>();
  /** After a wake-up: rows above this number and up to `#recoveredTo` may be missing from D1. */
  #recoveredFrom: number;
  readonly #recoveredTo: number;
  #flushing: Promise<boolean> | null = null;

  constructor(sql: SqlStorage, store: QueueStore, sink: LogSink) {
    this.#sql = sql;
    this.#store = store;
    this.#sink = sink;
    sql.exec("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, statements TEXT NOT NULL)");
    this.#outbox = sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
    this.#recoveredFrom = store.done;
    this.#recoveredTo = store.last ?? 0;
  }

  /** Log statements waiting in the outbox. */
  get outbox(): number {
    return this.#outbox;
  }

  /** Whether the log has anything to write. */
  get busy(): boolean {
    return this.#outbox > 0 || this.#sent.length > 0;
  }

  /** Sent rows whose log waits in memory. */
  get sentRows(): number {
    return this.#sent.reduce((n, e) => n + e.seqs.length, 0);
  }

  /**
   * Records statements in the outbox, in the same synchronous stretch as the state change they describe, so the two
   * are committed together.
   */
  record(statements: LogStatement[]): void {
    for (const chunk of chunks(statements)) {
      this.#sql.exec("INSERT INTO outbox (statements) VALUES (?)", JSON.stringify(chunk));
      this.#outbox++;
    }
  }

  /** The rows were delivered: their log waits here for the next flush. */
  delivered(rows: Row[], statements: LogStatement[]): void {
    this.#store.markSent(rows);
    this.#sent.push({ seqs: rows.map((r) => r.seq), statements, size: size(statements) });
    this.logged(rows);
  }

  /** A row handed over now, which D1 has not heard of. */
  handed(seq: number, at: number): void {
    this.#handed.set(seq, at);
  }

  /** These rows' outcome creates their D1 row: they need no pending write. */
  logged(rows: { seq: number }[]): void {
    for (const r of rows) this.#handed.delete(r.seq);
  }

  /** Whether a statement in the outbox names this delivery (its outcome waits there for D1). */
  inOutbox(deliveryId: string): boolean {
    return this.#outbox > 0 && this.#sql.exec("SELECT 1 FROM outbox WHERE instr(statements, ?) > 0 LIMIT 1", JSON.stringify(deliveryId)).toArray().length > 0;
  }

  /** Closes waiting rows without an attempt (expired, cancelled): logged in the outbox, done, in one commit. */
  close(cfg: QueueConfig, rows: Row[], status: "expired" | "cancelled", error: string | null, now: number): void {
    if (rows.length === 0) return;
    this.record(rows.map((r) => closedStatement(cfg.webhook_id, cfg.account_id, r, status, error, now)));
    this.logged(rows);
    this.#store.finish(rows.map((r) => r.seq));
  }

  /**
   * Writes the log to D1: the outbox first, oldest first, then the sent rows' log, a chunk per batch; each sent row
   * is done once D1 has its log. Stops at the first failure, and then the rest moves to the outbox. One flush at a
   * time, so an older statement never lands after a newer one. True when D1 took everything.
   */
  async flush(): Promise<boolean> {
    while (this.#flushing) await this.#flushing;
    const run = (async () => {
      const ok = (await this.#drainOutbox()) && (await this.#drainSent());
      if (!ok) this.spill();
      return ok;
    })();
    this.#flushing = run;
    try {
      return await run;
    } finally {
      this.#flushing = null;
    }
  }

  /** Moves the sent rows' log into the outbox and the rows to done, in one commit (D1 is refusing). */
  spill(): void {
    for (const entry of this.#sent.splice(0)) {
      this.record(entry.statements);
      this.#store.finish(entry.seqs);
    }
  }

  /**
   * Writes waiting rows that D1 has not heard of as pending: all of them, or those handed over HOLD_MS ago or more
   * (rows a wake-up found count as that old). Statements D1 refuses wait in the outbox.
   */
  async writePending(cfg: QueueConfig, all: boolean, now: number): Promise<void> {
    for (const rows of this.#unlogged(all, now)) {
      const statements = rows.map((r) => pendingStatement(cfg.webhook_id, cfg.account_id, r, r.next_at, now));
      if (statements.length > 0 && !(await this.#write(statements))) this.record(statements);
    }
  }

  /**
   * Closes every waiting row D1 has not heard of as `status` (the webhook is deleted: the route cancels the rows D1
   * has), in the outbox; the caller then lets go of the rows.
   */
  closeUnlogged(cfg: QueueConfig, status: "cancelled", now: number): void {
    for (const rows of this.#unlogged(true, now)) {
      this.record(rows.map((r) => closedStatement(cfg.webhook_id, cfg.account_id, r, status, null, now)));
    }
  }

  /** Waiting rows D1 may not have, a page at a time; each is taken off the list as it is given out. */
  *#unlogged(all: boolean, now: number): Generator<Row[]> {
    const seqs: number[] = [];
    for (const [seq, at] of this.#handed) {
      if (!this.#store.isSent(seq) && (all || at <= now - HOLD_MS)) seqs.push(seq);
    }
    for (const seq of seqs) this.#handed.delete(seq);
    for (let i = 0; i < seqs.length; i += PAGE) yield this.#store.rows(seqs.slice(i, i + PAGE));
    while (this.#recoveredFrom < this.#recoveredTo) {
      const rows = this.#sql
        .exec<Row>(
          "SELECT * FROM queue WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
          Math.max(this.#recoveredFrom, this.#store.done),
          this.#recoveredTo,
          PAGE,
        )
        .toArray();
      this.#recoveredFrom = rows.length < PAGE ? this.#recoveredTo : rows[rows.length - 1].seq;
      yield rows.filter((r) => !this.#store.isSent(r.seq));
    }
  }

  async #drainSent(): Promise<boolean> {
    while (this.#sent.length > 0) {
      const n = firstChunk(this.#sent.map((e) => e.size));
      const taken = this.#sent.slice(0, n);
      if (!(await this.#write(taken.flatMap((e) => e.statements)))) return false;
      // Sends that finished during the write were appended behind these; only what was written goes done.
      this.#sent.splice(0, n);
      this.#store.finish(taken.flatMap((e) => e.seqs));
    }
    return true;
  }

  async #drainOutbox(): Promise<boolean> {
    while (this.#outbox > 0) {
      const page = this.#sql.exec<{ id: number; statements: string }>("SELECT id, statements FROM outbox ORDER BY id LIMIT 20").toArray();
      if (page.length === 0) {
        this.#outbox = 0;
        break;
      }
      const taken = page.slice(0, firstChunk(page.map((r) => r.statements.length)));
      if (!(await this.#write(taken.flatMap((r) => JSON.parse(r.statements) as LogStatement[])))) return false;
      this.#sql.exec("DELETE FROM outbox WHERE id <= ?", taken[taken.length - 1].id);
      this.#outbox = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
    }
    return true;
  }

  /** One D1 batch; false (and said in the log) when D1 refuses it. */
  async #write(statements: LogStatement[]): Promise<boolean> {
    try {
      await this.#sink.write(statements);
      return true;
    } catch (err) {
      console.error("delivery log cannot reach D1; it waits in the outbox", err instanceof Error ? err.message : String(err));
      return false;
    }
  }
}

/** About how many characters a run of statements takes (what the chunking measures). */
function size(statements: LogStatement[]): number {
  return statements.reduce((t, s) => t + s.sql.length + s.params.reduce<number>((u, p) => u + (typeof p === "string" ? p.length : 8), 0), 0);
}

/** How many of the leading sizes fit in CHUNK_CHARS together (always at least one). */
function firstChunk(sizes: number[]): number {
  let n = 0;
  let total = 0;
  while (n < sizes.length && (n === 0 || total + sizes[n] <= CHUNK_CHARS)) total += sizes[n++];
  return n;
}

/** Splits statements, in order, into runs of about CHUNK_CHARS (a larger single statement is a run of its own). */
function chunks(statements: LogStatement[]): LogStatement[][] {
  const out: LogStatement[][] = [];
  let current: LogStatement[] = [];
  let total = 0;
  for (const s of statements) {
    const n = size([s]);
    if (current.length > 0 && total + n > CHUNK_CHARS) {
      out.push(current);
      current = [];
      total = 0;
    }
    current.push(s);
    total += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}
