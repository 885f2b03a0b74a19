import { describe, expect, test } from "vitest";
import { call, completed, expectJson, expectProblem, newAccount, receiver, sendEvent } from "./support/api";
import { settleAll } from "./support/delivery";

// Debugging starts from the event: what became of it, across the account's webhooks.

describe("an event's deliveries", () => {
  test("GET /v1/events/{id} and GET /v1/deliveries?event_id= list one delivery per webhook it was handed to", async () => {
    const { accountId, key } = await newAccount();
    const ok = await receiver();
    const down = await receiver({ otherwise: { status: 503 } });
    const create = async (body: Record<string, unknown>) => expectJson(call("POST", "/v1/webhooks", { token: key, body }), 201);
    const good = await create({ url: ok.url, events: ["workflow.*"] });
    const failing = await create({ url: down.url, events: ["workflow.completed"] });
    const off = await create({ url: ok.url, events: ["*"], active: false });
    await create({ url: ok.url, events: ["component.*"] });
    const ev = await expectJson(sendEvent({ type: "workflow.completed", account_id: accountId, data: completed(1) }), 202);
    expect(ev.deliveries).toBe(3);
    await settleAll();

    const event = await expectJson(call("GET", `/v1/events/${ev.id}`, { token: key }), 200);
    expect(event).toMatchObject({ id: ev.id, type: "workflow.completed" });
    const byWebhook = Object.fromEntries(event.deliveries.map((d: any) => [d.webhook_id, d]));
    expect(Object.keys(byWebhook).sort()).toEqual([good.id, failing.id, off.id].sort());
    expect(byWebhook[good.id]).toMatchObject({ event_id: ev.id, status: "delivered", attempt_count: 1, last_status_code: 200 });
    expect(byWebhook[failing.id]).toMatchObject({ status: "pending", attempt_count: 1, last_status_code: 503, last_error: expect.stringMatching(/^HTTP 503/) });
    // Held for the webhook that is off.
    expect(byWebhook[off.id]).toMatchObject({ status: "pending", attempt_count: 0, last_status_code: null });
    for (const d of event.deliveries) expect(Object.keys(d).sort()).toEqual(Object.keys(byWebhook[good.id]).sort());

    const list = await expectJson(call("GET", `/v1/deliveries?event_id=${ev.id}`, { token: key }), 200);
    expect(list).toEqual({ data: event.deliveries, next_cursor: null });
    // Newest first (ids sort by time), cursor-paged like every list.
    const ids = list.data.map((d: any) => d.id);
    expect(ids).toEqual([...ids].sort().reverse());
    const first = await expectJson(call("GET", `/v1/deliveries?event_id=${ev.id}&limit=2`, { token: key }), 200);
    expect(first.data.map((d: any) => d.id)).toEqual(ids.slice(0, 2));
    const rest = await expectJson(call("GET", `/v1/deliveries?event_id=${ev.id}&limit=2&cursor=${first.next_cursor}`, { token: key }), 200);
    expect(rest).toEqual({ data: [list.data[2]], next_cursor: null });
  });

  test("an event no webhook matched has none; another account's event, or none at all, is 404; event_id is required", async () => {
    const a = await newAccount("A");
    const b = await newAccount("B");
    const ev = await expectJson(sendEvent({ type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202);
    expect((await expectJson(call("GET", `/v1/events/${ev.id}`, { token: a.key }), 200)).deliveries).toEqual([]);
    expect(await expectJson(call("GET", `/v1/deliveries?event_id=${ev.id}`, { token: a.key }), 200)).toEqual({ data: [], next_cursor: null });
    await expectProblem(call("GET", `/v1/deliveries?event_id=${ev.id}`, { token: b.key }), 404);
    await expectProblem(call("GET", "/v1/deliveries?event_id=evt_nothing", { token: a.key }), 404);
    const missing = await expectProblem(call("GET", "/v1/deliveries", { token: a.key }), 422);
    expect(missing.errors[0].path).toBe("event_id");
    await expectProblem(call("GET", `/v1/deliveries?event_id=${ev.id}`), 401);
  });
});
