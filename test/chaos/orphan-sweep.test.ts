import { expect, test } from "vitest";
import { completedData, createWebhook, expectStatus, FAST_RETRY, newAccount, sleep, tally, triggerCron, waitFor } from "../support/e2e-kit";
import { haveSqliteShell, lockSqlite, queueObjectFiles } from "../support/sqlite-lock";
import { deliveriesOf, record, serverAndSink, settled } from "./kit";

// An orphan: an event stored in D1 whose hand-off to the webhook's queue failed, and whose sender never tried
// again. The queue's own storage is locked from outside (SQLite EXCLUSIVE on its file) while the event is
// ingested, so `enqueue()` fails after the D1 transaction committed. Ingest must say so (503, "send it again"),
// and when nobody does, the cron sweeper must find the overdue pending delivery and hand it over.

const FILE = "orphan-sweep";
/** src/cron.ts SWEEP_AFTER_MS: the sweeper only re-hands deliveries overdue by this long. */
const SWEEP_AFTER_MS = 2 * 60_000;
const scenario = serverAndSink(FILE);

test.skipIf(!haveSqliteShell())("a hand-off lost after the D1 commit is delivered by the cron sweeper", async () => {
  const { server, sink } = scenario;
  const account = await newAccount(server, "orphan");
  const webhook = await createWebhook(server, account.key, { url: sink.path("orphan"), events: ["workflow.completed"], retry: FAST_RETRY });
  const ingest = (id: string, n: number) =>
    server.fetch("/v1/events", {
      method: "POST",
      bearer: server.token,
      json: { id, type: "workflow.completed", account_id: account.id, data: completedData(n) },
    });

  await expectStatus(ingest("evt_orphan_before", 0), 202);
  await waitFor(() => sink.received("orphan").length === 1, 20_000);
  const files = queueObjectFiles(server.persistDir);
  expect(files).toHaveLength(1);

  const lock = await lockSqlite(files[0]);
  let answer: { status: number; body: any };
  try {
    const res = await ingest("evt_orphan", 1);
    answer = { status: res.status, body: await res.json() };
  } finally {
    await lock.release();
  }
  expect(answer.status).toBe(503);
  expect(answer.body.detail).toMatch(/stored|again/i);
  const stored = await expectStatus(server.fetch("/v1/events/evt_orphan", { bearer: account.key }), 200);
  expect(stored.id).toBe("evt_orphan");

  // Life goes on: the next event is delivered; the orphan waits, pending in the log, unknown to the queue.
  await expectStatus(ingest("evt_orphan_after", 2), 202);
  await waitFor(() => sink.received("orphan").some((h) => h.id === "evt_orphan_after"), 20_000);
  await sleep(1000);
  // At least once: the delivery sent as the lock came may arrive again (its log could not be written), never out of order.
  expect([...new Set(sink.received("orphan").map((h) => h.id))]).toEqual(["evt_orphan_before", "evt_orphan_after"]);
  const pending = await deliveriesOf(server, account.key, webhook.id, "pending");
  expect(pending.map((d) => d.event_id)).toEqual(["evt_orphan"]);

  // Before its time the sweeper leaves it alone; once it is overdue by SWEEP_AFTER_MS, it hands it over.
  await triggerCron(server);
  await sleep(2000);
  expect(sink.received("orphan").map((h) => h.id)).not.toContain("evt_orphan");
  const overdueAt = Date.parse(pending[0].next_attempt_at ?? pending[0].created_at) + SWEEP_AFTER_MS + 3000;
  await sleep(Math.max(0, overdueAt - Date.now()));
  const sweptAt = Date.now();
  await triggerCron(server);
  const arrived = await waitFor(() => sink.received("orphan").some((h) => h.id === "evt_orphan"), 30_000);
  const by = await settled(server, account.key, webhook.id, 3, 30_000);
  const sent = ["evt_orphan_before", "evt_orphan", "evt_orphan_after"];
  const t = tally(sink.received("orphan"), sent, false);
  record(FILE, {
    scenario: "hand-off lost after the D1 commit, never resent → cron sweeper",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    ingestAnswer: answer.status,
    deliveredAfterSweepMs: arrived ? (sink.received("orphan").find((h) => h.id === "evt_orphan")?.at ?? 0) - sweptAt : null,
  });
  expect(arrived).toBe(true);
  expect(by).toEqual({ delivered: 3 });
  expect(t.lost).toEqual([]);
  // The delivery made just before the lock can come again: its row leaves the queue only once its log is in D1,
  // and the lock can land in between (the object restarts, and sends it again — at least once).
  expect(t.resentSameAttempt).toBeLessThanOrEqual(1);
});
