import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { call, completed, expectJson, newAccount, receiver, sendEvent } from "./support/api";
import { settleAll } from "./support/delivery";

// Ingest keeps each account's webhooks in the isolate (so a single event costs D1 one round trip), and every change
// to them is seen by the very next event: the cache is checked against the account's webhooks_version, which every
// write to its webhooks grows.

async function ingestOne(accountId: string, n: number) {
  const answer = await expectJson(sendEvent({ type: "workflow.completed", account_id: accountId, data: completed(n) }), 202);
  await settleAll();
  return answer as { id: string; deliveries: number };
}

describe("the subscriptions cache", () => {
  test("a webhook created, changed or deleted between two events is matched as it is at the second", async () => {
    const { accountId, key } = await newAccount();
    const ra = await receiver();
    const rb = await receiver();
    const a = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: ra.url, events: ["workflow.*"] } }), 201);
    expect((await ingestOne(accountId, 1)).deliveries).toBe(1);

    // Created after the cache was filled.
    const b = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: rb.url, events: ["*"] } }), 201);
    expect((await ingestOne(accountId, 2)).deliveries).toBe(2);
    expect(await rb.received()).toHaveLength(1);

    // A filter that no longer matches: only b takes event 3.
    await expectJson(call("PATCH", `/v1/webhooks/${a.id}`, { token: key, body: { filter: { "data.duration_ms": { $gt: 60_000 } } } }), 200);
    expect((await ingestOne(accountId, 3)).deliveries).toBe(1);

    // Deleted.
    expect((await call("DELETE", `/v1/webhooks/${b.id}`, { token: key })).status).toBe(204);
    expect((await ingestOne(accountId, 4)).deliveries).toBe(0);
    expect((await ra.received()).map((r) => JSON.parse(r.body).data.execution_id)).toEqual(["exe_1", "exe_2"]);
    expect((await rb.received()).map((r) => JSON.parse(r.body).data.execution_id)).toEqual(["exe_2", "exe_3"]);
  });

  test("a change made straight in D1 (not through the API) is seen too: the version is kept by the schema", async () => {
    const { accountId, key } = await newAccount();
    const r = await receiver();
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["workflow.*"] } }), 201);
    expect((await ingestOne(accountId, 1)).deliveries).toBe(1);
    await env.DB.prepare("UPDATE webhooks SET events = ? WHERE id = ?")
      .bind(JSON.stringify(["component.*"]), wh.id)
      .run();
    expect((await ingestOne(accountId, 2)).deliveries).toBe(0);
  });

  test("an account created after an event for it was refused is found", async () => {
    const missing = `acc_${crypto.randomUUID().replaceAll("-", "")}`;
    expect((await sendEvent({ type: "workflow.completed", account_id: missing, data: completed(1) })).status).toBe(422);
    await env.DB.prepare("INSERT INTO accounts (id, name, created_at) VALUES (?, 'Late', ?)").bind(missing, Date.now()).run();
    expect((await ingestOne(missing, 2)).deliveries).toBe(0);
  });
});
