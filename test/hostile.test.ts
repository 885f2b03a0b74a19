import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, test } from "vitest";
import { call, completed, expectJson, newAccount, receiver, sendEvent } from "./support/api";
import { settle } from "./support/delivery";
import { logDbOf, logDbs } from "./support/shards";

// Hostile input: random and adversarial bodies on every JSON route get a 4xx problem (never a 5xx) and change
// nothing stored; a key of account A reaches nothing of account B on any route.

const TABLES = ["accounts", "api_keys", "webhooks", "events", "deliveries", "attempts"] as const;

/** Everything stored, as one comparable snapshot (row counts and the rows of the webhook under attack). */
async function snapshot(webhookId: string) {
  const counts = await Promise.all(logDbs().map((db) => db.batch(TABLES.map((t) => db.prepare(`SELECT count(*) AS n FROM ${t}`)))));
  const webhook = await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(webhookId).first();
  return { counts: counts.map((rs) => rs.map((r) => (r.results[0] as { n: number }).n)), webhook };
}

const nasty = fc.oneof(
  fc.jsonValue(),
  fc.anything({ withNullPrototype: true, withObjectString: true, maxDepth: 4 }).map((v) => {
    try {
      return JSON.parse(JSON.stringify(v) ?? "null");
    } catch {
      return null;
    }
  }),
  fc.constantFrom<unknown>(
    { __proto__: { admin: true } },
    JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}'),
    { url: "https://example.com", events: ["*"], constructor: { prototype: { active: false } } },
    { type: "workflow.completed", account_id: { $ne: null }, data: {} },
    { name: "\u0000\uFFFF\uD800" },
    { events: [1, 2, 3] },
    { url: "x".repeat(100_000), events: ["*"] },
  ),
  fc.integer({ min: 1, max: 3000 }).map((depth) => {
    let v: unknown = "deep";
    for (let i = 0; i < depth; i++) v = { a: v };
    return v;
  }),
);

/** Raw bodies that are not what they claim: broken JSON, duplicate keys, unicode edge cases. */
const rawBodies = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom('{"name": "a", "name": 42}', '{"type": "workflow.completed", "type": "nope"}', "{", "[]", "null", '"\uD800"', "\u0000", "{}".repeat(1000)),
);

let victim: { accountId: string; key: string; webhookId: string; deliveryId: string; eventId: string };
let attacker: { accountId: string; key: string };

beforeAll(async () => {
  const a = await newAccount("Victim");
  const r = await receiver({ otherwise: { status: 500 } });
  const wh = await expectJson(call("POST", "/v1/webhooks", { token: a.key, body: { url: r.url, events: ["*"], retry: { max_attempts: 1 } } }), 201);
  const ev = await expectJson(sendEvent({ type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202);
  await settle({ stub: env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(wh.id)) });
  const list = await expectJson(call("GET", `/v1/webhooks/${wh.id}/deliveries`, { token: a.key }), 200);
  victim = { accountId: a.accountId, key: a.key, webhookId: wh.id, deliveryId: list.data[0].id, eventId: ev.id };
  attacker = await newAccount("Attacker");
});

const routes = (): { method: string; path: string; token: () => string }[] => [
  { method: "POST", path: "/v1/accounts", token: () => env.PLATFORM_TOKEN },
  { method: "POST", path: `/v1/accounts/${victim.accountId}/api-keys`, token: () => env.PLATFORM_TOKEN },
  { method: "POST", path: "/v1/events", token: () => env.PLATFORM_TOKEN },
  { method: "POST", path: "/v1/events/batch", token: () => env.PLATFORM_TOKEN },
  { method: "POST", path: "/v1/webhooks", token: () => victim.key },
  { method: "PATCH", path: `/v1/webhooks/${victim.webhookId}`, token: () => victim.key },
  { method: "POST", path: `/v1/webhooks/${victim.webhookId}/rotate-secret`, token: () => victim.key },
  { method: "POST", path: `/v1/webhooks/${victim.webhookId}/replay`, token: () => victim.key },
];

describe("random and adversarial bodies", () => {
  test("every JSON route answers a 4xx problem, never a 5xx, and changes nothing when it refuses", async () => {
    for (const route of routes()) {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            nasty.map((v) => ({ raw: JSON.stringify(v) ?? "null" })),
            rawBodies.map((raw) => ({ raw })),
          ),
          async ({ raw }) => {
            const before = await snapshot(victim.webhookId);
            const res = await call(route.method, route.path, { token: route.token(), raw });
            const text = await res.text();
            expect(res.status, `${route.method} ${route.path} ← ${raw.slice(0, 120)}: ${text.slice(0, 300)}`).toBeLessThan(500);
            if (res.status >= 400) {
              expect(res.headers.get("content-type")).toBe("application/problem+json");
              expect(JSON.parse(text)).toMatchObject({ status: res.status, title: expect.any(String), detail: expect.any(String) });
              expect(await snapshot(victim.webhookId)).toEqual(before);
            }
            // Nothing anyone sent may pollute the prototype of objects built afterwards.
            expect(({} as Record<string, unknown>).polluted).toBeUndefined();
            expect(({} as Record<string, unknown>).admin).toBeUndefined();
          },
        ),
        { numRuns: 25 },
      );
    }
  }, 120_000);
});

describe("__proto__, constructor and prototype as filter keys", () => {
  // Sent as JSON text, the way a client sends them; before, {"__proto__": {…}} was stored as {} and matched everything.
  const FILTERS = [
    '{"__proto__": {"data.duration_ms": {"$gt": 60000}}}',
    '{"data.duration_ms": {"$gt": 60000}, "__proto__": {"$exists": true}}',
    '{"constructor": {"$exists": true}}',
    '{"prototype": 1}',
    '{"$or": [{"__proto__": 1}, {"data.x": 1}]}',
    '{"data.constructor": 1}',
  ];
  test.each(FILTERS)("create and PATCH with filter %s → 422 naming filter, nothing stored or changed", async (filter) => {
    const before = await snapshot(victim.webhookId);
    for (const [method, path] of [
      ["POST", "/v1/webhooks"],
      ["PATCH", `/v1/webhooks/${victim.webhookId}`],
    ]) {
      const raw = `{"url": "https://example.com/h", "events": ["*"], "filter": ${filter}}`;
      const res = await call(method, path, { token: victim.key, raw });
      const text = await res.text();
      expect(res.status, text).toBe(422);
      const problem = JSON.parse(text);
      expect(problem.errors.map((e: { path: string }) => e.path)).toContain("filter");
      expect(problem.detail).toMatch(/is reserved/);
    }
    expect(await snapshot(victim.webhookId)).toEqual(before);
  });
});

describe("one account never reaches another's objects", () => {
  const attempts = (): { method: string; path: string; body?: unknown }[] => [
    { method: "GET", path: `/v1/webhooks/${victim.webhookId}` },
    { method: "PATCH", path: `/v1/webhooks/${victim.webhookId}`, body: { active: false } },
    { method: "DELETE", path: `/v1/webhooks/${victim.webhookId}` },
    { method: "POST", path: `/v1/webhooks/${victim.webhookId}/rotate-secret`, body: {} },
    { method: "POST", path: `/v1/webhooks/${victim.webhookId}/test`, body: {} },
    { method: "GET", path: `/v1/webhooks/${victim.webhookId}/deliveries` },
    { method: "GET", path: `/v1/webhooks/${victim.webhookId}/stats` },
    { method: "POST", path: `/v1/webhooks/${victim.webhookId}/replay`, body: { since: "2020-01-01T00:00:00Z" } },
    { method: "GET", path: `/v1/deliveries/${victim.deliveryId}` },
    { method: "POST", path: `/v1/deliveries/${victim.deliveryId}/retry` },
    { method: "GET", path: `/v1/events/${victim.eventId}` },
  ];

  test("every account route answers 404 for another account's id, exactly as for an id that does not exist, and changes nothing", async () => {
    for (const a of attempts()) {
      const before = await snapshot(victim.webhookId);
      const res = await call(a.method, a.path, { token: attacker.key, body: a.body });
      const body = await res.json<{ status: number; detail: string }>();
      expect(res.status, `${a.method} ${a.path}`).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      const missing = await call(a.method, a.path.replace(/(wh|dlv|evt)_[A-Za-z0-9]+/, "$1_00000000000000000000000000"), { token: attacker.key, body: a.body });
      expect(missing.status).toBe(404);
      expect(body.detail).not.toContain(victim.accountId);
      expect(await snapshot(victim.webhookId)).toEqual(before);
    }
    const lists = await expectJson(call("GET", "/v1/webhooks", { token: attacker.key }), 200);
    expect(lists.data).toEqual([]);
    const events = await expectJson(call("GET", "/v1/events", { token: attacker.key }), 200);
    expect(events.data.map((e: { id: string }) => e.id)).not.toContain(victim.eventId);
  });
});

describe("secrets stay secret", () => {
  test("the signing secret is never in D1 in the clear, in any later answer, or in the attempt log (rows or inline first attempt)", async () => {
    const a = await newAccount("Secretive");
    const r = await receiver();
    const created = await expectJson(call("POST", "/v1/webhooks", { token: a.key, body: { url: r.url, events: ["*"] } }), 201);
    const secret: string = created.secret;
    const raw = secret.slice("whsec_".length);
    await expectJson(sendEvent({ type: "workflow.completed", account_id: a.accountId, data: completed(2) }), 202);
    await settle({ stub: env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(created.id)) });
    const dump = JSON.stringify(
      await Promise.all(logDbs().map((db) => db.batch(TABLES.map((t) => db.prepare(`SELECT * FROM ${t}`))).then((rs) => rs.map((x) => x.results)))),
    );
    expect(dump).not.toContain(raw);
    // A first attempt that succeeded is kept in the deliveries row (first_* columns), not as an attempts row: the
    // signed request is there, and the secret is not.
    const inline = await (await logDbOf(a.accountId))
      .prepare("SELECT first_request_headers, first_request_body, first_response_headers, first_response_body FROM deliveries WHERE webhook_id = ?")
      .bind(created.id)
      .first<Record<string, string | null>>();
    expect(JSON.parse(inline!.first_request_headers!)["webhook-signature"]).toMatch(/^v1,/);
    expect(JSON.stringify(inline)).not.toContain(raw);
    expect(JSON.stringify(inline)).not.toContain(secret);
    const answers = [
      await call("GET", `/v1/webhooks/${created.id}`, { token: a.key }),
      await call("GET", "/v1/webhooks", { token: a.key }),
      await call("PATCH", `/v1/webhooks/${created.id}`, { token: a.key, body: { description: "x" } }),
      await call("GET", `/v1/webhooks/${created.id}/deliveries`, { token: a.key }),
    ];
    for (const res of answers) expect(await res.text()).not.toContain(raw);
    const deliveries = await expectJson(call("GET", `/v1/webhooks/${created.id}/deliveries`, { token: a.key }), 200);
    const detail = await call("GET", `/v1/deliveries/${deliveries.data[0].id}`, { token: a.key });
    expect(await detail.text()).not.toContain(raw);
    // The API key is stored only as its hash.
    expect(dump).not.toContain(a.key);
  });
});
