import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, test } from "vitest";
import { buildApp } from "../src/http/app";
import { call, expectJson, expectProblem, newAccount, receiver } from "./support/api";
import { setDns } from "./support/receiver";

/** Asserts a 422 that names `path` among its field errors, and in its detail. */
async function expectInvalid(res: Response | Promise<Response>, path: string) {
  const body = await expectProblem(res, 422);
  expect(body.errors.map((e: { path: string }) => e.path)).toContain(path);
  expect(body.detail).toContain(path);
  return body;
}

async function count(sql: string, ...args: unknown[]): Promise<number> {
  return (
    (
      await env.DB.prepare(sql)
        .bind(...args)
        .first<{ n: number }>()
    )?.n ?? 0
  );
}

/** Calls a freshly built app with an env override (config() caches per env object, so this one is re-parsed). */
async function callApp(overrides: Partial<Cloudflare.Env>, method: string, path: string, opts: { token: string; body?: unknown }) {
  const request = new Request(`https://webhooks.test${path}`, {
    method,
    headers: { authorization: `Bearer ${opts.token}`, "content-type": "application/json" },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const ctx = createExecutionContext();
  const res = await buildApp().fetch(request, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
const newSecret = (n = 32) => `whsec_${b64(crypto.getRandomValues(new Uint8Array(n)))}`;

/** The Standard Webhooks v1 signature of a received request under `secret`. */
async function hmacSignature(secret: string, headers: Record<string, string>, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", unb64(secret.slice("whsec_".length)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const content = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  return `v1,${b64(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(content))))}`;
}

/** Sends a test event to the webhook and returns the request the receiver got. */
async function testSend(key: string, webhookId: string, r: Awaited<ReturnType<typeof receiver>>) {
  const before = (await r.received()).length;
  const answer = await expectJson(call("POST", `/v1/webhooks/${webhookId}/test`, { token: key }), 200);
  expect(answer.ok).toBe(true);
  const got = await r.received();
  expect(got).toHaveLength(before + 1);
  return got[got.length - 1] as { headers: Record<string, string>; body: string };
}

const WEBHOOK_KEYS = [
  "id",
  "url",
  "events",
  "description",
  "active",
  "disabled_reason",
  "headers",
  "filter",
  "ordering",
  "ordering_key",
  "retry",
  "timeout_ms",
  "rate_limit_per_s",
  "batch",
  "format",
  "redact",
  "ttl_s",
  "signing",
  "created_at",
  "updated_at",
  "failing",
  "held",
].sort();

describe("create", () => {
  test("answers 201 with every field, defaults applied, and the secret once", async () => {
    const { key } = await newAccount();
    const r = await receiver();
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["workflow.completed"] } }), 201);
    expect(Object.keys(wh).sort()).toEqual([...WEBHOOK_KEYS, "secret"].sort());
    expect(wh).toEqual({
      id: expect.stringMatching(/^wh_[0-9A-Z]{26}$/),
      url: r.url,
      events: ["workflow.completed"],
      description: "",
      active: true,
      disabled_reason: null,
      headers: {},
      filter: null,
      ordering: "strict",
      ordering_key: null,
      retry: { max_attempts: 12, base_delay_ms: 5000, multiplier: 3, max_delay_ms: 36_000_000 },
      timeout_ms: 10_000,
      rate_limit_per_s: null,
      batch: null,
      format: "json",
      redact: [],
      ttl_s: null,
      signing: "hmac",
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updated_at: wh.created_at,
      failing: null,
      held: null,
    });
    expect(unb64(wh.secret.slice(6)).length).toBeGreaterThanOrEqual(24);

    // The secret never appears again: read, list, change.
    const read = await call("GET", `/v1/webhooks/${wh.id}`, { token: key }).then((res) => res.text());
    const list = await call("GET", "/v1/webhooks", { token: key }).then((res) => res.text());
    const patched = await call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { description: "changed" } }).then((res) => res.text());
    for (const text of [read, list, patched]) {
      expect(text).not.toContain(wh.secret);
      expect(text).not.toContain(wh.secret.slice(6));
      expect(text).not.toMatch(/"secret"|"secrets"|whsec_/);
    }
    expect(Object.keys(JSON.parse(read)).sort()).toEqual(WEBHOOK_KEYS);
  });

  test("keeps a given secret, signs with it, and stores it only encrypted", async () => {
    const { key } = await newAccount();
    const r = await receiver();
    const secret = newSecret(24);
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["*"], secret } }), 201);
    expect(wh.secret).toBe(secret);
    const row = await env.DB.prepare("SELECT secrets FROM webhooks WHERE id = ?").bind(wh.id).first<{ secrets: string }>();
    expect(row?.secrets).toBeTruthy();
    expect(row!.secrets).not.toContain(secret);
    expect(row!.secrets).not.toContain(secret.slice(6));
    const sent = await testSend(key, wh.id, r);
    expect(sent.headers["webhook-signature"]).toBe(await hmacSignature(secret, sent.headers, sent.body));
  });

  test("a generated secret is stored only encrypted", async () => {
    const { key } = await newAccount();
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"] } }), 201);
    const row = await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(wh.id).first<Record<string, unknown>>();
    const raw = JSON.stringify(row);
    expect(raw).not.toContain(wh.secret);
    expect(raw).not.toContain(wh.secret.slice(6));
  });

  test('signing: "ed25519" answers a public key and no secret', async () => {
    const { key } = await newAccount();
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"], signing: "ed25519" } }), 201);
    expect(wh.signing).toBe("ed25519");
    expect(wh.secret).toBeUndefined();
    expect(wh.public_key).toMatch(/^whpk_/);
    expect(unb64(wh.public_key.slice(5))).toHaveLength(32);
    const read = await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200);
    expect(read.public_key).toBe(wh.public_key);
    expect(read.secret).toBeUndefined();
    const row = await env.DB.prepare("SELECT secrets FROM webhooks WHERE id = ?").bind(wh.id).first<{ secrets: string }>();
    expect(row!.secrets).not.toContain("whsk_");
  });

  const ACCEPTED: [name: string, extra: Record<string, unknown>][] = [
    ["a category wildcard", { events: ["workflow.*"] }],
    ["a deeper wildcard", { events: ["user.session.*"] }],
    ["everything", { events: ["*"] }],
    ["exact and wildcard together", { events: ["user.*", "api.quota.warning"] }],
    [
      "a filter with every operator",
      {
        filter: {
          $and: [
            { "data.duration_ms": { $gt: 1, $gte: 1, $lt: 9, $lte: 9 } },
            { $or: [{ type: { $in: ["a"] } }, { $not: { "data.x": { $exists: true } } }] },
            { "data.tags": { $contains: "x" } },
            { "data.y": { $ne: 1, $nin: [2] } },
            { "data.z": { $eq: "z" } },
          ],
        },
      },
    ],
    ["key ordering with its key", { ordering: "key", ordering_key: "data.execution_id" }],
    ["no ordering", { ordering: "none" }],
    ["a partial retry policy", { retry: { max_attempts: 1 } }],
    ["the retry bounds", { retry: { max_attempts: 30, base_delay_ms: 100, multiplier: 10, max_delay_ms: 100 } }],
    ["the longest timeout", { timeout_ms: 30_000 }],
    ["batching", { batch: { max_size: 100, max_wait_ms: 0 } }],
    ["a rate limit", { rate_limit_per_s: 1 }],
    ["slack format", { format: "slack" }],
    ["redaction", { redact: ["data.message.content", "data.outputs"] }],
    ["a ttl", { ttl_s: 3600 }],
    ["inactive", { active: false }],
    ["a description", { description: "Billing team" }],
  ];
  test.each(ACCEPTED)("accepts %s", async (_name, extra) => {
    const { key } = await newAccount();
    const wh = await expectJson(
      call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["workflow.completed"], ...extra } }),
      201,
    );
    for (const [field, value] of Object.entries(extra)) {
      if (field === "retry") expect(wh.retry).toMatchObject(value as object);
      else expect(wh[field]).toEqual(value);
    }
    expect(await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200)).toEqual({ ...wh, secret: undefined });
  });
});

const INVALID: [name: string, body: Record<string, unknown>, path: string][] = [
  ["no url", { url: undefined }, "url"],
  ["a url that is not a URL", { url: "not a url" }, "url"],
  ["an ftp url", { url: "ftp://example.com/h" }, "url"],
  ["a url with credentials", { url: "https://user:pass@example.com/h" }, "url"],
  ["a url with a user only", { url: "https://user@example.com/h" }, "url"],
  ["a url with a fragment", { url: "https://example.com/h#x" }, "url"],
  ["a url that is not a string", { url: 42 }, "url"],
  ["no events", { events: undefined }, "events"],
  ["an empty events list", { events: [] }, "events"],
  ["an unknown event type", { events: ["workflow.finished"] }, "events.0"],
  ["an unknown type after a good one", { events: ["workflow.completed", "workflow.finished"] }, "events.1"],
  ["a wildcard matching nothing", { events: ["billing.*"] }, "events.0"],
  ["a wildcard in the middle", { events: ["workflow.*.x"] }, "events.0"],
  ["a bare prefix wildcard", { events: ["work*"] }, "events.0"],
  ["the batch envelope type", { events: ["batch"] }, "events.0"],
  ["webhook-signature header", { headers: { "webhook-signature": "v1,forged" } }, "headers.webhook-signature"],
  ["webhook-id header", { headers: { "Webhook-Id": "x" } }, "headers.Webhook-Id"],
  ["x-broxiai-event header", { headers: { "x-broxiai-event": "x" } }, "headers.x-broxiai-event"],
  ["X-BroxiAI-Delivery header", { headers: { "X-BroxiAI-Delivery": "x" } }, "headers.X-BroxiAI-Delivery"],
  ["content-type header", { headers: { "content-type": "text/plain" } }, "headers.content-type"],
  ["user-agent header", { headers: { "User-Agent": "me" } }, "headers.User-Agent"],
  ["host header", { headers: { host: "evil.example" } }, "headers.host"],
  ["content-length header", { headers: { "content-length": "1" } }, "headers.content-length"],
  ["a header name with a space", { headers: { "x bad": "1" } }, "headers.x bad"],
  ["a header value with a line break", { headers: { "x-ok": "a\r\nx-evil: 1" } }, "headers.x-ok"],
  ["a header value with NUL", { headers: { "x-ok": "a\u0000b" } }, "headers.x-ok"],
  ["a header value that is not a string", { headers: { "x-ok": 1 } }, "headers.x-ok"],
  ["retry.max_attempts 0", { retry: { max_attempts: 0 } }, "retry.max_attempts"],
  ["retry.max_attempts 31", { retry: { max_attempts: 31 } }, "retry.max_attempts"],
  ["retry.max_attempts 1.5", { retry: { max_attempts: 1.5 } }, "retry.max_attempts"],
  ["retry.base_delay_ms 99", { retry: { base_delay_ms: 99 } }, "retry.base_delay_ms"],
  ["retry.multiplier 0.5", { retry: { multiplier: 0.5 } }, "retry.multiplier"],
  ["retry.multiplier 11", { retry: { multiplier: 11 } }, "retry.multiplier"],
  ["retry.max_delay_ms below the default base", { retry: { max_delay_ms: 4999 } }, "retry.max_delay_ms"],
  ["retry.max_delay_ms below the given base", { retry: { base_delay_ms: 2000, max_delay_ms: 1000 } }, "retry.max_delay_ms"],
  ["an unknown retry field", { retry: { jitter: 0.2 } }, "retry.jitter"],
  ["timeout_ms 30001", { timeout_ms: 30_001 }, "timeout_ms"],
  ["timeout_ms 99", { timeout_ms: 99 }, "timeout_ms"],
  ["timeout_ms as a string", { timeout_ms: "1000" }, "timeout_ms"],
  ["batch.max_size 0", { batch: { max_size: 0, max_wait_ms: 100 } }, "batch.max_size"],
  ["batch.max_size 101", { batch: { max_size: 101, max_wait_ms: 100 } }, "batch.max_size"],
  ["batch.max_wait_ms -1", { batch: { max_size: 10, max_wait_ms: -1 } }, "batch.max_wait_ms"],
  ["batch.max_wait_ms 60001", { batch: { max_size: 10, max_wait_ms: 60_001 } }, "batch.max_wait_ms"],
  ["batch without max_wait_ms", { batch: { max_size: 10 } }, "batch.max_wait_ms"],
  ["an unknown batch field", { batch: { max_size: 10, max_wait_ms: 10, max_bytes: 1 } }, "batch.max_bytes"],
  ["slack with batching", { format: "slack", batch: { max_size: 10, max_wait_ms: 100 } }, "batch"],
  ["batching with per-key ordering", { ordering: "key", ordering_key: "data.execution_id", batch: { max_size: 10, max_wait_ms: 100 } }, "batch"],
  ["rate_limit_per_s 0", { rate_limit_per_s: 0 }, "rate_limit_per_s"],
  ["rate_limit_per_s 1001", { rate_limit_per_s: 1001 }, "rate_limit_per_s"],
  ["rate_limit_per_s 1.5", { rate_limit_per_s: 1.5 }, "rate_limit_per_s"],
  ["an unknown filter operator", { filter: { "data.duration_ms": { $gtt: 1 } } }, "filter"],
  ["$or that is not a list", { filter: { $or: { "data.x": 1 } } }, "filter"],
  ["$in that is not a list", { filter: { "data.x": { $in: 1 } } }, "filter"],
  ["a bad filter path", { filter: { "data..x": 1 } }, "filter"],
  ["a filter that is a list", { filter: [1] }, "filter"],
  ["ordering key without ordering_key", { ordering: "key" }, "ordering_key"],
  ["an unknown ordering", { ordering: "fifo" }, "ordering"],
  ["a bad ordering_key path", { ordering: "key", ordering_key: "data..execution_id" }, "ordering_key"],
  ["a bad redact path", { redact: ["data.message.content", "data..x"] }, "redact.1"],
  ["a reserved redact segment", { redact: ["data.__proto__"] }, "redact.0"],
  ["redact that is not a list", { redact: "data.x" }, "redact"],
  ["ttl_s 0", { ttl_s: 0 }, "ttl_s"],
  ["ttl_s over 30 days", { ttl_s: 30 * 86_400 + 1 }, "ttl_s"],
  ["an unknown format", { format: "xml" }, "format"],
  ["an unknown signing scheme", { signing: "rsa" }, "signing"],
  ["active as a string", { active: "yes" }, "active"],
  ["a description over 500 characters", { description: "x".repeat(501) }, "description"],
  ["a secret without its prefix", { secret: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0" }, "secret"],
  ["a secret under 24 bytes", { secret: newSecret(16) }, "secret"],
  ["a secret over 64 bytes", { secret: newSecret(65) }, "secret"],
  ["a secret that is not base64", { secret: "whsec_not*base64*at*all*not*base64*at*all" }, "secret"],
  ["a secret for an ed25519 webhook", { signing: "ed25519", secret: newSecret() }, "secret"],
  ["an unknown field", { colour: "red" }, "colour"],
  ["id as a field", { id: "wh_mine" }, "id"],
];

describe("create refuses bad input with 422 naming the field", () => {
  test.each(INVALID)("%s (%j) → 422 naming %s", async (_name, extra, path) => {
    const { key } = await newAccount();
    const before = await count("SELECT count(*) AS n FROM webhooks");
    const body = { url: "https://example.com/h", events: ["workflow.completed"], ...extra };
    await expectInvalid(call("POST", "/v1/webhooks", { token: key, body: JSON.parse(JSON.stringify(body)) }), path);
    expect(await count("SELECT count(*) AS n FROM webhooks")).toBe(before);
  });

  test("malformed JSON → 400", async () => {
    const { key } = await newAccount();
    const before = await count("SELECT count(*) AS n FROM webhooks");
    const body = await expectProblem(call("POST", "/v1/webhooks", { token: key, raw: '{"url": "https://example.com/h", "events": [' }), 400);
    expect(body.detail).toMatch(/JSON/);
    expect(await count("SELECT count(*) AS n FROM webhooks")).toBe(before);
  });

  test("a JSON body that is not an object → 422", async () => {
    const { key } = await newAccount();
    await expectProblem(call("POST", "/v1/webhooks", { token: key, raw: "[]" }), 422);
  });
});

const PRIVATE_URLS: [url: string][] = [
  ["http://example.com/h"],
  ["https://localhost/h"],
  ["https://api.localhost/h"],
  ["https://127.0.0.1/h"],
  ["https://127.1.2.3:8443/h"],
  ["https://0.0.0.0/h"],
  ["https://10.1.2.3/h"],
  ["https://172.16.0.1/h"],
  ["https://192.168.1.10/h"],
  ["https://169.254.169.254/latest/meta-data/"],
  ["https://metadata.google.internal/computeMetadata/v1/"],
  ["https://100.64.0.1/h"],
  ["https://[::1]/h"],
  ["https://[fe80::1]/h"],
  ["https://[fd00::1]/h"],
  ["https://[::ffff:127.0.0.1]/h"],
  ["https://[::ffff:10.0.0.1]/h"],
  ["https://2130706433/h"],
  ["https://0x7f.0.0.1/h"],
  ["https://printer.local/h"],
];

describe("with ALLOW_PRIVATE_DESTINATIONS=false", () => {
  // Host names are resolved through the fake DNS-over-HTTPS resolver started beside the receiver.
  const strict = { ALLOW_PRIVATE_DESTINATIONS: "false", DNS_RESOLVER_URL: inject("resolverUrl") };

  test.each(PRIVATE_URLS)("create with %s → 422 url", async (url) => {
    const { key } = await newAccount();
    const before = await count("SELECT count(*) AS n FROM webhooks");
    await expectInvalid(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url, events: ["*"] } }), "url");
    expect(await count("SELECT count(*) AS n FROM webhooks")).toBe(before);
  });

  test.each(PRIVATE_URLS)("PATCH to %s → 422 url, nothing changed", async (url) => {
    const { key } = await newAccount();
    const wh = await expectJson(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"] } }), 201);
    await expectInvalid(callApp(strict, "PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { url } }), "url");
    const read = await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200);
    expect(read.url).toBe("https://example.com/h");
    expect(read.updated_at).toBe(wh.updated_at);
  });

  test.each([["https://example.com/h"], ["https://1.1.1.1:8443/hooks?x=1"], ["https://[2606:4700::1111]/h"]])("public %s is accepted", async (url) => {
    const { key } = await newAccount();
    await expectJson(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url, events: ["*"] } }), 201);
  });

  test.each([
    ["a name that resolves to loopback", "loopback.dns.example", { A: ["127.0.0.1"] }, "127.0.0.1 (loopback address)"],
    ["a nip.io-style name", "127.0.0.1.nip.example", { A: ["127.0.0.1"] }, "127.0.0.1 (loopback address)"],
    ["a name that resolves to metadata", "meta.dns.example", { A: ["169.254.169.254"] }, "cloud metadata"],
    ["a name that resolves to CGNAT", "cgnat.dns.example", { A: ["100.100.1.1"] }, "carrier-grade NAT"],
    ["a name with one private address among public ones", "mixed.dns.example", { A: ["93.184.215.14", "192.168.1.9"] }, "192.168.1.9 (private address)"],
    ["a name whose IPv6 answer is IPv4-mapped private", "v6.dns.example", { AAAA: ["::ffff:10.0.0.1"] }, "IPv4-mapped form of the private address"],
    ["a CNAME to a name that resolves to loopback", "alias.dns.example", { CNAME: "loopback.dns.example" }, "127.0.0.1"],
  ])("create with %s → 422 url naming the address", async (_name, host, record, named) => {
    const resolverUrl = inject("resolverUrl");
    await setDns(resolverUrl, "loopback.dns.example", { A: ["127.0.0.1"] });
    await setDns(resolverUrl, host, record);
    const { key } = await newAccount();
    const before = await count("SELECT count(*) AS n FROM webhooks");
    const problem = await expectInvalid(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url: `https://${host}/h`, events: ["*"] } }), "url");
    expect(problem.detail).toContain(named);
    expect(await count("SELECT count(*) AS n FROM webhooks")).toBe(before);
  });

  test.each([["https://vm:9443/"], ["https://localhost.localdomain/"], ["https://router.home.arpa/"]])(
    "create with %s → 422 url, by its name alone",
    async (url) => {
      const { key } = await newAccount();
      await expectInvalid(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url, events: ["*"] } }), "url");
    },
  );

  test("a PATCH to a name that resolves to a private address → 422, nothing changed", async () => {
    await setDns(inject("resolverUrl"), "patch-private.dns.example", { A: ["10.2.3.4"] });
    const { key } = await newAccount();
    const wh = await expectJson(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"] } }), 201);
    await expectInvalid(callApp(strict, "PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { url: "https://patch-private.dns.example/h" } }), "url");
    expect((await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200)).url).toBe("https://example.com/h");
  });

  test("a name that resolves to public addresses, or not at all yet, is accepted", async () => {
    await setDns(inject("resolverUrl"), "public.dns.example", { A: ["93.184.215.14"], AAAA: ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"] });
    const { key } = await newAccount();
    await expectJson(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url: "https://public.dns.example/h", events: ["*"] } }), 201);
    await expectJson(callApp(strict, "POST", "/v1/webhooks", { token: key, body: { url: "https://not-yet.dns.example/h", events: ["*"] } }), 201);
  });

  test("with ALLOW_PRIVATE_DESTINATIONS=true, http and loopback are accepted", async () => {
    const { key } = await newAccount();
    await expectJson(
      callApp({ ALLOW_PRIVATE_DESTINATIONS: "true" }, "POST", "/v1/webhooks", { token: key, body: { url: "http://127.0.0.1:8787/h", events: ["*"] } }),
      201,
    );
  });
});

describe("webhooks per account", () => {
  const capped = { MAX_WEBHOOKS_PER_ACCOUNT: "3" };
  const create = (key: string, n: number) => callApp(capped, "POST", "/v1/webhooks", { token: key, body: { url: `https://example.com/${n}`, events: ["*"] } });

  test("past MAX_WEBHOOKS_PER_ACCOUNT → 422 saying so; another account is not affected; a deleted one frees its place", async () => {
    const { key } = await newAccount();
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await expectJson(create(key, i), 201));
    const problem = await expectProblem(create(key, 3), 422);
    expect(problem.detail).toMatch(/already has 3 webhooks.*MAX_WEBHOOKS_PER_ACCOUNT/);
    expect((await expectJson(call("GET", "/v1/webhooks", { token: key }), 200)).data).toHaveLength(3);

    const other = await newAccount("Other");
    await expectJson(create(other.key, 0), 201);

    expect((await call("DELETE", `/v1/webhooks/${made[0].id}`, { token: key })).status).toBe(204);
    await expectJson(create(key, 4), 201);
    await expectProblem(create(key, 5), 422);
  });

  test("creates at once cannot pass the cap together", async () => {
    const { key } = await newAccount();
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => create(key, i)));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 201, 201, 422, 422, 422]);
    expect((await expectJson(call("GET", "/v1/webhooks", { token: key }), 200)).data).toHaveLength(3);
  });
});

describe("list", () => {
  test("pages with a cursor, newest first, with no duplicates", async () => {
    const { key } = await newAccount();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      created.push((await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: `https://example.com/${i}`, events: ["*"] } }), 201)).id);
    }
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: { id: string }[]; next_cursor: string | null } = await expectJson(
        call("GET", `/v1/webhooks?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token: key }),
        200,
      );
      pageSizes.push(page.data.length);
      seen.push(...page.data.map((w) => w.id));
      cursor = page.next_cursor;
    } while (cursor && pageSizes.length < 10);
    expect(pageSizes).toEqual([2, 2, 1]);
    expect(seen).toEqual([...created].reverse());
    expect(new Set(seen).size).toBe(5);

    const all = await expectJson(call("GET", "/v1/webhooks", { token: key }), 200);
    expect(all.data.map((w: { id: string }) => w.id)).toEqual([...created].reverse());
    expect(all.next_cursor).toBeNull();
  });

  test.each([
    ["limit=0", "limit"],
    ["limit=201", "limit"],
    ["limit=abc", "limit"],
    ["limit=1.5", "limit"],
  ])("?%s → 422 naming %s", async (query, path) => {
    const { key } = await newAccount();
    await expectInvalid(call("GET", `/v1/webhooks?${query}`, { token: key }), path);
  });

  test("shows only the caller's webhooks", async () => {
    const a = await newAccount("A");
    const b = await newAccount("B");
    const wa = await expectJson(call("POST", "/v1/webhooks", { token: a.key, body: { url: "https://example.com/a", events: ["*"] } }), 201);
    const listB = await expectJson(call("GET", "/v1/webhooks", { token: b.key }), 200);
    expect(listB.data.map((w: { id: string }) => w.id)).not.toContain(wa.id);
  });
});

describe("PATCH", () => {
  async function webhook(extra: Record<string, unknown> = {}) {
    const { key } = await newAccount();
    const wh = await expectJson(
      call("POST", "/v1/webhooks", {
        token: key,
        body: { url: "https://example.com/h", events: ["workflow.*"], description: "first", headers: { "x-a": "1" }, retry: { max_attempts: 5 }, ...extra },
      }),
      201,
    );
    const { secret: _secret, ...shown } = wh;
    return { key, wh: shown };
  }

  test("merges the given fields onto the stored ones", async () => {
    const { key, wh } = await webhook();
    const patched = await expectJson(
      call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { description: "second", retry: { base_delay_ms: 1000 }, timeout_ms: 5000 } }),
      200,
    );
    expect(patched).toEqual({
      ...wh,
      description: "second",
      retry: { max_attempts: 5, base_delay_ms: 1000, multiplier: 3, max_delay_ms: 36_000_000 },
      timeout_ms: 5000,
      updated_at: expect.any(String),
    });
    expect(Date.parse(patched.updated_at)).toBeGreaterThan(Date.parse(wh.updated_at));
    expect(await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200)).toEqual(patched);
  });

  test.each([
    ["filter", { filter: null }, { filter: { "data.x": 1 } }],
    ["batch", { batch: null }, { batch: { max_size: 5, max_wait_ms: 10 } }],
    ["rate limit", { rate_limit_per_s: null }, { rate_limit_per_s: 5 }],
    ["ttl", { ttl_s: null }, { ttl_s: 60 }],
  ])("null clears %s", async (_name, patch, initial) => {
    const { key, wh } = await webhook(initial);
    const patched = await expectJson(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: patch }), 200);
    expect(patched).toMatchObject(patch);
  });

  test('ordering "key" with ordering_key in the same patch is accepted', async () => {
    const { key, wh } = await webhook();
    const patched = await expectJson(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { ordering: "key", ordering_key: "data.execution_id" } }), 200);
    expect(patched).toMatchObject({ ordering: "key", ordering_key: "data.execution_id" });
    // And once set, ordering_key cannot be taken away while ordering is "key".
    await expectInvalid(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { ordering_key: null } }), "ordering_key");
    expect(await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200)).toEqual(patched);
  });

  const BAD_PATCHES: [name: string, patch: Record<string, unknown>, path: string][] = [
    ['ordering "key" without ordering_key', { ordering: "key" }, "ordering_key"],
    ["max_delay_ms under the stored base", { retry: { max_delay_ms: 1000 } }, "retry.max_delay_ms"],
    ["base over the stored max_delay_ms", { retry: { base_delay_ms: 40_000_000 } }, "retry.max_delay_ms"],
    ["an unknown event type", { events: ["workflow.finished"] }, "events.0"],
    ["a reserved header", { headers: { "webhook-signature": "x" } }, "headers.webhook-signature"],
    ["a bad filter", { filter: { $nope: 1 } }, "filter"],
    ["a bad redact path", { redact: ["data..x"] }, "redact.0"],
    ["timeout_ms over 30000", { timeout_ms: 30_001 }, "timeout_ms"],
    ["a url with credentials", { url: "https://u:p@example.com/h" }, "url"],
    ["a url that is not https", { url: "ftp://example.com/h" }, "url"],
    ["slack onto a batched webhook", { format: "slack", batch: { max_size: 5, max_wait_ms: 10 } }, "batch"],
    ["an unknown field", { colour: "red" }, "colour"],
    ["the secret", { secret: newSecret() }, "secret"],
    ["the signing scheme", { signing: "ed25519" }, "signing"],
    ["the id", { id: "wh_other" }, "id"],
  ];
  test.each(BAD_PATCHES)("%s (%j) → 422 naming %s, nothing changed", async (_name, patch, path) => {
    const { key, wh } = await webhook();
    await expectInvalid(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: patch }), path);
    expect(await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200)).toEqual(wh);
  });

  test("malformed JSON → 400, nothing changed", async () => {
    const { key, wh } = await webhook();
    await expectProblem(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, raw: "{description:" }), 400);
    expect(await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200)).toEqual(wh);
  });

  test("a disabled webhook stays disabled through other changes; active: true re-enables it", async () => {
    const { key, wh } = await webhook();
    await env.DB.prepare("UPDATE webhooks SET active = 0, disabled_reason = ? WHERE id = ?").bind("receiver answered 410 Gone", wh.id).run();
    const changed = await expectJson(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { description: "still off" } }), 200);
    expect(changed).toMatchObject({ active: false, disabled_reason: "receiver answered 410 Gone", description: "still off" });
    const enabled = await expectJson(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { active: true } }), 200);
    expect(enabled).toMatchObject({ active: true, disabled_reason: null });
    expect(await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 200)).toEqual(enabled);
  });

  test("active false, then true", async () => {
    const { key, wh } = await webhook();
    expect((await expectJson(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { active: false } }), 200)).active).toBe(false);
    expect((await expectJson(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { active: true } }), 200)).active).toBe(true);
  });
});

describe("DELETE", () => {
  test("answers 204, then the webhook is gone everywhere", async () => {
    const { key } = await newAccount();
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"] } }), 201);
    const res = await call("DELETE", `/v1/webhooks/${wh.id}`, { token: key });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    await expectProblem(call("GET", `/v1/webhooks/${wh.id}`, { token: key }), 404);
    await expectProblem(call("PATCH", `/v1/webhooks/${wh.id}`, { token: key, body: { description: "x" } }), 404);
    await expectProblem(call("DELETE", `/v1/webhooks/${wh.id}`, { token: key }), 404);
    await expectProblem(call("POST", `/v1/webhooks/${wh.id}/rotate-secret`, { token: key }), 404);
    const list = await expectJson(call("GET", "/v1/webhooks", { token: key }), 200);
    expect(list.data).toEqual([]);
  });
});

describe("another account's webhook is 404, and stays as it was", () => {
  const ROUTES: [method: string, suffix: string, body?: unknown][] = [
    ["GET", ""],
    ["PATCH", "", { description: "hijacked" }],
    ["DELETE", ""],
    ["POST", "/rotate-secret"],
    ["POST", "/test"],
    ["GET", "/deliveries"],
    ["GET", "/stats"],
    ["POST", "/replay", { since: "2020-01-01T00:00:00Z" }],
  ];
  test.each(ROUTES)("%s /v1/webhooks/{id}%s", async (method, suffix, body) => {
    const owner = await newAccount("Owner");
    const other = await newAccount("Other");
    const r = await receiver();
    const created = await expectJson(call("POST", "/v1/webhooks", { token: owner.key, body: { url: r.url, events: ["*"] } }), 201);
    const { secret: _secret, ...wh } = created;
    const problem = await expectProblem(call(method, `/v1/webhooks/${wh.id}${suffix}`, { token: other.key, body }), 404);
    // Indistinguishable from an id that never existed.
    const missing = await expectProblem(call(method, `/v1/webhooks/wh_01AAAAAAAAAAAAAAAAAAAAAAAA${suffix}`, { token: other.key, body }), 404);
    expect(problem.title).toBe(missing.title);
    expect(problem.detail.replace(wh.id, "ID")).toBe(missing.detail.replace("wh_01AAAAAAAAAAAAAAAAAAAAAAAA", "ID"));
    expect(await expectJson(call("GET", `/v1/webhooks/${wh.id}`, { token: owner.key }), 200)).toEqual(wh);
    const row = await env.DB.prepare("SELECT secrets FROM webhooks WHERE id = ?").bind(wh.id).first<{ secrets: string }>();
    expect(JSON.parse(row!.secrets)).toHaveLength(1);
    expect(await r.received()).toHaveLength(0);
  });
});

describe("rotate-secret", () => {
  test("answers a new secret; both sign during the grace period, new first; GET shows neither", async () => {
    const { key } = await newAccount();
    const r = await receiver();
    const created = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["*"] } }), 201);
    const rotated = await expectJson(call("POST", `/v1/webhooks/${created.id}/rotate-secret`, { token: key }), 200);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);
    expect(Date.parse(rotated.updated_at)).toBeGreaterThan(Date.parse(created.updated_at));

    const read = await call("GET", `/v1/webhooks/${created.id}`, { token: key }).then((res) => res.text());
    expect(read).not.toMatch(/whsec_|"secret"/);
    const row = await env.DB.prepare("SELECT secrets FROM webhooks WHERE id = ?").bind(created.id).first<{ secrets: string }>();
    expect(row!.secrets).not.toContain(rotated.secret.slice(6));
    expect(row!.secrets).not.toContain(created.secret.slice(6));

    const sent = await testSend(key, created.id, r);
    const signatures = sent.headers["webhook-signature"].split(" ");
    expect(signatures).toEqual([await hmacSignature(rotated.secret, sent.headers, sent.body), await hmacSignature(created.secret, sent.headers, sent.body)]);
  });

  test("grace_period_s 0 drops the old secret at once; a given secret is used", async () => {
    const { key } = await newAccount();
    const r = await receiver();
    const created = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["*"] } }), 201);
    const secret = newSecret();
    const rotated = await expectJson(call("POST", `/v1/webhooks/${created.id}/rotate-secret`, { token: key, body: { secret, grace_period_s: 0 } }), 200);
    expect(rotated.secret).toBe(secret);
    const sent = await testSend(key, created.id, r);
    expect(sent.headers["webhook-signature"]).toBe(await hmacSignature(secret, sent.headers, sent.body));
  });

  test("switching to ed25519 answers a public key and no secret", async () => {
    const { key } = await newAccount();
    const created = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"] } }), 201);
    const rotated = await expectJson(call("POST", `/v1/webhooks/${created.id}/rotate-secret`, { token: key, body: { signing: "ed25519" } }), 200);
    expect(rotated.secret).toBeUndefined();
    expect(rotated.public_key).toMatch(/^whpk_/);
    expect(rotated.signing).toBe("ed25519");
    expect((await expectJson(call("GET", `/v1/webhooks/${created.id}`, { token: key }), 200)).public_key).toBe(rotated.public_key);
  });

  test.each([
    ["a bad secret", { secret: "whsec_short" }, "secret"],
    ["a secret for ed25519", { signing: "ed25519", secret: newSecret() }, "secret"],
    ["a negative grace period", { grace_period_s: -1 }, "grace_period_s"],
    ["a grace period over 7 days", { grace_period_s: 7 * 86_400 + 1 }, "grace_period_s"],
    ["an unknown signing scheme", { signing: "rsa" }, "signing"],
    ["an unknown field", { keep_old: true }, "keep_old"],
  ])("%s (%j) → 422 naming %s, nothing changed", async (_name, body, path) => {
    const { key } = await newAccount();
    const created = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"] } }), 201);
    const before = await env.DB.prepare("SELECT secrets, updated_at FROM webhooks WHERE id = ?").bind(created.id).first();
    await expectInvalid(call("POST", `/v1/webhooks/${created.id}/rotate-secret`, { token: key, body }), path);
    expect(await env.DB.prepare("SELECT secrets, updated_at FROM webhooks WHERE id = ?").bind(created.id).first()).toEqual(before);
  });

  test("malformed JSON → 400, nothing changed", async () => {
    const { key } = await newAccount();
    const created = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"] } }), 201);
    const before = await env.DB.prepare("SELECT secrets, updated_at FROM webhooks WHERE id = ?").bind(created.id).first();
    await expectProblem(call("POST", `/v1/webhooks/${created.id}/rotate-secret`, { token: key, raw: '{"secret":' }), 400);
    expect(await env.DB.prepare("SELECT secrets, updated_at FROM webhooks WHERE id = ?").bind(created.id).first()).toEqual(before);
  });
});

describe("test", () => {
  test("sends webhook.test, or a sample of a given type, and answers what the receiver said", async () => {
    const { accountId, key } = await newAccount();
    const r = await receiver({
      answers: [
        { status: 200, body: "thanks" },
        { status: 500, body: "boom" },
      ],
    });
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["workflow.*"] } }), 201);
    const ok = await expectJson(call("POST", `/v1/webhooks/${wh.id}/test`, { token: key }), 200);
    expect(ok).toMatchObject({ ok: true, status_code: 200, response_body: "thanks", duration_ms: expect.any(Number) });
    const failed = await expectJson(call("POST", `/v1/webhooks/${wh.id}/test`, { token: key, body: { type: "workflow.failed" } }), 200);
    expect(failed).toMatchObject({ ok: false, status_code: 500, response_body: "boom" });
    const got = await r.received();
    expect(got.map((g) => JSON.parse(g.body).type)).toEqual(["webhook.test", "workflow.failed"]);
    expect(JSON.parse(got[0].body).account_id).toBe(accountId);
  });

  test.each([
    ["an unknown type", { type: "workflow.finished" }, "type"],
    ["an unknown field", { kind: "x" }, "kind"],
  ])("%s (%j) → 422 naming %s, nothing sent", async (_name, body, path) => {
    const { key } = await newAccount();
    const r = await receiver();
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["*"] } }), 201);
    const before = await count("SELECT count(*) AS n FROM deliveries");
    await expectInvalid(call("POST", `/v1/webhooks/${wh.id}/test`, { token: key, body }), path);
    expect(await r.received()).toHaveLength(0);
    expect(await count("SELECT count(*) AS n FROM deliveries")).toBe(before);
  });
});
