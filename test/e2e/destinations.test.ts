import { cpSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DevServer, freePort, startDevServer } from "../support/dev-server";
import { createWebhook, expectStatus, newAccount, waitFor } from "../support/e2e-kit";
import { setDns, startReceiver, startResolver } from "../support/receiver";

// Issue 17 end to end, against `wrangler dev`: a credential in a custom header reaches the receiver and nothing
// else; the test route is throttled; and once ALLOW_PRIVATE_DESTINATIONS is false (with a fake DNS-over-HTTPS
// resolver), private destinations are refused when written and before each send, webhooks stored earlier
// included, with one error text whatever the port state, and nothing reaches a listener on 127.0.0.1.

const TOKEN = "Bearer sk_live_e2e_9f8e7d6c5b4a3f9a";
const SECRET_PART = TOKEN.slice("Bearer ".length);
const REFUSED = "destination refused: the webhook's host must resolve to public addresses only; nothing was sent";

let receiver: Awaited<ReturnType<typeof startReceiver>>;
let resolver: Awaited<ReturnType<typeof startResolver>>;
let listener: Server;
let listenerPort: number;
let closedPort: number;
let connections = 0;
let allowed: DevServer;
let strict: DevServer | null = null;
let account: { id: string; key: string };
const hooks: Record<string, { id: string }> = {};

beforeAll(async () => {
  [receiver, resolver, closedPort] = await Promise.all([startReceiver(), startResolver(), freePort()]);
  // A plain TCP listener on loopback, standing for a service beside the dispatcher: it counts who connects.
  listener = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  listenerPort = (listener.address() as { port: number }).port;
  allowed = await startDevServer();
  account = await newAccount(allowed, "Destinations");
});

afterAll(async () => {
  for (const s of [allowed, strict]) {
    await s?.stop();
    s?.cleanup();
  }
  await receiver?.close();
  await resolver?.close();
  await new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
});

/** Every file the server keeps its state in (D1, the queues' storage), as bytes. */
function stateFiles(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f));
}

async function received(name: string): Promise<{ headers: Record<string, string> }[]> {
  return (await fetch(`${receiver.url}/__received/${name}`)).json();
}

describe("with private destinations allowed (local work)", () => {
  test("a credential in a custom header reaches the receiver in clear, and is masked or absent everywhere else", async () => {
    const wh = await createWebhook(allowed, account.key, { url: `${receiver.url}/r/cred`, headers: { Authorization: TOKEN } });
    hooks.cred = wh;
    expect(wh.headers).toEqual({ Authorization: "Bearer …3f9a" });
    const test = await expectStatus(allowed.fetch(`/v1/webhooks/${wh.id}/test`, { method: "POST", bearer: account.key }), 200);
    expect(test.ok).toBe(true);
    expect((await received("cred"))[0].headers.authorization).toBe(TOKEN);

    const read = await expectStatus(allowed.fetch(`/v1/webhooks/${wh.id}`, { bearer: account.key }), 200);
    const list = await expectStatus(allowed.fetch("/v1/webhooks", { bearer: account.key }), 200);
    const delivery = await expectStatus(allowed.fetch(`/v1/deliveries/${test.delivery_id}`, { bearer: account.key }), 200);
    expect(read.headers).toEqual({ Authorization: "Bearer …3f9a" });
    expect(delivery.attempts[0].request_headers.Authorization).toBe("Bearer …3f9a");
    expect(JSON.stringify([read, list, delivery])).not.toContain(SECRET_PART);

    // At rest: no file of D1 or of the queues' storage holds it, though they do hold the webhook and its mask.
    const files = stateFiles(allowed.persistDir);
    expect(files.some((b) => b.includes(wh.id))).toBe(true);
    expect(files.some((b) => b.includes("Bearer …3f9a"))).toBe(true);
    expect(files.filter((b) => b.includes(SECRET_PART))).toHaveLength(0);
    expect(allowed.output()).not.toContain(SECRET_PART);
  });

  test("a control character in a header value → 422 naming the header", async () => {
    const problem = await expectStatus(
      allowed.fetch("/v1/webhooks", {
        method: "POST",
        bearer: account.key,
        json: { url: `${receiver.url}/r/x`, events: ["*"], headers: { "X-Key": "a\u0000b" } },
      }),
      422,
    );
    expect(problem.errors).toEqual([{ path: "headers.X-Key", message: expect.stringContaining("control character") }]);
  });

  test("ten test sends at once on a webhook limited to 1/s: one reaches the receiver, nine are 429 with Retry-After", async () => {
    const wh = await createWebhook(allowed, account.key, { url: `${receiver.url}/r/throttle`, rate_limit_per_s: 1 });
    hooks.throttle = wh;
    const answers = await Promise.all(Array.from({ length: 10 }, () => allowed.fetch(`/v1/webhooks/${wh.id}/test`, { method: "POST", bearer: account.key })));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 429, 429, 429, 429, 429, 429, 429, 429, 429]);
    for (const r of answers.filter((a) => a.status === 429)) {
      expect(r.headers.get("content-type")).toBe("application/problem+json");
      expect(r.headers.get("retry-after")).toBe("1");
    }
    expect(await received("throttle")).toHaveLength(1);
  });

  test("webhooks pointing at this machine are accepted, and reach it (the state issue 17 started from)", async () => {
    hooks.loopback = await createWebhook(allowed, account.key, { url: `http://127.0.0.1:${listenerPort}/h` });
    hooks.vm = await createWebhook(allowed, account.key, { url: `https://vm:${listenerPort}/h` });
    hooks.closed = await createWebhook(allowed, account.key, { url: `http://127.0.0.1:${closedPort}/h` });
    const test = await expectStatus(allowed.fetch(`/v1/webhooks/${hooks.vm.id}/test`, { method: "POST", bearer: account.key }), 200);
    expect(test.ok).toBe(false);
    expect(connections).toBeGreaterThan(0);
  });
});

describe("then with ALLOW_PRIVATE_DESTINATIONS=false and the fake resolver", () => {
  beforeAll(async () => {
    await allowed.stop();
    strict = await startDevServer({ vars: { ALLOW_PRIVATE_DESTINATIONS: "false", DNS_RESOLVER_URL: resolver.url, MAX_WEBHOOKS_PER_ACCOUNT: "4" } });
    // The same state as the first server: the webhooks it stored, their queues, the account.
    await strict.stop();
    rmSync(strict.persistDir, { recursive: true, force: true });
    cpSync(allowed.persistDir, strict.persistDir, { recursive: true });
    await strict.restart();
    connections = 0;
  });

  test("webhooks stored earlier are refused before each send, with one text whatever the port state; nothing connects", async () => {
    const server = strict!;
    await expectStatus(
      server.fetch("/v1/events", {
        method: "POST",
        bearer: server.token,
        json: { type: "workflow.completed", account_id: account.id, data: { workflow_id: "wf", execution_id: "exe", duration_ms: 1, outputs: {} } },
      }),
      202,
    );
    const lastErrors = async () =>
      Promise.all(
        ["loopback", "vm", "closed", "cred"].map(async (name) => {
          const list = await expectStatus(
            server.fetch(`/v1/webhooks/${hooks[name].id}/deliveries?event_type=workflow.completed`, { bearer: account.key }),
            200,
          );
          return list.data[0]?.last_error ?? null;
        }),
      );
    const errors = await waitFor(async () => {
      const e = await lastErrors();
      return e.every((x) => x !== null) ? e : null;
    }, 30_000);
    expect(errors).toEqual([REFUSED, REFUSED, REFUSED, REFUSED]);
    const test = await expectStatus(server.fetch(`/v1/webhooks/${hooks.vm.id}/test`, { method: "POST", bearer: account.key }), 200);
    expect(test).toMatchObject({ ok: false, status_code: null, error: REFUSED, response_body: null });
    expect(connections).toBe(0);
    expect(await received("cred")).toHaveLength(1);
  });

  test.each([["https://vm:9443/"], ["https://localhost.localdomain/"], ["https://127.0.0.1.nip.io/"], [`https://127.0.0.1:${9443}/`]])(
    "create %s → 422 url",
    async (url) => {
      await setDns(resolver.url, "127.0.0.1.nip.io", { A: ["127.0.0.1"] });
      const problem = await expectStatus(strict!.fetch("/v1/webhooks", { method: "POST", bearer: account.key, json: { url, events: ["*"] } }), 422);
      expect(problem.errors[0].path).toBe("url");
    },
  );

  test("a host that does not resolve yet is stored, and nothing is sent to it", async () => {
    const server = strict!;
    const fresh = await newAccount(server, "Unresolved");
    const wh = await createWebhook(server, fresh.key, { url: "https://not-yet.example/h" });
    const test = await expectStatus(server.fetch(`/v1/webhooks/${wh.id}/test`, { method: "POST", bearer: fresh.key }), 200);
    expect(test).toMatchObject({ ok: false, error: REFUSED });
  });

  test("a host that resolved public when written and private later (rebinding) is refused at send", async () => {
    const server = strict!;
    const fresh = await newAccount(server, "Rebinding");
    await setDns(resolver.url, "rebind.example", { A: ["93.184.215.14"], ttl: 1 });
    const wh = await createWebhook(server, fresh.key, { url: "https://rebind.example/h" });
    await setDns(resolver.url, "rebind.example", { A: ["127.0.0.1"], ttl: 1 });
    const test = await expectStatus(server.fetch(`/v1/webhooks/${wh.id}/test`, { method: "POST", bearer: fresh.key }), 200);
    expect(test).toMatchObject({ ok: false, error: REFUSED });
    expect(connections).toBe(0);
  });

  test("past MAX_WEBHOOKS_PER_ACCOUNT → 422", async () => {
    const server = strict!;
    const fresh = await newAccount(server, "Capped");
    await setDns(resolver.url, "public.example", { A: ["93.184.215.14"] });
    for (let i = 0; i < 4; i++) await createWebhook(server, fresh.key, { url: `https://public.example/${i}` });
    const problem = await expectStatus(
      server.fetch("/v1/webhooks", { method: "POST", bearer: fresh.key, json: { url: "https://public.example/5", events: ["*"] } }),
      422,
    );
    expect(problem.detail).toContain("MAX_WEBHOOKS_PER_ACCOUNT");
  });
});
