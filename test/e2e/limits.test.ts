import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DevServer, startDevServer } from "../support/dev-server";
import { completedData, createWebhook, expectStatus, listAll, newAccount, waitFor } from "../support/e2e-kit";
import { Sink } from "../support/sink";

// Issue 17's findings 3 and 5 against the service started as README says: event ids per account, the platform
// allowlist before the token, body limits on every route, the sign-in redirect, filters with "__proto__", and the
// cap on logged response headers. Locally wrangler dev takes `cf-connecting-ip` from the client, which lets a test
// call from "outside" PLATFORM_ALLOWED_IPS (in production Cloudflare sets it; a client cannot).

let server: DevServer;
let sink: Sink;

beforeAll(async () => {
  [server, sink] = await Promise.all([startDevServer({ vars: { PLATFORM_ALLOWED_IPS: "127.0.0.1,::1" } }), Sink.start()]);
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  await sink?.down();
});

const ingest = (event: Record<string, unknown>) => server.fetch("/v1/events", { method: "POST", bearer: server.token, json: event });

test("the same event id in two accounts is two events: each receiver gets its own account's event", async () => {
  const a = await newAccount(server, "A");
  const b = await newAccount(server, "B");
  await createWebhook(server, a.key, { url: sink.path("ids-a") });
  await createWebhook(server, b.key, { url: sink.path("ids-b") });
  const id = "shared-1";
  expect(await expectStatus(ingest({ id, type: "workflow.completed", account_id: a.id, data: completedData(1) }), 202)).toEqual({ id, deliveries: 1 });
  expect(await expectStatus(ingest({ id, type: "workflow.completed", account_id: b.id, data: completedData(2) }), 202)).toEqual({ id, deliveries: 1 });
  // Each account's repeat is still a repeat.
  expect(await expectStatus(ingest({ id, type: "workflow.completed", account_id: b.id, data: completedData(3) }), 200)).toEqual({ id, deliveries: 1 });

  expect(await waitFor(() => sink.received("ids-a").length === 1 && sink.received("ids-b").length === 1, 20_000, 50)).toBe(true);
  for (const [path, account, n] of [
    ["ids-a", a, 1],
    ["ids-b", b, 2],
  ] as const) {
    const [hit] = sink.received(path);
    expect(hit.id).toBe(id);
    expect(JSON.parse(hit.body)).toMatchObject({ id, account_id: account.id, data: completedData(n) });
    expect(await expectStatus(server.fetch(`/v1/events/${id}`, { bearer: account.key }), 200)).toMatchObject({
      id,
      account_id: account.id,
      data: completedData(n),
    });
    expect((await listAll(server, account.key, "/v1/events")).map((e) => e.id)).toEqual([id]);
  }
  await new Promise((r) => setTimeout(r, 500));
  expect(sink.received("ids-a")).toHaveLength(1);
  expect(sink.received("ids-b")).toHaveLength(1);
});

test("from outside PLATFORM_ALLOWED_IPS the right token and a wrong one get the same 403; inside, a wrong one is 401", async () => {
  const outside = { "cf-connecting-ip": "192.0.2.1" };
  const answers: string[] = [];
  for (const bearer of [server.token, "not-the-token", undefined]) {
    const res = await server.fetch("/v1/accounts", { method: "POST", bearer, json: { name: "x" }, headers: outside });
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toBeNull();
    answers.push(await res.text());
  }
  expect(new Set(answers).size).toBe(1);
  expect((await server.fetch("/v1/accounts", { method: "POST", bearer: "not-the-token", json: { name: "x" } })).status).toBe(401);
});

describe("the dashboard's forms", () => {
  const form = (path: string, body: BodyInit) =>
    server.fetch(path, {
      method: "POST",
      body,
      redirect: "manual",
      headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" },
    });

  test("a 20 MB sign-in form is refused with 413 without being read", async () => {
    const started = Date.now();
    const res = await form("/sign-in", `key=${"x".repeat(20 * 1024 * 1024)}`);
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(Date.now() - started).toBeLessThan(15_000);
    // The service is still there.
    await expectStatus(server.fetch("/v1/event-types"), 200);
  });

  test("after sign-in, next=/\\t/evil.example leads to /, a path of this site to itself", async () => {
    const { key } = await newAccount(server, "Dashboard");
    for (const [next, location] of [
      ["/\t/evil.example", "/"],
      ["//evil.example", "/"],
      ["/webhooks/wh_1?status=failed", "/webhooks/wh_1?status=failed"],
    ]) {
      const res = await form("/sign-in", new URLSearchParams({ key, next }).toString());
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(location);
    }
  });
});

test('a filter with a "__proto__" key is refused with 422 and nothing is stored', async () => {
  const { key } = await newAccount(server, "Filters");
  const res = await server.fetch("/v1/webhooks", {
    method: "POST",
    bearer: key,
    headers: { "content-type": "application/json" },
    body: `{"url": "${sink.path("never")}", "events": ["*"], "filter": {"__proto__": {"data.duration_ms": {"$gt": 60000}}}}`,
  });
  expect(res.status).toBe(422);
  expect(((await res.json()) as { detail: string }).detail).toMatch(/"__proto__" is reserved/);
  expect(await listAll(server, key, "/v1/webhooks")).toEqual([]);
});

test("60 KB of response headers from a receiver are logged as at most 4 KiB", async () => {
  const account = await newAccount(server, "Headers");
  const headers = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-junk-${i}`, "j".repeat(1000)]));
  await createWebhook(server, account.key, { url: sink.path("fat-headers", () => ({ status: 200, body: "ok", headers })) });
  await expectStatus(ingest({ type: "workflow.completed", account_id: account.id, data: completedData(1) }), 202);
  const delivered = await waitFor(async () => {
    const [webhook] = await listAll(server, account.key, "/v1/webhooks");
    const [d] = await listAll(server, account.key, `/v1/webhooks/${webhook.id}/deliveries`);
    return d?.status === "delivered" ? d : null;
  }, 20_000);
  expect(delivered).toBeTruthy();
  const detail = await expectStatus(server.fetch(`/v1/deliveries/${delivered.id}`, { bearer: account.key }), 200);
  const logged = detail.attempts[0].response_headers as Record<string, string>;
  const size = Object.entries(logged).reduce((n, [k, v]) => n + k.length + v.length, 0);
  expect(size).toBeLessThanOrEqual(4096 + "…[truncated]".length);
  expect(Object.values(logged).some((v) => v.endsWith("…[truncated]"))).toBe(true);
});
