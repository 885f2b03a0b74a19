import fc from "fast-check";
import { beforeAll, describe, expect, test, vi } from "vitest";
import type { QueueItem } from "../../src/delivery/contract";
import { Journal } from "../../src/delivery/journal";
import { dueUnits, expiredRows, SEND_SLOTS, type Unit } from "../../src/delivery/lines";
import type { LogStatement } from "../../src/delivery/log";
import type { Row } from "../../src/delivery/rows";
import type { LogSink } from "../../src/delivery/seams";
import { MAX_SPARES, QueueStore } from "../../src/delivery/store";
import type { QueueConfig } from "../../src/webhooks/types";
import { nodeSql } from "./sqlite";

// The queue's store and log pipeline against a simple model, outside workerd: random sequences of hand-offs, sends
// taken up while others are still going and settled in any order with random outcomes, log flushes (D1 up or down),
// redeliveries, expiries, wake-ups and crashes. After every step: no sequence number is given twice, no row is sent
// twice at once, each line goes out in order, nothing handed over is lost, spares stay bounded.

type Ordering = QueueConfig["ordering"];

function config(ordering: Ordering): QueueConfig {
  return {
    webhook_id: "wh_prop",
    account_id: "acc_prop",
    url: "https://receiver.test/",
    active: true,
    deleted: false,
    headers: {},
    ordering,
    ordering_key: ordering === "key" ? "data.k" : null,
    retry: { max_attempts: 3, base_delay_ms: 100, multiplier: 1, max_delay_ms: 100 },
    timeout_ms: 1000,
    rate_limit_per_s: null,
    batch: null,
    format: "json",
    ttl_s: null,
    keys: [],
    log_shard: 0,
    updated_at: 1,
  };
}

/** D1 as the log sees it: which deliveries it has an outcome for, and whether it is answering. */
class FakeD1 implements LogSink {
  up = true;
  readonly logged = new Set<string>();
  async write(statements: LogStatement[]): Promise<void> {
    if (!this.up) throw new Error("D1 down (test)");
    for (const s of statements) {
      // Every log statement of a delivery binds its id; an outcome is one that is not a pending write.
      if (/DO NOTHING/.test(s.sql)) continue;
      for (const p of s.params) if (typeof p === "string" && p.startsWith("dlv_")) this.logged.add(p);
    }
  }
  async finished(): Promise<string[]> {
    return [];
  }
}

const Op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("add" as const), n: fc.integer({ min: 1, max: 4 }), key: fc.integer({ min: 0, max: 2 }) }) },
  // A burst deeper than the spares a queue keeps, so that the bound is reached.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("add" as const), n: fc.constant(MAX_SPARES + 20), key: fc.integer({ min: 0, max: 2 }) }) },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("wave" as const), outcomes: fc.array(fc.constantFrom("ok", "fail", "give-up"), { minLength: 6, maxLength: 6 }) }),
  },
  // The scheduler's slots: sends taken up while others are still going, and outcomes in any order.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("dispatch" as const), room: fc.integer({ min: 1, max: SEND_SLOTS }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("settle" as const), pick: fc.nat(), outcome: fc.constantFrom("ok", "fail", "give-up") }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("flush" as const), up: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("redeliver" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("expire" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const) }) },
);

type Step = typeof Op extends fc.Arbitrary<infer T> ? T : never;

async function runScenario(ordering: Ordering, ops: Step[]): Promise<void> {
  const cfg = config(ordering);
  const sql = nodeSql();
  const d1 = new FakeD1();
  let store = new QueueStore(sql);
  let journal = new Journal(sql, store, d1);
  const now = () => 1_000_000;

  // The model: every delivery handed over, its key and the number it was given; and which ones are settled for good.
  const handed = new Map<string, { key: string; seq: number }>();
  const bySeq = new Map<number, string>();
  const settled = new Set<string>();
  let made = 0;

  const owedRows = (): Row[] => sql.exec<Row>("SELECT * FROM queue WHERE seq > ? ORDER BY seq", store.done).toArray();
  const outboxText = () =>
    sql
      .exec<{ statements: string }>("SELECT statements FROM outbox")
      .toArray()
      .map((r) => r.statements)
      .join("\n");

  const numbered = (id: string, seq: number) => {
    const holder = bySeq.get(seq);
    expect(holder === undefined || holder === id, `number ${seq} given to ${holder} and to ${id}`).toBe(true);
    bySeq.set(seq, id);
  };

  const check = () => {
    const owed = owedRows();
    const owedIds = new Set(owed.map((r) => r.delivery_id));
    const outbox = outboxText();
    for (const [id] of handed) {
      // Nothing lost: a delivery is owed by the queue (it will be sent), or its outcome is safe in D1 or the outbox.
      const safe = owedIds.has(id) || d1.logged.has(id) || outbox.includes(JSON.stringify(id));
      expect(safe, `${id} is neither owed nor logged`).toBe(true);
    }
    // Every row at or below the mark is done: its outcome is safe.
    for (const r of sql.exec<Row>("SELECT * FROM queue WHERE seq <= ?", store.done)) {
      expect(d1.logged.has(r.delivery_id) || outbox.includes(JSON.stringify(r.delivery_id)), `spare ${r.seq} not logged`).toBe(true);
    }
    expect(store.spares).toBeLessThanOrEqual(MAX_SPARES);
    expect(sql.exec<{ n: number }>("SELECT count(*) AS n FROM queue WHERE seq <= ?", store.done).one().n).toBe(store.spares);
    // Line heads: the lowest waiting row of each keyed line; every owed row of `none` ordering (each a line alone).
    const flagged = sql
      .exec<{ seq: number }>("SELECT seq FROM queue WHERE head = 1 ORDER BY seq")
      .toArray()
      .map((r) => r.seq);
    if (ordering === "key") {
      const w = store.waiting();
      const lowest = sql
        .exec<{ s: number }>(`SELECT min(seq) AS s FROM queue WHERE order_key <> '' AND ${w.where} GROUP BY order_key ORDER BY 1`, ...w.args)
        .toArray()
        .map((r) => r.s);
      expect(flagged).toEqual(lowest);
    } else if (ordering === "none") {
      expect(flagged).toEqual(owedRows().map((r) => r.seq));
    } else {
      expect(flagged).toEqual([]);
    }
  };

  // Units taken for a send whose outcome has not come yet (the scheduler's slots).
  let flying: Unit[] = [];
  const seqsFlying = () => new Set(flying.flatMap((u) => u.rows.map((r) => r.seq)));

  /** Units chosen to go now: no row already being sent, and nothing lower of the same line waiting or in flight. */
  const expectInOrder = (units: Unit[]) => {
    const busy = seqsFlying();
    const waiting = owedRows().filter((r) => !store.isSent(r.seq));
    const lineOf = (r: Row) => (ordering === "strict" ? "" : handed.get(r.delivery_id)!.key);
    for (const unit of units) {
      for (const row of unit.rows) {
        expect(busy.has(row.seq), `row ${row.seq} chosen while it is being sent`).toBe(false);
        const earlier = waiting.filter((w) => w.seq < row.seq && lineOf(w) === lineOf(row));
        expect(
          earlier.map((w) => w.seq),
          `row ${row.seq} sent before its line's earlier rows`,
        ).toEqual([]);
      }
    }
  };

  /** A send's outcome, applied as the attempt applies it. */
  const settle = (unit: Unit, outcome: "ok" | "fail" | "give-up") => {
    const statements: LogStatement[] = unit.rows.map((r) => ({ sql: "UPSERT outcome", params: [r.delivery_id] }));
    if (outcome === "ok") journal.delivered(unit.rows, statements);
    else if (outcome === "fail") {
      store.retry(unit.rows, now(), unit.batchId);
      journal.record(statements);
      journal.logged(unit.rows);
    } else {
      journal.record(statements);
      journal.logged(unit.rows);
      store.finish(unit.rows.map((r) => r.seq));
    }
  };

  let bursts = 0;
  for (const op of ops) {
    // One burst past the spares' bound a run is enough to reach it, and keeps a run quick.
    if (op.kind === "add" && op.n > MAX_SPARES && bursts++ > 0) continue;
    switch (op.kind) {
      case "add": {
        for (let i = 0; i < op.n; i++) {
          const id = `dlv_${String(made++).padStart(4, "0")}`;
          const key = ordering === "none" ? id : `k${op.key}`;
          const item: QueueItem = {
            delivery_id: id,
            event_id: `evt_${id}`,
            event_type: "workflow.completed",
            payload: JSON.stringify({ data: { k: key } }),
            created_at: now(),
          };
          const seq = store.add(cfg, item, { nextAt: 0, expiresAt: null, attempts: 0 });
          journal.handed(seq, now());
          numbered(id, seq);
          handed.set(id, { key, seq });
        }
        break;
      }
      case "wave": {
        const units = dueUnits(store, cfg, now(), () => "bat_x", SEND_SLOTS - flying.length);
        expectInOrder(units);
        for (const [i, unit] of units.entries()) settle(unit, op.outcomes[i]);
        break;
      }
      case "dispatch": {
        const units = dueUnits(store, cfg, now(), () => "bat_x", Math.min(op.room, SEND_SLOTS - flying.length));
        expectInOrder(units);
        for (const unit of units) {
          store.dispatch(unit.rows);
          flying.push(unit);
        }
        break;
      }
      case "settle": {
        if (flying.length === 0) break;
        const [unit] = flying.splice(op.pick % flying.length, 1);
        settle(unit, op.outcome);
        break;
      }
      case "flush":
        d1.up = op.up;
        await journal.flush();
        d1.up = true;
        break;
      case "redeliver": {
        const done = [...handed.keys()].filter((id) => d1.logged.has(id) && !owedRows().some((r) => r.delivery_id === id));
        if (done.length === 0) break;
        const id = done[op.pick % done.length];
        const seq = store.reopen(
          cfg,
          {
            delivery_id: id,
            event_id: `evt_${id}`,
            event_type: "workflow.completed",
            payload: JSON.stringify({ data: { k: handed.get(id)!.key } }),
            created_at: now(),
            sequence: handed.get(id)!.seq,
          },
          now(),
        );
        // A redelivery goes out under the number it was first sent with.
        expect(seq).toBe(handed.get(id)!.seq);
        d1.logged.delete(id);
        break;
      }
      case "expire": {
        const waiting = owedRows().filter((r) => !store.isSent(r.seq));
        if (waiting.length === 0) break;
        const row = waiting[op.pick % waiting.length];
        sql.exec("UPDATE queue SET expires_at = 0 WHERE seq = ?", row.seq);
        journal.close(cfg, expiredRows(store, now(), 10), "expired", "ttl", now());
        break;
      }
      case "crash":
        // The process dies: memory is gone (the sends under way with it), storage stays.
        store = new QueueStore(sql);
        journal = new Journal(sql, store, d1);
        flying = [];
        break;
    }
    check();
    for (const [id] of handed) if (d1.logged.has(id)) settled.add(id);
  }

  // Drain: with D1 up and every send succeeding, everything handed over ends logged.
  for (const unit of flying.splice(0)) settle(unit, "ok");
  for (;;) {
    await journal.flush();
    const units = dueUnits(store, cfg, now(), () => "bat_x");
    if (units.length === 0) break;
    for (const unit of units) {
      journal.delivered(
        unit.rows,
        unit.rows.map((r) => ({ sql: "UPSERT outcome", params: [r.delivery_id] })),
      );
    }
    await journal.flush();
  }
  check();
  expect(owedRows()).toEqual([]);
  for (const [id] of handed) expect(d1.logged.has(id) || outboxText().includes(JSON.stringify(id)), id).toBe(true);
}

describe("the queue's store against a model", () => {
  // The journal says in the log each time D1 refuses a write; here that is most runs.
  beforeAll(() => {
    vi.spyOn(console, "error").mockImplementation(() => {});
  });

  test.each(["strict", "key", "none"] as const)(
    "%s: numbering, order, nothing lost and bounded spares through random runs",
    async (ordering) => {
      await fc.assert(
        fc.asyncProperty(fc.array(Op, { minLength: 1, maxLength: 60 }), (ops) => runScenario(ordering, ops)),
        { numRuns: 60 },
      );
      // Sixty random runs of up to sixty steps each, some of them bursts past the spares' bound: seconds alone, longer
      // beside the other suites on two cores.
    },
    120_000,
  );
});
