import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type DevServer, freePort, startDevServer } from "../support/dev-server";
import { createWebhook, expectStatus, FAST_RETRY, newAccount, sleep, tally, waitFor } from "../support/e2e-kit";
import { type Reply, Sink } from "../support/sink";
import { deliveriesOf, deliveryDetail, ingestInOrder, record, saveServerLog, settled } from "./kit";

// Receivers that misbehave in every way we know, one scenario each, against a real `wrangler dev`. Each counts
// what was sent against what arrived; "lost" means an event neither delivered nor visible as failed (and so
// redeliverable) in the log, and must be 0. Dead-lettered events are then replayed to prove they were kept.

const FILE = "receivers";
let server: DevServer;
let sink: Sink;
const extraSinks: Sink[] = [];
const startedAt = new Date(Date.now() - 60_000).toISOString();

beforeAll(async () => {
  [server, sink] = await Promise.all([startDevServer(), Sink.start()]);
});
afterAll(async () => {
  saveServerLog(FILE, server);
  await server?.stop("SIGKILL");
  server?.cleanup();
  await sink?.down();
  for (const s of extraSinks) await s.down();
});

/** A fresh account with one strict webhook to `url`; answers what a scenario needs. */
async function setup(name: string, url: string, settings: Record<string, unknown> = {}) {
  const account = await newAccount(server, name);
  const webhook = await createWebhook(server, account.key, { url, events: ["workflow.completed"], retry: FAST_RETRY, timeout_ms: 1000, ...settings });
  return { account, webhook };
}

async function replayFailed(key: string, webhookId: string): Promise<number> {
  const answer = await expectStatus(server.fetch(`/v1/webhooks/${webhookId}/replay`, { method: "POST", bearer: key, json: { since: startedAt } }), 202);
  return answer.replayed;
}

async function healthy(): Promise<void> {
  expect((await server.fetch("/v1/event-types")).status).toBe(200);
}

test("refused connections (nothing listening): retried, dead-lettered, kept; replayed once the receiver exists", async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/refused`;
  const { account, webhook } = await setup("refused", url, { retry: { ...FAST_RETRY, max_attempts: 3 } });
  const sent = await ingestInOrder(server, account.id, "evt_refused", 8);
  const first = await settled(server, account.key, webhook.id, sent.length, 60_000);
  expect(first).toEqual({ failed: sent.length });
  const dead = await deliveriesOf(server, account.key, webhook.id);
  const detail = await deliveryDetail(server, account.key, dead[0].id);
  expect(detail.attempts).toHaveLength(3);
  expect(detail.attempts.every((a: any) => a.status_code === null && /network|connect|refused/i.test(a.error))).toBe(true);

  const late = await Sink.start(port);
  extraSinks.push(late);
  late.path("refused");
  expect(await replayFailed(account.key, webhook.id)).toBe(sent.length);
  await waitFor(() => tally(late.received("refused"), sent, true).arrived === sent.length, 30_000);
  const after = await settled(server, account.key, webhook.id, sent.length, 15_000);
  const t = tally(late.received("refused"), sent, true);
  record(FILE, {
    scenario: "refused connection → dead-letter → replay",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    deadLettered: first.failed,
    attemptsEach: detail.attempts.length,
    error: detail.attempts[0].error,
  });
  expect(after).toEqual({ delivered: sent.length });
  expect(t.lost).toEqual([]);
  expect(t.outOfOrder).toEqual([]);
  expect(t.resentSameAttempt).toBe(0);
  await healthy();
});

test("a receiver that hangs past timeout_ms, then answers", async () => {
  const url = sink.path("hang", (_h, n) => (n <= 4 ? { hang: true } : { status: 200 }));
  const { account, webhook } = await setup("hang", url, { timeout_ms: 300 });
  const sent = await ingestInOrder(server, account.id, "evt_hang", 8);
  const by = await settled(server, account.key, webhook.id, sent.length, 60_000);
  const t = tally(sink.received("hang"), sent, true);
  const head = await deliveryDetail(server, account.key, sink.received("hang")[0].delivery);
  record(FILE, {
    scenario: "hang past timeout, then 200",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    requests: t.requests,
  });
  expect(by).toEqual({ delivered: sent.length });
  expect(t.lost).toEqual([]);
  expect(t.outOfOrder).toEqual([]);
  expect(head.attempts.map((a: any) => a.error)).toEqual([...Array(4).fill("timed out after 300 ms"), null]);
  expect(head.attempts.slice(0, 4).every((a: any) => a.duration_ms >= 290 && a.duration_ms < 3000)).toBe(true);
  await healthy();
});

test("a slow receiver inside the timeout: delivered on the first attempt", async () => {
  const url = sink.path("slow", () => ({ status: 200, delayMs: 600 }));
  const { account, webhook } = await setup("slow", url, { timeout_ms: 3000 });
  const sent = await ingestInOrder(server, account.id, "evt_slow", 8);
  const by = await settled(server, account.key, webhook.id, sent.length, 60_000);
  const t = tally(sink.received("slow"), sent, true);
  const one = await deliveryDetail(server, account.key, sink.received("slow")[3].delivery);
  record(FILE, {
    scenario: "slow (600 ms, timeout 3 s)",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    requests: t.requests,
  });
  expect(by).toEqual({ delivered: sent.length });
  expect(t.requests).toBe(sent.length);
  expect(t.outOfOrder).toEqual([]);
  expect(one.attempts).toHaveLength(1);
  expect(one.attempts[0].duration_ms).toBeGreaterThanOrEqual(590);
});

test("a receiver flapping between 500 and 200", async () => {
  const url = sink.path("flap", (_h, n) => (n % 2 === 1 ? { status: 500, body: "flap" } : { status: 200 }));
  const { account, webhook } = await setup("flap", url);
  const sent = await ingestInOrder(server, account.id, "evt_flap", 20);
  const by = await settled(server, account.key, webhook.id, sent.length, 60_000);
  const t = tally(sink.received("flap"), sent, true);
  const list = await deliveriesOf(server, account.key, webhook.id);
  record(FILE, { scenario: "flapping 500/200", sent: sent.length, delivered: t.arrived, duplicated: t.duplicated, lost: t.lost.length, requests: t.requests });
  expect(by).toEqual({ delivered: sent.length });
  expect(t.requests).toBe(2 * sent.length);
  expect(t.outOfOrder).toEqual([]);
  expect(t.sequenceBackwards).toBe(0);
  expect(list.every((d) => d.attempt_count === 2)).toBe(true);
});

test("3xx answers are failures, never followed; dead-lettered, then replayed", async () => {
  const statuses = [301, 302, 307, 308];
  let mode: "redirect" | "ok" = "redirect";
  const target = sink.path("redirect-target");
  const url = sink.path("redirect", (_h, n) => (mode === "ok" ? { status: 200 } : { status: statuses[n % 4], headers: { location: target } }));
  const { account, webhook } = await setup("redirect", url, { retry: { ...FAST_RETRY, max_attempts: 2 } });
  const sent = await ingestInOrder(server, account.id, "evt_redirect", 4);
  const first = await settled(server, account.key, webhook.id, sent.length, 60_000);
  const dead = await deliveriesOf(server, account.key, webhook.id);
  expect(first).toEqual({ failed: sent.length });
  expect(sink.received("redirect-target")).toHaveLength(0);
  expect(dead.every((d) => statuses.includes(d.last_status_code) && /redirects are not followed/.test(d.last_error))).toBe(true);

  mode = "ok";
  expect(await replayFailed(account.key, webhook.id)).toBe(sent.length);
  const after = await settled(server, account.key, webhook.id, sent.length, 30_000);
  const acked = sink.received("redirect").filter((h) => h.answered === 200);
  const t = tally(acked, sent, true);
  record(FILE, {
    scenario: "3xx (301/302/307/308) → dead-letter → replay",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    deadLettered: first.failed,
    followed: sink.received("redirect-target").length,
  });
  expect(after).toEqual({ delivered: sent.length });
  expect(t.outOfOrder).toEqual([]);
  expect(sink.received("redirect-target")).toHaveLength(0);
});

test("429 with Retry-After waits as asked; 429 without it and 503 with it back off", async () => {
  const answers: Record<string, Reply[]> = {
    "429-ra": [{ status: 429, headers: { "retry-after": "2" } }],
    "429": [{ status: 429 }],
    "503-ra": [{ status: 503, headers: { "retry-after": "1" } }],
  };
  const gaps: Record<string, number> = {};
  for (const [name, script] of Object.entries(answers)) {
    const url = sink.path(name, (_h, n) => script[n - 1] ?? { status: 200 });
    // max_delay_ms caps Retry-After too, so it must exceed the 2 s asked for.
    const { account, webhook } = await setup(name, url, { retry: { ...FAST_RETRY, max_delay_ms: 5000 } });
    const sent = await ingestInOrder(server, account.id, `evt_${name.replace(/\W/g, "")}`, 3);
    const by = await settled(server, account.key, webhook.id, sent.length, 30_000);
    const hits = sink.received(name);
    const t = tally(hits, sent, true);
    gaps[name] = hits[1].at - hits[0].at;
    const head = await deliveryDetail(server, account.key, hits[0].delivery);
    record(FILE, {
      scenario: `${name} then 200`,
      sent: sent.length,
      delivered: t.arrived,
      duplicated: t.duplicated,
      lost: t.lost.length,
      retryGapMs: gaps[name],
    });
    expect(by).toEqual({ delivered: sent.length });
    expect(t.outOfOrder).toEqual([]);
    expect(head.attempts[0].status_code).toBe(Number(name.slice(0, 3)));
  }
  expect(gaps["429-ra"]).toBeGreaterThanOrEqual(1900);
  expect(gaps["429-ra"]).toBeLessThan(5000);
  expect(gaps["503-ra"]).toBeGreaterThanOrEqual(900);
  // Without Retry-After: the webhook's own backoff (200 ms ± 20 %), not a guess.
  expect(gaps["429"]).toBeLessThan(1500);
});

test("410 Gone disables the webhook and holds its deliveries; re-enabling releases them in order", async () => {
  let gone = true;
  const url = sink.path("gone", () => (gone ? { status: 410, body: "gone" } : { status: 200 }));
  const { account, webhook } = await setup("gone", url);
  const sent = await ingestInOrder(server, account.id, "evt_gone", 6);
  const disabled = await waitFor(async () => {
    const w = await expectStatus(server.fetch(`/v1/webhooks/${webhook.id}`, { bearer: account.key }), 200);
    return w.active === false && w.disabled_reason ? w : null;
  }, 20_000);
  expect(disabled?.disabled_reason).toMatch(/410/);
  await sleep(1500);
  expect(sink.received("gone")).toHaveLength(1);
  const held = await deliveriesOf(server, account.key, webhook.id, "pending");
  expect(held).toHaveLength(sent.length);

  gone = false;
  await expectStatus(server.fetch(`/v1/webhooks/${webhook.id}`, { method: "PATCH", bearer: account.key, json: { active: true } }), 200);
  const by = await settled(server, account.key, webhook.id, sent.length, 30_000);
  const t = tally(sink.received("gone"), sent, true);
  record(FILE, {
    scenario: "410 → disabled, held → re-enabled",
    sent: sent.length,
    delivered: t.arrived,
    duplicated: t.duplicated,
    lost: t.lost.length,
    heldWhileDisabled: held.length,
  });
  expect(by).toEqual({ delivered: sent.length });
  expect(t.outOfOrder).toEqual([]);
  expect(t.lost).toEqual([]);
});

test("garbage and huge response bodies: delivered or retried as their status says, the log truncated, nothing crashes", async () => {
  const garbage = Buffer.concat([randomBytes(2048), Buffer.from([0, 0xff, 0xfe, 0xc3, 0x28]), Buffer.from("\u0000{not json")]);
  const cases: Record<string, (n: number) => Reply> = {
    "garbage-200": () => ({ status: 200, headers: { "content-type": "application/json" }, body: garbage }),
    "garbage-500": (n) => (n === 1 ? { status: 500, body: garbage } : { status: 200, body: garbage }),
    "huge-200": () => ({ status: 200, bodyBytes: 20 * 1024 * 1024 }),
    "huge-500": (n) => (n === 1 ? { status: 500, bodyBytes: 20 * 1024 * 1024 } : { status: 200 }),
    "endless-200": () => ({ status: 200, bodyBytes: 1024 * 1024 * 1024 }),
    "bad-headers-200": () => ({ status: 200, headers: { "content-type": "garbage/;;;=", "x-long": "y".repeat(8000) }, body: "ok" }),
  };
  for (const [name, behaviour] of Object.entries(cases)) {
    const url = sink.path(name, (_h, n) => behaviour(n));
    const { account, webhook } = await setup(name, url, { timeout_ms: 5000 });
    const sent = await ingestInOrder(server, account.id, `evt_${name.replace(/\W/g, "")}`, 3);
    const by = await settled(server, account.key, webhook.id, sent.length, 60_000);
    const hits = sink.received(name);
    const t = tally(hits, sent, true);
    const head = await deliveryDetail(server, account.key, hits[0].delivery);
    const logged = head.attempts.map((a: any) => a.response_body?.length ?? 0);
    record(FILE, {
      scenario: `${name} response`,
      sent: sent.length,
      delivered: t.arrived,
      duplicated: t.duplicated,
      lost: t.lost.length,
      loggedBodyChars: logged,
    });
    expect(by).toEqual({ delivered: sent.length });
    expect(t.outOfOrder).toEqual([]);
    expect(Math.max(...logged)).toBeLessThanOrEqual(4096 + 20);
    if (name.startsWith("huge") || name.startsWith("endless")) expect(head.attempts[0].response_body).toMatch(/…\[truncated\]$/);
    await healthy();
  }
});
