import { type ChildProcess, spawn } from "node:child_process";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import WebSocket from "ws";
import { type DevServer, startDevServer } from "../support/dev-server";
import { apiOf, completedData, expectAnswer, FAST_RETRY, getDelivery, ingestUntilAccepted, listDeliveries, newAccount, waitFor } from "../support/e2e-kit";
import { type Hit, Sink } from "../support/sink";

// Issue 21 end to end: `npm run listen -- --forward-to … --api … --key …` against the service started as `npm start`
// does, a local receiver on 127.0.0.1 that verifies each delivery with standardwebhooks, and the typed client
// reading the log. Locally wrangler dev takes `cf-connecting-ip` from the client, which lets a test call from an
// address outside a key's allowlist.

let server: DevServer;
let sink: Sink;
const running: ChildProcess[] = [];

beforeAll(async () => {
  [server, sink] = await Promise.all([startDevServer(), Sink.start()]);
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  await sink?.down();
});
afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGTERM");
});

interface Cli {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `npm run listen` in relay mode, as a developer runs it. */
function listen(...args: string[]): Cli {
  const child = spawn(process.execPath, ["scripts/listen.mjs", "--no-color", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function printed(cli: Cli, pattern: RegExp, ms = 20_000): Promise<RegExpExecArray> {
  const m = await waitFor(() => pattern.exec(cli.output()), ms, 50);
  if (!m) throw new Error(`listen never printed ${pattern}:\n${cli.output()}`);
  return m;
}

/** A key of a new account, allowed from `allowed_ips` only. */
async function keyFrom(accountId: string, allowed_ips: string[]) {
  const platform = apiOf(server);
  return expectAnswer(
    platform.POST("/v1/accounts/{account_id}/api-keys", { params: { path: { account_id: accountId } }, body: { name: "laptop", allowed_ips } }),
    201,
  );
}

test("the CLI relays deliveries to a local receiver: verified, 500 then 200 as the log shows; after a reconnect the waiting ones arrive in order; a wrong key or an address outside the allowlist is refused", async () => {
  const account = await newAccount(server, "Laptop");
  const laptop = await keyFrom(account.id, ["127.0.0.1", "::1"]);
  const key = laptop.key;
  const api = apiOf(server, key);
  let secret = "";
  const verified: boolean[] = [];
  const hooks = sink.path("laptop", (hit: Hit, n: number) => {
    try {
      new Webhook(secret).verify(hit.body, hit.headers as Record<string, string>);
      verified.push(true);
    } catch {
      verified.push(false);
      return { status: 401, body: "bad signature" };
    }
    return n === 1 ? { status: 500, body: "local bug" } : { status: 200, body: "got it" };
  });

  let cli = listen("--forward-to", hooks, "--api", server.url, "--key", key);
  const [, relayId, webhookId] = await printed(cli, /Relay (rly_\w+) \(webhook (wh_\w+)\) created/);
  secret = (await printed(cli, /Signing secret: (whsec_\S+)/))[1];
  await printed(cli, /Connected\./);
  expect((await expectAnswer(api.GET("/v1/relays/{relay_id}", { params: { path: { relay_id: relayId } } }), 200)).connected).toBe(true);
  await expectAnswer(api.PATCH("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: webhookId } }, body: { retry: FAST_RETRY } }), 200);

  // One event: the local receiver answers 500, the retry gets 200, and the log shows both.
  await ingestUntilAccepted(server, { id: "evt_laptop_1", type: "workflow.completed", account_id: account.id, data: completedData(1) });
  expect(await waitFor(() => sink.received("laptop").length >= 2, 30_000)).toBe(true);
  expect(verified).toEqual([true, true]);
  const [d1] = await listDeliveries(server, key, webhookId);
  const delivery = await waitFor(async () => {
    const d = await getDelivery(server, key, d1.id);
    return d.status === "delivered" ? d : null;
  }, 20_000);
  expect(delivery?.attempts.map((a) => [a.number, a.status_code, a.response_body])).toEqual([
    [1, 500, "local bug"],
    [2, 200, "got it"],
  ]);
  await printed(cli, /workflow\.completed id evt_laptop_1 · sequence 1 · attempt 2 → 200/);

  // The CLI goes away; three events wait as for a receiver that is down.
  cli.child.kill("SIGTERM");
  await cli.exited;
  expect(
    await waitFor(async () => !(await expectAnswer(api.GET("/v1/relays/{relay_id}", { params: { path: { relay_id: relayId } } }), 200)).connected, 10_000),
  ).toBe(true);
  const waiting = ["evt_laptop_2", "evt_laptop_3", "evt_laptop_4"];
  for (const [i, id] of waiting.entries())
    await ingestUntilAccepted(server, { id, type: "workflow.completed", account_id: account.id, data: completedData(i + 2) });
  const failed = await waitFor(async () => {
    const pending = await listDeliveries(server, key, webhookId, { status: "pending" });
    const head = pending.find((d) => d.event_id === "evt_laptop_2");
    if (!head) return null;
    const d = await getDelivery(server, key, head.id);
    return d.attempts.length > 0 ? d : null;
  }, 20_000);
  expect(failed?.attempts[0].error).toContain("relay not connected");
  expect(sink.received("laptop")).toHaveLength(2);

  // Back with --relay: the same relay and secret, and the waiting deliveries arrive at once, in order.
  cli = listen("--forward-to", hooks, "--api", server.url, "--key", key, "--relay", relayId);
  await printed(cli, /Connected\./);
  expect(await waitFor(() => sink.received("laptop").length >= 5, 20_000)).toBe(true);
  const firstArrivals = [...new Set(sink.received("laptop").map((h) => h.id))];
  expect(firstArrivals).toEqual(["evt_laptop_1", ...waiting]);
  expect(verified.every(Boolean)).toBe(true);
  expect(await waitFor(async () => (await listDeliveries(server, key, webhookId)).every((d) => d.status === "delivered"), 20_000)).toBe(true);

  // A wrong key is refused, and the CLI says so and stops.
  const wrong = listen("--forward-to", hooks, "--api", server.url, "--key", "bxk_not_a_real_key", "--relay", relayId);
  expect(await wrong.exited).toBe(1);
  expect(wrong.output()).toMatch(/401/);

  // A key whose allowlist leaves this address out is refused too (403), by the CLI and at the socket itself.
  const office = await keyFrom(account.id, ["203.0.113.0/24"]);
  const outside = listen("--forward-to", hooks, "--api", server.url, "--key", office.key, "--relay", relayId);
  expect(await outside.exited).toBe(1);
  expect(outside.output()).toMatch(/403.*not allowed/s);
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/relays/${relayId}/connect`, {
      headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": "192.0.2.1" },
    });
    ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.on("open", () => reject(new Error("connected from outside the allowlist")));
    ws.on("error", () => {});
  });
  expect(status).toBe(403);

  // The key the connected CLI uses is revoked: its socket is closed at once (4003), and the CLI says why and stops.
  const platform = apiOf(server);
  await expectAnswer(platform.DELETE("/v1/accounts/{account_id}/api-keys/{key_id}", { params: { path: { account_id: account.id, key_id: laptop.id } } }), 204);
  expect(await cli.exited).toBe(1);
  expect(cli.output()).toMatch(/key this relay was opened with was revoked/);
});

test("one account's relay never sees another account's events", async () => {
  const [a, b] = [await newAccount(server, "A"), await newAccount(server, "B")];
  const cliA = listen("--forward-to", sink.path("a"), "--api", server.url, "--key", a.key);
  const cliB = listen("--forward-to", sink.path("b"), "--api", server.url, "--key", b.key);
  await printed(cliA, /Connected\./);
  await printed(cliB, /Connected\./);
  await ingestUntilAccepted(server, { id: "evt_for_b", type: "workflow.completed", account_id: b.id, data: completedData(1) });
  expect(await waitFor(() => sink.received("b").length === 1, 20_000)).toBe(true);
  await new Promise((r) => setTimeout(r, 500));
  expect(sink.received("a")).toEqual([]);
});
