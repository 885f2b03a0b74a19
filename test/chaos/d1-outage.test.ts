import { expect, test } from "vitest";
import { completedData, createWebhook, FAST_RETRY, ingestUntilAccepted, newAccount, sleep, tally, waitFor } from "../support/e2e-kit";
import { haveSqliteShell, lockD1 } from "../support/sqlite-lock";
import { deliveryDetail, ingestInOrder, record, serverAndSink, settled } from "./kit";

// D1 made unavailable from outside while `wrangler dev` runs: a sqlite3 shell holds the EXCLUSIVE lock on the
// local D1 file, so every query fails with SQLITE_BUSY (D1_ERROR). Ingest must answer a clear 503 and store
// nothing; the webhook queues, which keep their own state, must keep delivering; the delivery log must catch up
// from the queues' outboxes once D1 is back.

const FILE = "d1-outage";
const scenario = serverAndSink(FILE);

test.skipIf(!haveSqliteShell())("D1 locked for 8 s: ingest answers 503 and stores nothing, queues keep delivering, the log catches up", async () => {
  const { server, sink } = scenario;
  const account = await newAccount(server, "d1-outage");
  const url = sink.path("outage", () => ({ status: 200, delayMs: 120 }));
  const webhook = await createWebhook(server, account.key, { url, events: ["workflow.completed"], retry: FAST_RETRY, timeout_ms: 2000 });

  const backlog = await ingestInOrder(server, account.id, "evt_before", 40);
  await waitFor(() => sink.received("outage").length >= 3, 20_000, 20);
  const lock = await lockD1(server.persistDir);
  const lockedAt = Date.now();
  let unlockedAt = 0;
  const answers: { id: string; status: number; type: string; retryAfter: string | null; detail: string }[] = [];
  let readStatus = 0;
  try {
    for (let i = 0; i < 10; i++) {
      const id = `evt_during_${i}`;
      const res = await server.fetch("/v1/events", {
        method: "POST",
        bearer: server.token,
        json: { id, type: "workflow.completed", account_id: account.id, data: completedData(100 + i) },
      });
      const body = (await res.json().catch(() => ({}))) as { detail?: string };
      answers.push({
        id,
        status: res.status,
        type: res.headers.get("content-type") ?? "",
        retryAfter: res.headers.get("retry-after"),
        detail: body.detail ?? "",
      });
      await sleep(300);
    }
    const read = await server.fetch(`/v1/webhooks/${webhook.id}`, { bearer: account.key });
    readStatus = read.status;
    await read.text();
    await sleep(Math.max(0, lockedAt + 8000 - Date.now()));
  } finally {
    await lock.release();
    unlockedAt = Date.now();
  }
  const deliveredDuringOutage = sink.received("outage").filter((h) => h.at >= lockedAt && h.at < unlockedAt && h.answered === 200).length;

  // Nothing answered 503 was stored: the platform must (and may safely) send it again.
  const storedAfter503: string[] = [];
  for (const a of answers.filter((a) => a.status === 503)) {
    const res = await server.fetch(`/v1/events/${a.id}`, { bearer: account.key });
    await res.text();
    if (res.status !== 404) storedAfter503.push(a.id);
  }
  const retried: string[] = [];
  for (const a of answers) {
    await ingestUntilAccepted(server, { id: a.id, type: "workflow.completed", account_id: account.id, data: completedData(100 + Number(a.id.slice(-1))) });
    retried.push(a.id);
  }
  const sent = [...backlog, ...retried];
  await waitFor(() => tally(sink.received("outage"), sent, true).arrived === sent.length, 60_000);
  // The outbox is retried on the queue's alarm (every 15 s while it holds anything).
  const by = await settled(server, account.key, webhook.id, sent.length, 60_000);
  const t = tally(sink.received("outage"), sent, true);
  const duringHit = sink.received("outage").find((h) => h.at >= lockedAt && h.at < unlockedAt && h.answered === 200);
  const duringLog = duringHit ? await deliveryDetail(server, account.key, duringHit.delivery) : null;
  const catchUpMs = Date.now() - unlockedAt;

  record(FILE, {
    scenario: "D1 locked 8 s during delivery and ingest",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    ingestAnswersDuringOutage: answers.map((a) => a.status),
    twoXxDuringOutage: answers.filter((a) => a.status < 300).length,
    storedAfter503: storedAfter503.length,
    readDuringOutage: readStatus,
    deliveredDuringOutage,
    logCaughtUpWithinMs: catchUpMs,
  });
  expect(answers.every((a) => a.status === 503 && a.type.startsWith("application/problem+json"))).toBe(true);
  expect(answers[0].retryAfter).toBeTruthy();
  expect(answers[0].detail).toMatch(/nothing was accepted/i);
  expect(storedAfter503).toEqual([]);
  expect(readStatus).toBe(503);
  expect(deliveredDuringOutage).toBeGreaterThan(0);
  expect(t.lost).toEqual([]);
  expect(t.outOfOrder).toEqual([]);
  expect(t.resentSameAttempt).toBe(0);
  expect(by).toEqual({ delivered: sent.length });
  expect(duringLog?.status).toBe("delivered");
  expect(duringLog?.attempts.at(-1).status_code).toBe(200);
});

test.skipIf(!haveSqliteShell())("D1 flapping (locked 1 s of every 2 s) under a steady stream: every event stored once and delivered once", async () => {
  const { server, sink } = scenario;
  const account = await newAccount(server, "d1-flap");
  const url = sink.path("d1flap", () => ({ status: 200 }));
  const webhook = await createWebhook(server, account.key, { url, events: ["workflow.completed"], retry: FAST_RETRY });
  let flapping = true;
  const flapper = (async () => {
    let cycles = 0;
    while (flapping && cycles < 10) {
      const lock = await lockD1(server.persistDir);
      await sleep(1000);
      await lock.release();
      await sleep(1000);
      cycles++;
    }
    return cycles;
  })();
  const sent: string[] = [];
  let ingestRetries = 0;
  for (let i = 0; i < 60; i++) {
    const id = `evt_flap_${String(i).padStart(3, "0")}`;
    const { tries } = await ingestUntilAccepted(server, { id, type: "workflow.completed", account_id: account.id, data: completedData(i) }, 60_000);
    ingestRetries += tries - 1;
    sent.push(id);
    await sleep(100);
  }
  flapping = false;
  const cycles = await flapper;
  await waitFor(() => tally(sink.received("d1flap"), sent, true).arrived === sent.length, 60_000);
  const by = await settled(server, account.key, webhook.id, sent.length, 60_000);
  const t = tally(sink.received("d1flap"), sent, true);
  const stored = await server.fetch(`/v1/events?limit=200`, { bearer: account.key }).then((r) => r.json() as Promise<{ data: { id: string }[] }>);
  const ids = stored.data.map((e) => e.id);
  record(FILE, {
    scenario: "D1 flapping (1 s locked / 1 s free)",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    lockCycles: cycles,
    ingestRetries,
    eventsStored: ids.length,
  });
  expect(ingestRetries).toBeGreaterThan(0);
  expect(new Set(ids).size).toBe(sent.length);
  expect(ids.length).toBe(sent.length);
  expect(t.lost).toEqual([]);
  expect(t.outOfOrder).toEqual([]);
  expect(t.resentSameAttempt).toBe(0);
  expect(by).toEqual({ delivered: sent.length });
});
