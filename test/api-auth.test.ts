import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { buildApp } from "../src/http/app";
import { call, expectJson, expectProblemResponse as expectProblem, newAccount } from "./support/api";

const PLATFORM_TOKEN = env.PLATFORM_TOKEN;

async function count(sql: string, ...args: unknown[]): Promise<number> {
  const row = await env.DB.prepare(sql)
    .bind(...args)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Calls a freshly built app with an env override (config() caches per env object, so this one is re-parsed). */
async function callApp(
  overrides: Partial<Cloudflare.Env>,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; ip?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.ip) headers["cf-connecting-ip"] = opts.ip;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const request = new Request(`https://webhooks.test${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const ctx = createExecutionContext();
  const res = await buildApp().fetch(request, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const PLATFORM_ROUTES: [method: string, path: string, body?: unknown][] = [
  ["POST", "/v1/accounts", { name: "x" }],
  ["POST", "/v1/accounts/acc_x/api-keys", { name: "x" }],
  ["DELETE", "/v1/accounts/acc_x/api-keys/key_x"],
  ["POST", "/v1/events", { type: "workflow.started", account_id: "acc_x", data: {} }],
  ["POST", "/v1/events/batch", { events: [] }],
];
const ACCOUNT_ROUTES: [method: string, path: string, body?: unknown][] = [
  ["GET", "/v1/events"],
  ["GET", "/v1/events/evt_x"],
  ["GET", "/v1/webhooks"],
  ["POST", "/v1/webhooks", { url: "https://example.com", events: ["*"] }],
  ["GET", "/v1/webhooks/wh_x"],
  ["PATCH", "/v1/webhooks/wh_x", { description: "x" }],
  ["DELETE", "/v1/webhooks/wh_x"],
  ["POST", "/v1/webhooks/wh_x/rotate-secret"],
  ["POST", "/v1/webhooks/wh_x/test"],
  ["GET", "/v1/webhooks/wh_x/deliveries"],
  ["GET", "/v1/webhooks/wh_x/stats"],
  ["POST", "/v1/webhooks/wh_x/replay", { since: "2026-01-01T00:00:00Z" }],
  ["GET", "/v1/deliveries/dlv_x"],
  ["POST", "/v1/deliveries/dlv_x/retry"],
];

const BAD_AUTHORIZATION: [name: string, header: string | undefined][] = [
  ["no Authorization header", undefined],
  ["empty Authorization", ""],
  ["Basic scheme", `Basic ${btoa("user:pass")}`],
  ["Bearer without a token", "Bearer "],
  ["unknown bearer token", "Bearer not-the-token"],
  ["unknown API key", "Bearer bxk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
  ["two tokens", `Bearer ${PLATFORM_TOKEN} extra`],
];

describe("missing or wrong token → 401 problem with www-authenticate", () => {
  const cases = [...PLATFORM_ROUTES, ...ACCOUNT_ROUTES].flatMap(([method, path, body]) =>
    BAD_AUTHORIZATION.map(([name, header]) => ({ method, path, body, name, header })),
  );
  test.each(cases)("$method $path with $name", async ({ method, path, body, header }) => {
    const accountsBefore = await count("SELECT count(*) AS n FROM accounts");
    const res = await call(method, path, { body, headers: header === undefined ? {} : { authorization: header } });
    const { headers } = await expectProblem(res, 401);
    expect(headers.get("www-authenticate")).toMatch(/^Bearer realm="broxiai-webhooks"/);
    expect(await count("SELECT count(*) AS n FROM accounts")).toBe(accountsBefore);
  });
});

describe("each token only opens its own routes", () => {
  test.each(ACCOUNT_ROUTES)("platform token on %s %s → 401", async (method, path, body) => {
    const { body: problem, headers } = await expectProblem(call(method, path, { token: PLATFORM_TOKEN, body }), 401);
    expect(problem.detail).toMatch(/API key/);
    expect(headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  test.each(PLATFORM_ROUTES)("account key on %s %s → 401", async (method, path, body) => {
    const { key } = await newAccount();
    const accountsBefore = await count("SELECT count(*) AS n FROM accounts");
    const { body: problem, headers } = await expectProblem(call(method, path, { token: key, body }), 401);
    expect(problem.detail).toMatch(/platform token/);
    expect(headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(await count("SELECT count(*) AS n FROM accounts")).toBe(accountsBefore);
  });
});

describe("API keys", () => {
  test("are shown once and stored only as their SHA-256", async () => {
    const account = await expectJson(call("POST", "/v1/accounts", { token: PLATFORM_TOKEN, body: { name: "Hashing" } }), 201);
    expect(account).toEqual({ id: expect.stringMatching(/^acc_[0-9A-Z]{26}$/), name: "Hashing", created_at: expect.any(String) });
    const created = await expectJson(
      call("POST", `/v1/accounts/${account.id}/api-keys`, { token: PLATFORM_TOKEN, body: { name: "ci", allowed_ips: ["203.0.113.0/24"] } }),
      201,
    );
    expect(created).toEqual({
      id: expect.stringMatching(/^key_[0-9A-Z]{26}$/),
      name: "ci",
      allowed_ips: ["203.0.113.0/24"],
      created_at: expect.any(String),
      last_used_at: null,
      key: expect.stringMatching(/^bxk_[A-Za-z0-9_-]{20,}$/),
    });
    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(created.id).first<Record<string, unknown>>();
    expect(row).not.toBeNull();
    const raw = JSON.stringify(row);
    expect(raw).not.toContain(created.key);
    expect(raw).not.toContain(created.key.slice(4));
    expect(row?.key_hash).toBe(await sha256Hex(created.key));
  });

  test("record last_used_at when used", async () => {
    const { key, keyId } = await newAccount();
    const before = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?").bind(keyId).first<{ last_used_at: number | null }>();
    expect(before?.last_used_at).toBeNull();
    const t0 = Date.now();
    await expectJson(call("GET", "/v1/webhooks", { token: key }), 200);
    // The write is handed to waitUntil; give it a moment.
    let lastUsed: number | null = null;
    for (let i = 0; i < 50 && lastUsed === null; i++) {
      const row = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?").bind(keyId).first<{ last_used_at: number | null }>();
      lastUsed = row?.last_used_at ?? null;
      if (lastUsed === null) await new Promise((r) => setTimeout(r, 20));
    }
    expect(lastUsed).not.toBeNull();
    expect(lastUsed!).toBeGreaterThanOrEqual(t0 - 1000);
    expect(lastUsed!).toBeLessThanOrEqual(Date.now());
  });

  test("a revoked key is refused at once; revoking twice or another account's key is 404", async () => {
    const a = await newAccount("A");
    const b = await newAccount("B");
    await expectJson(call("GET", "/v1/webhooks", { token: a.key }), 200);
    await expectProblem(call("DELETE", `/v1/accounts/${b.accountId}/api-keys/${a.keyId}`, { token: PLATFORM_TOKEN }), 404);
    await expectJson(call("GET", "/v1/webhooks", { token: a.key }), 200);

    const res = await call("DELETE", `/v1/accounts/${a.accountId}/api-keys/${a.keyId}`, { token: PLATFORM_TOKEN });
    expect(res.status).toBe(204);
    const { headers } = await expectProblem(call("GET", "/v1/webhooks", { token: a.key }), 401);
    expect(headers.get("www-authenticate")).toMatch(/invalid_token/);
    await expectProblem(call("DELETE", `/v1/accounts/${a.accountId}/api-keys/${a.keyId}`, { token: PLATFORM_TOKEN }), 404);
    // The other account's key is untouched.
    await expectJson(call("GET", "/v1/webhooks", { token: b.key }), 200);
  });

  test("a key for an unknown account is 404, and nothing is stored", async () => {
    const before = await count("SELECT count(*) AS n FROM api_keys");
    await expectProblem(call("POST", "/v1/accounts/acc_nope/api-keys", { token: PLATFORM_TOKEN, body: { name: "x" } }), 404);
    expect(await count("SELECT count(*) AS n FROM api_keys")).toBe(before);
  });

  const BAD_KEY_BODIES: [name: string, body: unknown, path: string][] = [
    ["IPv4 prefix over 32", { name: "k", allowed_ips: ["10.0.0.1", "10.0.0.0/33"] }, "allowed_ips.1"],
    ["IPv6 prefix over 128", { name: "k", allowed_ips: ["::1", "2001:db8::/129"] }, "allowed_ips.1"],
    ["a word", { name: "k", allowed_ips: ["10.0.0.1", "office"] }, "allowed_ips.1"],
    ["three octets", { name: "k", allowed_ips: ["10.0.0"] }, "allowed_ips.0"],
    ["octet over 255", { name: "k", allowed_ips: ["256.1.1.1"] }, "allowed_ips.0"],
    ["IPv4 with leading zero", { name: "k", allowed_ips: ["010.1.1.1"] }, "allowed_ips.0"],
    ["colons but not IPv6", { name: "k", allowed_ips: ["10.0.0.1", "zz::1"] }, "allowed_ips.1"],
    ["too many IPv6 groups", { name: "k", allowed_ips: ["1:2:3:4:5:6:7:8:9"] }, "allowed_ips.0"],
    ["two compressions", { name: "k", allowed_ips: ["2001::db8::1"] }, "allowed_ips.0"],
    ["lone colons", { name: "k", allowed_ips: [":::"] }, "allowed_ips.0"],
    ["empty prefix", { name: "k", allowed_ips: ["10.0.0.0/"] }, "allowed_ips.0"],
    ["negative prefix", { name: "k", allowed_ips: ["10.0.0.0/-1"] }, "allowed_ips.0"],
    ["two slashes", { name: "k", allowed_ips: ["10.0.0.0/8/8"] }, "allowed_ips.0"],
    ["empty string", { name: "k", allowed_ips: [""] }, "allowed_ips.0"],
    ["a star", { name: "k", allowed_ips: ["*"] }, "allowed_ips.0"],
    ["not a list", { name: "k", allowed_ips: "10.0.0.1" }, "allowed_ips"],
    ["not a string", { name: "k", allowed_ips: [10] }, "allowed_ips.0"],
    ["missing name", { allowed_ips: [] }, "name"],
    ["blank name", { name: "   " }, "name"],
    ["unknown field", { name: "k", scopes: ["all"] }, "scopes"],
  ];
  test.each(BAD_KEY_BODIES)("create with %s (%j) → 422 naming %s, nothing stored", async (_name, body, path) => {
    const { accountId } = await newAccount();
    const before = await count("SELECT count(*) AS n FROM api_keys");
    const { body: problem } = await expectProblem(call("POST", `/v1/accounts/${accountId}/api-keys`, { token: PLATFORM_TOKEN, body }), 422);
    expect(problem.errors.map((e: { path: string }) => e.path)).toContain(path);
    expect(problem.detail).toContain(path);
    expect(await count("SELECT count(*) AS n FROM api_keys")).toBe(before);
  });

  test("accepted allowed_ips are kept as given", async () => {
    const { accountId } = await newAccount();
    const rules = ["203.0.113.7", "198.51.100.0/24", "2001:db8::/32", "::1", "::ffff:192.0.2.0/120", "0.0.0.0/0", "10.0.0.0/32", "::/0"];
    const created = await expectJson(
      call("POST", `/v1/accounts/${accountId}/api-keys`, { token: PLATFORM_TOKEN, body: { name: "k", allowed_ips: rules } }),
      201,
    );
    expect(created.allowed_ips).toEqual(rules);
  });
});

type IpCase = [rules: string[], ip: string | undefined, status: 200 | 403];
const KEY_IP_CASES: IpCase[] = [
  // Single IPv4 addresses.
  [["203.0.113.7"], "203.0.113.7", 200],
  [["203.0.113.7"], "203.0.113.8", 403],
  [["203.0.113.7"], "::ffff:203.0.113.7", 200],
  [["203.0.113.7"], "::ffff:cb00:7107", 200],
  [["203.0.113.7"], "::ffff:203.0.113.8", 403],
  // IPv4 CIDR edges.
  [["203.0.113.0/24"], "203.0.113.0", 200],
  [["203.0.113.0/24"], "203.0.113.255", 200],
  [["203.0.113.0/24"], "203.0.112.255", 403],
  [["203.0.113.0/24"], "203.0.114.0", 403],
  [["203.0.113.0/24"], "::ffff:203.0.113.255", 200],
  [["203.0.113.0/24"], "::ffff:203.0.114.0", 403],
  [["10.0.0.0/31"], "10.0.0.1", 200],
  [["10.0.0.0/31"], "10.0.0.2", 403],
  [["198.51.100.64/26"], "198.51.100.64", 200],
  [["198.51.100.64/26"], "198.51.100.127", 200],
  [["198.51.100.64/26"], "198.51.100.63", 403],
  [["198.51.100.64/26"], "198.51.100.128", 403],
  [["0.0.0.0/0"], "255.255.255.255", 200],
  [["0.0.0.0/0"], "2001:db8::1", 403],
  // IPv6 single addresses, in other spellings too.
  [["2001:db8::1"], "2001:db8::1", 200],
  [["2001:db8::1"], "2001:0db8:0000:0000:0000:0000:0000:0001", 200],
  [["2001:db8::1"], "2001:DB8::1", 200],
  [["2001:db8::1"], "2001:db8::2", 403],
  [["::1"], "::1", 200],
  [["::1"], "127.0.0.1", 403],
  // IPv6 CIDR edges.
  [["2001:db8::/32"], "2001:db8::", 200],
  [["2001:db8::/32"], "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 200],
  [["2001:db8::/32"], "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 403],
  [["2001:db8::/32"], "2001:db9::", 403],
  [["2001:db8::/32"], "203.0.113.7", 403],
  [["2001:db8:0:1::/64"], "2001:db8:0:1:ffff:ffff:ffff:ffff", 200],
  [["2001:db8:0:1::/64"], "2001:db8:0:2::", 403],
  // IPv4-mapped IPv6 rules apply to IPv4 callers too.
  [["::ffff:192.0.2.0/120"], "192.0.2.200", 200],
  [["::ffff:192.0.2.0/120"], "::ffff:192.0.2.0", 200],
  [["::ffff:192.0.2.0/120"], "192.0.3.0", 403],
  [["::ffff:192.0.2.9"], "192.0.2.9", 200],
  // Several rules.
  [["198.51.100.7", "2001:db8::/32"], "2001:db8:1::5", 200],
  [["198.51.100.7", "2001:db8::/32"], "198.51.100.7", 200],
  [["198.51.100.7", "2001:db8::/32"], "198.51.100.6", 403],
  // No address, or one that is not an address, is never on a list.
  [["203.0.113.0/24"], undefined, 403],
  [["203.0.113.0/24"], "not-an-ip", 403],
  [["203.0.113.0/24"], "203.0.113.1, 10.0.0.1", 403],
  // An empty list lets every address in, and a missing one too.
  [[], "192.0.2.1", 200],
  [[], "2001:db8::1", 200],
  [[], undefined, 200],
];

describe("per-key allowed_ips (cf-connecting-ip)", () => {
  test.each(KEY_IP_CASES)("allowed_ips %j, request from %s → %i", async (rules, ip, status) => {
    const { accountId } = await newAccount();
    const created = await expectJson(
      call("POST", `/v1/accounts/${accountId}/api-keys`, { token: PLATFORM_TOKEN, body: { name: "k", allowed_ips: rules } }),
      201,
    );
    const res = call("GET", "/v1/webhooks", { token: created.key, headers: ip === undefined ? {} : { "cf-connecting-ip": ip } });
    if (status === 200) {
      expect(await expectJson(res, 200)).toEqual({ data: [], next_cursor: null });
    } else {
      const { body } = await expectProblem(res, 403);
      expect(body.detail).toMatch(/allowed_ips/);
      // A refused request does not count as a use of the key.
      const row = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?").bind(created.id).first<{ last_used_at: number | null }>();
      expect(row?.last_used_at).toBeNull();
    }
  });

  test("a wrong key from an allowed address is still 401", async () => {
    const res = call("GET", "/v1/webhooks", { token: "bxk_wrong", headers: { "cf-connecting-ip": "203.0.113.7" } });
    await expectProblem(res, 401);
  });
});

const PLATFORM_IPS = "203.0.113.0/24, 2001:db8::/32 ,198.51.100.7,::1";
const PLATFORM_IP_CASES: [ip: string | undefined, status: 201 | 403][] = [
  ["203.0.113.0", 201],
  ["203.0.113.255", 201],
  ["203.0.112.255", 403],
  ["203.0.114.0", 403],
  ["::ffff:203.0.113.42", 201],
  ["::ffff:203.0.114.42", 403],
  ["2001:db8::", 201],
  ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 201],
  ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 403],
  ["2001:db9::", 403],
  ["198.51.100.7", 201],
  ["::ffff:198.51.100.7", 201],
  ["198.51.100.8", 403],
  ["::1", 201],
  ["::2", 403],
  ["127.0.0.1", 403],
  [undefined, 403],
  ["garbage", 403],
];

describe("PLATFORM_ALLOWED_IPS", () => {
  test.each(PLATFORM_IP_CASES)("platform request from %s → %i", async (ip, status) => {
    const before = await count("SELECT count(*) AS n FROM accounts");
    const res = callApp({ PLATFORM_ALLOWED_IPS: PLATFORM_IPS }, "POST", "/v1/accounts", { token: PLATFORM_TOKEN, body: { name: "ip" }, ip });
    if (status === 201) {
      await expectJson(res, 201);
      expect(await count("SELECT count(*) AS n FROM accounts")).toBe(before + 1);
    } else {
      const { body } = await expectProblem(res, 403);
      expect(body.detail).toMatch(/PLATFORM_ALLOWED_IPS/);
      expect(await count("SELECT count(*) AS n FROM accounts")).toBe(before);
    }
  });

  test.each([
    ["POST", "/v1/events", { type: "workflow.started", account_id: "acc_x", data: { workflow_id: "w", execution_id: "e" } }],
    ["POST", "/v1/events/batch", { events: [{ type: "workflow.started", account_id: "acc_x", data: { workflow_id: "w", execution_id: "e" } }] }],
    ["DELETE", "/v1/accounts/acc_x/api-keys/key_x", undefined],
  ])("%s %s from outside the list → 403 before anything runs", async (method, path, body) => {
    const before = await count("SELECT count(*) AS n FROM events");
    await expectProblem(callApp({ PLATFORM_ALLOWED_IPS: PLATFORM_IPS }, method, path, { token: PLATFORM_TOKEN, body, ip: "192.0.2.1" }), 403);
    expect(await count("SELECT count(*) AS n FROM events")).toBe(before);
  });

  test.each(PLATFORM_ROUTES)("%s %s: from outside the list every credential gets the same 403, judged before the token", async (method, path, body) => {
    const { key } = await newAccount();
    const before = await count("SELECT count(*) AS n FROM accounts");
    const answers = [];
    for (const token of [undefined, "not-the-token", key, PLATFORM_TOKEN]) {
      const { body: problem, headers } = await expectProblem(
        callApp({ PLATFORM_ALLOWED_IPS: PLATFORM_IPS }, method, path, { token, body, ip: "192.0.2.1" }),
        403,
      );
      expect(headers.get("www-authenticate")).toBeNull();
      answers.push(problem);
    }
    // Nothing in the answer depends on the token: a wrong one cannot be told from the right one here.
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(await count("SELECT count(*) AS n FROM accounts")).toBe(before);
  });

  test("a wrong token from an allowed address is 401", async () => {
    await expectProblem(
      callApp({ PLATFORM_ALLOWED_IPS: PLATFORM_IPS }, "POST", "/v1/accounts", { token: "not-the-token", body: { name: "x" }, ip: "203.0.113.1" }),
      401,
    );
  });

  test("an empty list allows any address", async () => {
    await expectJson(callApp({ PLATFORM_ALLOWED_IPS: "" }, "POST", "/v1/accounts", { token: PLATFORM_TOKEN, body: { name: "any" }, ip: "192.0.2.1" }), 201);
    await expectJson(callApp({ PLATFORM_ALLOWED_IPS: " , " }, "POST", "/v1/accounts", { token: PLATFORM_TOKEN, body: { name: "any" } }), 201);
  });

  test("does not restrict account keys", async () => {
    const { key } = await newAccount();
    await expectJson(callApp({ PLATFORM_ALLOWED_IPS: PLATFORM_IPS }, "GET", "/v1/webhooks", { token: key, ip: "192.0.2.1" }), 200);
  });

  test("an invalid rule fails closed with a 500 that names no secret", async () => {
    const res = await callApp({ PLATFORM_ALLOWED_IPS: "203.0.113.0/24,zz::1" }, "POST", "/v1/accounts", {
      token: PLATFORM_TOKEN,
      body: { name: "x" },
      ip: "203.0.113.1",
    });
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.text()).not.toContain(PLATFORM_TOKEN);
  });
});
