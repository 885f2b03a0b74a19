import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { maskHeaders, maskValue } from "../src/webhooks/headers";
import { call, expectJson, expectProblem, newAccount } from "./support/api";
import { deliveryOf, hook, settle } from "./support/delivery";
import { logDbs } from "./support/shards";

// Custom header values are secrets (SPEC): sealed at rest, sent in clear only on the wire, masked in every answer
// and log. What a receiver gets, what the API answers, and that nothing at rest holds the clear value.

const TOKEN = "Bearer sk_live_51Hx9Qa2b3c4d5e6f7g83f9a";
const MASKED = "Bearer …3f9a";

/** Every row of every table of the test's D1 databases (the main one and each log shard), as text: what an operator would see. */
async function everythingInD1(): Promise<string> {
  const dumps = await Promise.all(
    logDbs().map(async (db) => {
      const tables = await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{
        name: string;
      }>();
      return Promise.all(tables.results.map(async (t) => JSON.stringify((await db.prepare(`SELECT * FROM "${t.name}"`).all()).results)));
    }),
  );
  return dumps.flat().join("\n");
}

/** Every row of every table in a queue's own storage, as text. */
async function everythingInQueue(stub: DurableObjectStub): Promise<string> {
  return runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'").toArray();
    return tables.map((t) => JSON.stringify(sql.exec(`SELECT * FROM "${t.name}"`).toArray())).join("\n");
  });
}

describe("a webhook with a credential in a custom header", () => {
  test("the receiver gets it in clear; every answer, the attempt log and storage show it masked or not at all", async () => {
    const h = await hook({ headers: { Authorization: TOKEN, "X-Tenant": "acme" } });
    // The create answer is the first of them.
    expect(h.wh.headers).toEqual({ Authorization: MASKED, "X-Tenant": "…" });
    const read = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200);
    const list = await expectJson(call("GET", "/v1/webhooks", { token: h.key }), 200);
    expect(read.headers).toEqual({ Authorization: MASKED, "X-Tenant": "…" });
    expect(list.data[0].headers).toEqual({ Authorization: MASKED, "X-Tenant": "…" });

    const event = await h.send();
    await settle(h);
    const test = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    const got = await h.r.received();
    expect(got).toHaveLength(2);
    for (const g of got) {
      expect(g.headers.authorization).toBe(TOKEN);
      expect(g.headers["x-tenant"]).toBe("acme");
    }

    const delivery = await deliveryOf(h, event.id);
    const testDelivery = await expectJson(call("GET", `/v1/deliveries/${test.delivery_id}`, { token: h.key }), 200);
    for (const d of [delivery, testDelivery]) {
      const sent = d.attempts[0].request_headers;
      expect(sent.Authorization).toBe(MASKED);
      expect(sent["X-Tenant"]).toBe("…");
      // The signature headers stay as they were sent, so a person can still check one by hand.
      expect(sent["webhook-signature"]).toBe(got[d === delivery ? 0 : 1].headers["webhook-signature"]);
    }

    const secretPart = TOKEN.slice("Bearer ".length);
    for (const text of [await everythingInD1(), await everythingInQueue(h.stub), JSON.stringify([read, list, delivery, testDelivery])]) {
      expect(text).not.toContain(secretPart);
      expect(text).not.toContain('"acme"');
    }
  });

  test("a PATCH is a merge: a header it does not name keeps its value, null removes one, null for all removes them all", async () => {
    const h = await hook({ headers: { Authorization: TOKEN, "X-Tenant": "acme", "X-Old": "gone soon" } });
    const patched = await expectJson(
      call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { headers: { "x-tenant": "globex", "X-Old": null, "X-New": "1" } } }),
      200,
    );
    expect(patched.headers).toEqual({ Authorization: MASKED, "x-tenant": "…", "X-New": "…" });
    // Changing another setting leaves the headers as they are.
    await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { description: "renamed" } }), 200);
    await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    const [first] = await h.r.received();
    expect(first.headers.authorization).toBe(TOKEN);
    expect(first.headers["x-tenant"]).toBe("globex");
    expect(first.headers["x-new"]).toBe("1");
    expect(first.headers["x-old"]).toBeUndefined();

    const cleared = await expectJson(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { headers: null } }), 200);
    expect(cleared.headers).toEqual({});
    await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    const second = (await h.r.received())[1];
    expect(second.headers.authorization).toBeUndefined();
  });

  test("sending back the masked value (a GET-then-PATCH client) is refused, and the stored value kept", async () => {
    const h = await hook({ headers: { Authorization: TOKEN } });
    const problem = await expectProblem(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { headers: { Authorization: MASKED } } }), 422);
    expect(problem.errors).toEqual([{ path: "headers.Authorization", message: expect.stringMatching(/masked value.*leave the header out/) }]);
    await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    expect((await h.r.received())[0].headers.authorization).toBe(TOKEN);
  });
});

describe("header values fetch could not send are refused with 422 naming the header", () => {
  test.each([
    ["NUL", "a\u0000b", /U\+0000 \(a control character\)/],
    ["a line break", "a\r\nX-Evil: 1", /U\+000D \(a control character\)/],
    ["a lone line feed", "a\nb", /U\+000A/],
    ["escape", "a\u001bb", /U\+001B/],
    ["DEL", "a\u007fb", /U\+007F \(a control character\)/],
    ["a C1 control", "a\u0085b", /U\+0085/],
    ["non-ASCII", "naïve", /U\+00EF/],
    ["an emoji", "ok 👍", /U\+1F44D/],
  ])("%s", async (_name, value, message) => {
    const { key } = await newAccount();
    const before = (await env.DB.prepare("SELECT count(*) AS n FROM webhooks").first<{ n: number }>())!.n;
    const problem = await expectProblem(
      call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"], headers: { "X-Key": value } } }),
      422,
    );
    expect(problem.errors).toEqual([{ path: "headers.X-Key", message: expect.stringMatching(message) }]);
    expect(problem.detail).toContain("headers.X-Key");
    expect((await env.DB.prepare("SELECT count(*) AS n FROM webhooks").first<{ n: number }>())!.n).toBe(before);
  });

  test("a tab and every printable ASCII character are accepted, and sent as given", async () => {
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join("");
    const h = await hook({ headers: { "X-All": `a\t${printable}z` } });
    await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    expect((await h.r.received())[0].headers["x-all"]).toBe(`a\t${printable}z`);
  });

  test("the same name twice in two cases → 422 (they would go out as one header)", async () => {
    const { key } = await newAccount();
    const problem = await expectProblem(
      call("POST", "/v1/webhooks", { token: key, body: { url: "https://example.com/h", events: ["*"], headers: { "X-Key": "1", "x-key": "2" } } }),
      422,
    );
    expect(problem.errors).toEqual([{ path: "headers.x-key", message: "given twice (header names are case-insensitive)" }]);
  });

  test("a PATCH with a control character changes nothing", async () => {
    const h = await hook({ headers: { "X-Key": "kept" } });
    await expectProblem(call("PATCH", `/v1/webhooks/${h.wh.id}`, { token: h.key, body: { headers: { "X-Key": "bad\u0000" } } }), 422);
    await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    expect((await h.r.received())[0].headers["x-key"]).toBe("kept");
  });
});

describe("maskValue and maskHeaders", () => {
  test.each([
    ["Bearer sk_live_51Hx9Qa2b3c4d5e6f7g83f9a", "Bearer …3f9a"],
    ["bearer short", "bearer …"],
    ["Basic dXNlcjpwYXNzd29yZDEyMzQ1Njc=", "Basic …Njc="],
    ["0123456789abcdef", "…cdef"],
    ["0123456789abcde", "…"],
    ["acme", "…"],
    ["", "…"],
    ["my secret words", "…"],
  ])("%j → %j", (value, masked) => {
    expect(maskValue(value)).toBe(masked);
  });

  test("only the named headers are masked, whatever their case", () => {
    expect(maskHeaders({ authorization: TOKEN, "webhook-id": "evt_1", "X-Team": "billing" }, ["Authorization", "x-team"])).toEqual({
      authorization: MASKED,
      "webhook-id": "evt_1",
      "X-Team": "…",
    });
  });
});
