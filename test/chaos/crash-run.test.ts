import { afterAll, beforeAll, expect, test } from "vitest";
import { type DevServer, startDevServer } from "../support/dev-server";
import {
  completedData,
  createWebhook,
  expectStatus,
  FAST_RETRY,
  ingestBatchUntilAccepted,
  listAll,
  newAccount,
  sleep,
  type Tally,
  tally,
  triggerCron,
  waitFor,
} from "../support/e2e-kit";
import { type Behaviour, type Hit, Sink } from "../support/sink";
import { deliveryDetail, record, saveServerLog } from "./kit";

// 2,000 events across 20 webhooks (12 strict, 4 keyed, 4 unordered), ingested by 20 platform clients that
// resend the same id until accepted, while `wrangler dev` is killed with SIGKILL at random points of the run
// (CHAOS_KILLS times, default 4) and restarted on the same state. Then: every event delivered at least once,
// duplicates only as the same message, strict and keyed webhooks in order, every event stored once in D1, no
// delivery left pending, no attempt record missing.

const FILE = "crash-run";
const WEBHOOKS = 20;
const PER_WEBHOOK = 100;
/** Events per ingest request (the batch route), so 20 clients do not saturate a shared 2-core machine. */
const BATCH = 5;
const KILLS = Number(process.env.CHAOS_KILLS ?? 4);
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
/** The sweeper re-hands only deliveries overdue by this long (src/cron.ts SWEEP_AFTER_MS). */
const SWEEP_AFTER_MS = 2 * 60_000;

let server: DevServer;
let sink: Sink;

function summary(values: number[]): { n: number; p50: number | null; max: number | null } {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: sorted.length ? sorted[Math.floor(sorted.length / 2)] : null, max: sorted.length ? sorted[sorted.length - 1] : null };
}

/** mulberry32: kill points reproducible from CHAOS_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  [server, sink] = await Promise.all([startDevServer(), Sink.start()]);
});
afterAll(async () => {
  saveServerLog(FILE, server);
  await server?.stop("SIGKILL");
  server?.cleanup();
  await sink?.down();
});

interface Lane {
  index: number;
  ordering: "strict" | "key" | "none";
  account: { id: string; key: string };
  webhookId: string;
  path: string;
  sent: string[];
  keyOf: Map<string, string>;
  tries: number;
}

/** Receivers: most answer at once, some fail one request in seven, some are slow. */
function behaviourFor(i: number): Behaviour {
  if (i % 4 === 1) return (_h, n) => (n % 7 === 0 ? { status: 500, body: "flaky" } : { status: 200 });
  if (i % 4 === 2) return () => ({ status: 200, delayMs: 40 });
  return () => ({ status: 200 });
}

function uniqueArrivals(lanes: Lane[]): number {
  let n = 0;
  for (const lane of lanes) n += new Set(sink.received(lane.path).map((h) => h.id)).size;
  return n;
}

/** Ordering checks per lane: strict as one line, keyed per execution_id, none not at all. */
function laneTally(lane: Lane): Tally & { keyOutOfOrder: number } {
  const hits = sink.received(lane.path);
  const whole = tally(hits, lane.sent, lane.ordering === "strict");
  let keyOutOfOrder = 0;
  if (lane.ordering === "key") {
    const keys = new Set(lane.keyOf.values());
    for (const key of keys) {
      const ids = lane.sent.filter((id) => lane.keyOf.get(id) === key);
      const set = new Set(ids);
      const t = tally(
        hits.filter((h: Hit) => set.has(h.id)),
        ids,
        true,
      );
      keyOutOfOrder += t.outOfOrder.length + t.sequenceBackwards;
    }
  }
  return { ...whole, keyOutOfOrder };
}

test(`${WEBHOOKS * PER_WEBHOOK} events across ${WEBHOOKS} webhooks, SIGKILL ${KILLS} times at random points: none lost, order kept, nothing stuck`, async () => {
  const random = prng(SEED);
  const runStarted = Date.now();
  const lanes: Lane[] = [];
  for (let i = 0; i < WEBHOOKS; i++) {
    const ordering = i < 12 ? "strict" : i < 16 ? "key" : "none";
    const account = await newAccount(server, `crash-${i}`);
    const path = `lane${i}`;
    const webhook = await createWebhook(server, account.key, {
      url: sink.path(path, behaviourFor(i)),
      events: ["workflow.completed"],
      ordering,
      ordering_key: ordering === "key" ? "data.execution_id" : undefined,
      timeout_ms: 5000,
      retry: FAST_RETRY,
    });
    lanes.push({ index: i, ordering, account, webhookId: webhook.id, path, sent: [], keyOf: new Map(), tries: 0 });
  }

  // The clients: one per webhook, sending its events in batches of BATCH, each batch again (same ids) until all
  // of it is accepted; `sent` is the ingestion order.
  let ingesting = true;
  let lastAcceptedAt = Date.now();
  const clients = Promise.all(
    lanes.map(async (lane) => {
      for (let k = 0; k < PER_WEBHOOK; k += BATCH) {
        const events = Array.from({ length: Math.min(BATCH, PER_WEBHOOK - k) }, (_, j) => {
          const n = k + j;
          const executionId = `exe_${lane.index}_${n % 5}`;
          const id = `crash_${lane.index}_${String(n).padStart(3, "0")}`;
          lane.keyOf.set(id, executionId);
          return { id, type: "workflow.completed", account_id: lane.account.id, data: completedData(n, { execution_id: executionId }) };
        });
        const { tries } = await ingestBatchUntilAccepted(server, events);
        lastAcceptedAt = Date.now();
        for (const e of events) lane.sent.push(e.id);
        lane.tries += tries - 1;
      }
    }),
  ).finally(() => {
    ingesting = false;
  });

  // The killer: one kill in each of KILLS equal slices of the run's progress (arrivals), at a random point.
  const total = WEBHOOKS * PER_WEBHOOK;
  const kills: { at: number; atArrivals: number; duringIngest: boolean; restartMs: number }[] = [];
  for (let k = 0; k < KILLS; k++) {
    const slice = 0.9 / KILLS;
    const threshold = Math.floor(total * (0.05 + slice * k + slice * random() * 0.8));
    await waitFor(() => uniqueArrivals(lanes) >= threshold, 180_000, 50);
    await sleep(Math.floor(random() * 300));
    const atArrivals = uniqueArrivals(lanes);
    const duringIngest = ingesting;
    const at = Date.now();
    await server.stop("SIGKILL");
    const down = Date.now();
    await sleep(Math.floor(random() * 1000));
    await server.restart();
    kills.push({ at, atArrivals, duringIngest, restartMs: Date.now() - down });
  }
  await clients;

  /** Events not yet arrived at their receiver, over all lanes. */
  const missing = () => lanes.reduce((n, l) => n + PER_WEBHOOK - laneTally(l).arrived, 0);
  let drained = await waitFor(() => missing() === 0, 90_000, 500);
  let handoffSweep: { triggeredAfterMs: number; missingBefore: number; missingAfter: number } | null = null;
  if (!drained) {
    // A queue whose process died in a run that was keeping up has no alarm set: what it had in flight goes out with
    // the stream's next hand-off or, once the stream has ended, the cron sweep of events over SWEEP_AFTER_MS old.
    const missingBefore = missing();
    await sleep(Math.max(0, lastAcceptedAt + SWEEP_AFTER_MS + 5_000 - Date.now()));
    await triggerCron(server);
    drained = await waitFor(() => missing() === 0, 30_000, 500);
    handoffSweep = { triggeredAfterMs: Date.now() - runStarted, missingBefore, missingAfter: missing() };
  }
  const runMs = Date.now() - runStarted;
  const tallies = lanes.map(laneTally);

  // The log: every event stored once per account; no delivery pending; attempt records without gaps.
  const pendingOf = async () =>
    (await Promise.all(lanes.map((l) => listAll(server, l.account.key, `/v1/webhooks/${l.webhookId}/deliveries?status=pending`)))).flat();
  let pending = await waitFor(
    async () => {
      const p = await pendingOf();
      return p.length === 0 ? p : null;
    },
    20_000,
    1000,
  );
  let sweeper: { triggeredAfterMs: number; pendingBefore: number; pendingAfter: number } | null = null;
  if (!pending) {
    // Give the sweeper its chance: it picks up pending deliveries overdue by SWEEP_AFTER_MS.
    const before = await pendingOf();
    const overdueAt = Math.max(...before.map((d) => Date.parse(d.next_attempt_at ?? d.created_at))) + SWEEP_AFTER_MS + 5_000;
    await sleep(Math.max(0, overdueAt - Date.now()));
    await triggerCron(server);
    pending = await waitFor(
      async () => {
        const p = await pendingOf();
        return p.length === 0 ? p : null;
      },
      15_000,
      1000,
    );
    const after = pending ?? (await pendingOf());
    sweeper = { triggeredAfterMs: Date.now() - runStarted, pendingBefore: before.length, pendingAfter: after.length };
  }
  const stillPending = pending ?? (await pendingOf());

  let eventsStored = 0;
  let eventsMissing = 0;
  let eventsDuplicated = 0;
  let attemptGaps = 0;
  let attemptsBehindReceiver = 0;
  const stuck: { delivery: string; event: string; attemptCount: number; acked: number }[] = [];
  for (const lane of lanes) {
    const events = await listAll(server, lane.account.key, "/v1/events");
    const ids = events.map((e) => e.id);
    eventsStored += ids.length;
    eventsDuplicated += ids.length - new Set(ids).size;
    eventsMissing += lane.sent.filter((id) => !ids.includes(id)).length;

    const deliveries = await listAll(server, lane.account.key, `/v1/webhooks/${lane.webhookId}/deliveries`);
    const hits = sink.received(lane.path);
    for (const d of deliveries) {
      const mine = hits.filter((h) => h.delivery === d.id);
      const maxSeen = Math.max(0, ...mine.map((h) => h.attempt));
      if (d.attempt_count < maxSeen) attemptsBehindReceiver++;
      if (d.status === "pending")
        stuck.push({ delivery: d.id, event: d.event_id, attemptCount: d.attempt_count, acked: mine.filter((h) => h.answered === 200).length });
      if (d.attempt_count > 1 || mine.length > 1) {
        const detail = await deliveryDetail(server, lane.account.key, d.id);
        const numbers = detail.attempts.map((a: any) => a.number);
        if (numbers.length !== d.attempt_count || numbers.some((n: number, i: number) => n !== i + 1)) attemptGaps++;
      }
    }
  }

  // A duplicate is either re-sent after a crash (the same attempt number again: the queue never recorded the first
  // answer) or re-sent after an attempt the queue saw fail although the receiver had answered 200 (a timeout).
  let dupAfterCrash = 0;
  let dupAfterFailure = 0;
  // For a crash re-send: how long before the kill the receiver had acknowledged the first copy (the window in which
  // the queue had not yet made the outcome durable).
  const ackBeforeKillMs: number[] = [];
  const dupByOrdering: Record<string, number> = { strict: 0, key: 0, none: 0 };
  for (const lane of lanes) {
    const acked = new Map<string, Hit[]>();
    for (const h of sink.received(lane.path)) if (h.answered === 200) acked.set(h.id, [...(acked.get(h.id) ?? []), h]);
    for (const hits of acked.values()) {
      for (let i = 1; i < hits.length; i++) {
        if (hits[i].attempt === hits[i - 1].attempt) {
          dupAfterCrash++;
          const kill = kills.find((k) => k.at >= hits[i - 1].at && k.at <= hits[i].at);
          if (kill) ackBeforeKillMs.push(kill.at - hits[i - 1].at);
        } else dupAfterFailure++;
      }
      if (hits.length > 1) dupByOrdering[lane.ordering]++;
    }
  }

  const sum = (f: (t: (typeof tallies)[number]) => number) => tallies.reduce((n, t) => n + f(t), 0);
  const result = {
    scenario: `SIGKILL ×${KILLS} during ${total} events / ${WEBHOOKS} webhooks`,
    seed: SEED,
    sent: sum((t) => t.sent),
    delivered: sum((t) => t.arrived),
    duplicated: sum((t) => t.duplicated),
    dupAfterCrash,
    dupAfterFailure,
    dupByOrdering,
    ackBeforeKillMs: summary(ackBeforeKillMs),
    lost: sum((t) => t.lost.length),
    requests: sum((t) => t.requests),
    inconsistent: sum((t) => t.inconsistent.length),
    strictOutOfOrder: sum((t) => t.outOfOrder.length + t.sequenceBackwards),
    keyOutOfOrder: sum((t) => t.keyOutOfOrder),
    ingestRetries: lanes.reduce((n, l) => n + l.tries, 0),
    eventsStored,
    eventsMissing,
    eventsDuplicated,
    stillPending: stillPending.length,
    stuck,
    sweeper,
    handoffSweep,
    attemptGaps,
    attemptsBehindReceiver,
    kills,
    drained: !!drained,
    runMs,
  };
  record(FILE, result);

  expect(result.lost).toBe(0);
  expect(result.delivered).toBe(total);
  expect(result.inconsistent).toBe(0);
  expect(result.strictOutOfOrder).toBe(0);
  expect(result.keyOutOfOrder).toBe(0);
  expect(eventsStored).toBe(total);
  expect(eventsMissing).toBe(0);
  expect(eventsDuplicated).toBe(0);
  expect(stillPending).toEqual([]);
  expect(attemptGaps).toBe(0);
  expect(attemptsBehindReceiver).toBe(0);
  // Each kill can re-send the requests in flight (one per strict/keyed line, six per unordered queue) and, per
  // queue, what the receiver took but whose log had not reached D1 yet: at most a log page (20) and the six sends in flight.
  expect(dupAfterCrash).toBeLessThanOrEqual(KILLS * (12 + 4 * 5 + 4 * 6 + 20 * (20 + 6)));
});

test("the service answers normally after the run", async () => {
  expect((await server.fetch("/v1/event-types")).status).toBe(200);
  await expectStatus(server.fetch("/v1/accounts", { method: "POST", bearer: server.token, json: { name: "after" } }), 201);
});
