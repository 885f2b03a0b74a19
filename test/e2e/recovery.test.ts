import { afterAll, beforeAll, expect, test } from "vitest";
import { type DevServer, startDevServer } from "../support/dev-server";
import {
  apiOf,
  completedData,
  createWebhook,
  expectAnswer,
  FAST_RETRY,
  getDelivery,
  listDeliveries,
  newAccount,
  sleep,
  tally,
  triggerCron,
  waitFor,
} from "../support/e2e-kit";
import { type Reply, Sink } from "../support/sink";

/** LOG_FLUSH_ROWS in src/delivery/queue.ts (not importable here: it runs in workerd). */
const LOG_PAGE = 20;

// A receiver that fails, stalls and recovers, then a `wrangler dev` killed with SIGKILL in the middle of a
// backlog: every event arrives, first arrivals in ingestion order, duplicates only as the same message
// (same webhook-id, delivery id, sequence and body), and nothing stays pending in the log afterwards.

let server: DevServer;
const sinks: Sink[] = [];

beforeAll(async () => {
  server = await startDevServer();
});
afterAll(async () => {
  await server?.stop("SIGKILL");
  server?.cleanup();
  for (const s of sinks) await s.down();
});

async function newSink(): Promise<Sink> {
  const sink = await Sink.start();
  sinks.push(sink);
  return sink;
}

/** Ingests events in order, through the batch route (one request per 50, order kept within and across requests). */
async function ingestInOrder(accountId: string, prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}_${String(i).padStart(4, "0")}`);
  for (let i = 0; i < ids.length; i += 50) {
    const events = ids.slice(i, i + 50).map((id, k) => ({ id, type: "workflow.completed", account_id: accountId, data: completedData(i + k) }));
    const answer = await expectAnswer(apiOf(server).POST("/v1/events/batch", { body: { events } }), 202);
    expect(answer.data.every((r) => "deliveries" in r && r.deliveries === 1)).toBe(true);
  }
  return ids;
}

function pendingDeliveries(key: string, webhookId: string) {
  return listDeliveries(server, key, webhookId, { status: "pending" });
}

test("a receiver that fails (500), stalls past timeout_ms, then recovers gets every event, in order, and the log shows the failures", async () => {
  const account = await newAccount(server, "Flaky receiver");
  const sink = await newSink();
  const STALL: Reply = { status: 200, body: "too late", delayMs: 1500 };
  // Request by request (strict ordering makes this deterministic): event 0 gets 500, 500, a stall, then 200;
  // event 1 gets 200; event 2 gets 500, a stall, then 200; everything after that, 200.
  const script: Reply[] = [{ status: 500, body: "boom" }, { status: 500, body: "boom" }, STALL, { status: 200 }, { status: 200 }, { status: 500 }, STALL];
  const url = sink.path("flaky", (_hit, n) => script[n - 1] ?? { status: 200, body: "ok" });
  const webhook = await createWebhook(server, account.key, { url, events: ["workflow.completed"], timeout_ms: 500, retry: FAST_RETRY });

  const sent = await ingestInOrder(account.id, "evt_flaky", 12);
  await waitFor(() => tally(sink.received("flaky"), sent, true).arrived === sent.length, 45_000);
  // Let the stalled answers land and the last log writes settle.
  await waitFor(async () => (await pendingDeliveries(account.key, webhook.id)).length === 0, 15_000, 300);

  const hits = sink.received("flaky");
  const t = tally(hits, sent, true);
  console.log(`RELIABILITY fail-stall-recover ${JSON.stringify({ ...t, lost: t.lost.length })}`);
  expect(t.lost).toEqual([]);
  expect(t.outOfOrder).toEqual([]);
  expect(t.sequenceBackwards).toBe(0);
  expect(t.inconsistent).toEqual([]);
  // The two stalled requests were answered 200 after the sender gave up, so the receiver saw them twice: the same
  // webhook-id both times, which is what receivers dedupe on.
  expect(t.duplicated).toBeLessThanOrEqual(2);
  expect(hits.length).toBe(sent.length + script.filter((r) => r.status !== 200 || r.delayMs).length);

  const first = await getDelivery(server, account.key, hits[0].delivery);
  expect(first.status).toBe("delivered");
  expect(first.attempt_count).toBe(4);
  expect(first.attempts.map((a) => a.status_code)).toEqual([500, 500, null, 200]);
  expect(first.attempts[0].response_body).toBe("boom");
  expect(first.attempts[2].error).toMatch(/timed out after 500 ms/);
  expect(first.attempts.map((a) => a.request_headers["x-broxiai-attempt"])).toEqual(["1", "2", "3", "4"]);
  const third = await getDelivery(server, account.key, hits.find((h) => h.id === sent[2])!.delivery);
  expect(third.attempts.map((a) => a.status_code)).toEqual([500, null, 200]);
  const all = await listDeliveries(server, account.key, webhook.id);
  expect(all.map((d) => d.status)).toEqual(Array(sent.length).fill("delivered"));
});

test("killed with SIGKILL mid-backlog and restarted: every event arrives at least once, in order, none lost, none left pending", async () => {
  const account = await newAccount(server, "Crash");
  const sink = await newSink();
  const url = sink.path("backlog", () => ({ status: 200, body: "ok", delayMs: 10 }));
  await sink.down();
  const webhook = await createWebhook(server, account.key, {
    url,
    events: ["workflow.completed"],
    ordering: "strict",
    timeout_ms: 2000,
    retry: { ...FAST_RETRY, max_delay_ms: 2000 },
  });

  // 200 events queue up while the receiver refuses connections.
  const sent = await ingestInOrder(account.id, "evt_backlog", 200);
  await sleep(1000);
  expect(sink.received("backlog")).toHaveLength(0);

  // The receiver comes up; once part of the backlog is through, the whole dev server is killed hard.
  await sink.up();
  const before = await waitFor(
    () => {
      const n = new Set(sink.received("backlog").map((h) => h.id)).size;
      return n >= 50 ? n : 0;
    },
    60_000,
    20,
  );
  expect(before, "some of the backlog delivered before the crash").toBeGreaterThanOrEqual(50);
  await server.stop("SIGKILL");
  const atCrash = new Set(sink.received("backlog").map((h) => h.id)).size;
  expect(atCrash, "the crash came mid-backlog").toBeLessThan(sent.length);

  // Down together, then the service first and the receiver a moment later.
  await sink.down();
  const crashedAt = Date.now();
  await server.restart();
  const restartMs = Date.now() - crashedAt;
  await sleep(2000);
  await sink.up();
  const upAt = Date.now();

  const drained = await waitFor(() => tally(sink.received("backlog"), sent, true).arrived === sent.length, 60_000, 250);
  const drainMs = Date.now() - upAt;
  const hits = sink.received("backlog");
  const t = tally(hits, sent, true);
  let pending = await waitFor(
    async () => {
      const p = await pendingDeliveries(account.key, webhook.id);
      return p.length === 0 ? p : null;
    },
    8_000,
    500,
  );
  if (!pending) {
    // The sweeper's turn: it re-hands overdue pending deliveries to their queue and re-arms it.
    await triggerCron(server);
    pending = await waitFor(
      async () => {
        const p = await pendingDeliveries(account.key, webhook.id);
        return p.length === 0 ? p : null;
      },
      4_000,
      500,
    );
  }
  const stillPending = pending ? [] : await pendingDeliveries(account.key, webhook.id);
  const stuck = await Promise.all(
    stillPending.map(async (d) => {
      const detail = await getDelivery(server, account.key, d.id);
      const got = hits.filter((h) => h.delivery === d.id);
      return {
        id: d.id,
        event: sent.indexOf(d.event_id),
        attemptsLogged: detail.attempts.length,
        received: got.length,
        acked: got.filter((h) => h.answered === 200).length,
      };
    }),
  );
  const statuses = await listDeliveries(server, account.key, webhook.id);
  console.log(
    `RELIABILITY crash-mid-backlog ${JSON.stringify({ ...t, lost: t.lost.length, deliveredBeforeCrash: atCrash, drained: !!drained, restartMs, drainMs, stuck })}`,
  );

  expect(t.lost).toEqual([]);
  expect(t.arrived).toBe(sent.length);
  expect(t.inconsistent).toEqual([]);
  expect(t.outOfOrder).toEqual([]);
  expect(t.sequenceBackwards).toBe(0);
  // What the kill can send again: the request in flight, and the deliveries the receiver took whose log had not
  // reached D1 yet (at most one log page: their rows stay queued until it has). At least once, never lost; the
  // receiver deduplicates on webhook-id. (A copy answered only after timeout_ms is retried too, with a higher
  // attempt number: by design.)
  expect(t.resentSameAttempt).toBeLessThanOrEqual(LOG_PAGE + 1);
  // The outcome and its log are committed together in the queue's storage (its outbox), so an acknowledged
  // delivery cannot stay pending in D1 with no attempt recorded, whenever the kill lands.
  expect(stuck).toEqual([]);
  expect(statuses.filter((d) => d.status !== "delivered")).toEqual([]);
  expect(statuses.filter((d) => d.attempt_count < Math.max(0, ...hits.filter((h) => h.delivery === d.id).map((h) => h.attempt)))).toEqual([]);
  expect(statuses).toHaveLength(sent.length);

  // The head of the backlog waited out the outage: its log shows the refused connections before the success.
  const head = await getDelivery(server, account.key, hits.find((h) => h.id === sent[0])!.delivery);
  expect(head.attempts.length).toBeGreaterThan(1);
  expect(head.attempts[0].status_code).toBeNull();
  expect(head.attempts[0].error).toBeTruthy();
  expect(head.attempts.at(-1)!.status_code).toBe(200);
});
