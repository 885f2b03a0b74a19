import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { newId } from "../src/ids";
import { call, completed, expectJson, newAccount, sendEvent } from "./support/api";
import { cron, deliveriesOf, type Hook, hook, runDue, settle } from "./support/delivery";

// The platform's event id is unique within its account (SPEC): the same id in two accounts is two events, each
// stored, listed, delivered, redelivered and swept in its own account. A broadcast is stored once for its repeat and
// copied into each account, and never reuses an id an account already has.

const MAINTENANCE = { window: { starts_at: "2026-12-05T02:00:00.000Z", ends_at: "2026-12-05T03:00:00.000Z" }, message: "Database upgrade" };

const eventOf = (h: Hook, id: string) => expectJson(call("GET", `/v1/events/${encodeURIComponent(id)}`, { token: h.key }), 200);

/** What each request a receiver got carried: the webhook-id and the payload's account and data. */
async function arrivals(h: Hook) {
  return (await h.r.received()).map((r) => {
    const body = JSON.parse(r.body);
    return { id: r.headers["webhook-id"], type: body.type, account_id: body.account_id, data: body.data };
  });
}

describe("the same id in two accounts is two events", () => {
  test("each account stores, lists and receives its own event under the shared id", async () => {
    const a = await hook();
    const b = await hook();
    const id = `shared-${crypto.randomUUID()}`;
    expect(await expectJson(sendEvent({ id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202)).toEqual({ id, deliveries: 1 });
    // Before, this was answered 200 with A's answer and B's event was dropped.
    expect(await expectJson(sendEvent({ id, type: "workflow.completed", account_id: b.accountId, data: completed(2) }), 202)).toEqual({ id, deliveries: 1 });

    expect(await eventOf(a, id)).toMatchObject({ id, account_id: a.accountId, data: completed(1) });
    expect(await eventOf(b, id)).toMatchObject({ id, account_id: b.accountId, data: completed(2) });
    for (const [h, n] of [
      [a, 1],
      [b, 2],
    ] as const) {
      const list = await expectJson(call("GET", "/v1/events?limit=200", { token: h.key }), 200);
      expect(list.data.filter((e: { id: string }) => e.id === id)).toEqual([expect.objectContaining({ account_id: h.accountId, data: completed(n) })]);
    }

    await settle(a);
    await settle(b);
    expect(await arrivals(a)).toEqual([{ id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }]);
    expect(await arrivals(b)).toEqual([{ id, type: "workflow.completed", account_id: b.accountId, data: completed(2) }]);
  });

  test("a repeat within one account is still a repeat: 200 with that account's answer, nothing new anywhere", async () => {
    const a = await hook();
    const b = await hook({ events: ["workflow.failed"] });
    const id = `again-${crypto.randomUUID()}`;
    await expectJson(sendEvent({ id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202);
    await expectJson(sendEvent({ id, type: "workflow.completed", account_id: b.accountId, data: completed(2) }), 202);
    expect(await expectJson(sendEvent({ id, type: "workflow.completed", account_id: a.accountId, data: completed(3) }), 200)).toEqual({ id, deliveries: 1 });
    expect(await expectJson(sendEvent({ id, type: "workflow.completed", account_id: b.accountId, data: completed(4) }), 200)).toEqual({ id, deliveries: 0 });
    expect((await eventOf(a, id)).data).toEqual(completed(1));
    expect((await eventOf(b, id)).data).toEqual(completed(2));
    await settle(a);
    expect(await arrivals(a)).toHaveLength(1);
    expect(await deliveriesOf(b)).toEqual([]);
  });

  test("in one batch, the same id for two accounts is two events and a third copy for the first is a repeat", async () => {
    const a = await hook();
    const b = await hook();
    const id = `batch-${crypto.randomUUID()}`;
    const event = (accountId: string, n: number) => ({ id, type: "workflow.completed", account_id: accountId, data: completed(n) });
    const answer = await expectJson(
      call("POST", "/v1/events/batch", { token: env.PLATFORM_TOKEN, body: { events: [event(a.accountId, 1), event(b.accountId, 2), event(a.accountId, 3)] } }),
      202,
    );
    expect(answer.data).toEqual([
      { id, deliveries: 1 },
      { id, deliveries: 1 },
      { id, deliveries: 1 },
    ]);
    expect((await eventOf(a, id)).data).toEqual(completed(1));
    expect((await eventOf(b, id)).data).toEqual(completed(2));
    expect(await deliveriesOf(a)).toHaveLength(1);
    expect(await deliveriesOf(b)).toHaveLength(1);
  });

  test("a redelivery and the sweep rebuild each account's payload from its own event", async () => {
    const a = await hook();
    const b = await hook();
    const id = `redo-${crypto.randomUUID()}`;
    await expectJson(sendEvent({ id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202);
    await expectJson(sendEvent({ id, type: "workflow.completed", account_id: b.accountId, data: completed(2) }), 202);
    await settle(a);
    await settle(b);
    for (const h of [a, b]) {
      const [d] = await deliveriesOf(h);
      await expectJson(call("POST", `/v1/deliveries/${d.id}/retry`, { token: h.key }), 202);
      await runDue(h);
    }
    expect(await arrivals(a)).toEqual(Array(2).fill({ id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }));
    expect(await arrivals(b)).toEqual(Array(2).fill({ id, type: "workflow.completed", account_id: b.accountId, data: completed(2) }));

    // Two events under one id whose hand-offs never reached their queues (as a crash between storing and handing
    // off leaves them): the sweep finds each in its account and rebuilds its own payload.
    const lost = `lost-${crypto.randomUUID()}`;
    const at = Date.now() - 5 * 60_000;
    for (const [h, n] of [
      [a, 3],
      [b, 4],
    ] as const) {
      await h.log
        .prepare(
          "INSERT INTO events (account_id, id, type, timestamp, data, deliveries, created_at, handoffs) VALUES (?, ?, 'workflow.completed', ?, ?, 1, ?, ?)",
        )
        .bind(h.accountId, lost, new Date(at).toISOString(), JSON.stringify(completed(n)), at, JSON.stringify([[h.wh.id, newId("dlv", at)]]))
        .run();
    }
    await cron();
    await settle(a);
    await settle(b);
    expect((await arrivals(a)).at(-1)).toEqual({ id: lost, type: "workflow.completed", account_id: a.accountId, data: completed(3) });
    expect((await arrivals(b)).at(-1)).toEqual({ id: lost, type: "workflow.completed", account_id: b.accountId, data: completed(4) });
  });
});

describe("broadcasts", () => {
  test("each account sees a broadcast as its own event; a repeat is answered once for all and creates nothing", async () => {
    const a = await hook({ events: ["system.maintenance"] });
    const quiet = await newAccount("No webhooks");
    const answer = await expectJson(sendEvent({ type: "system.maintenance", data: MAINTENANCE }), 202);
    expect(await expectJson(sendEvent({ id: answer.id, type: "system.maintenance", data: MAINTENANCE }), 200)).toEqual(answer);
    expect(await eventOf(a, answer.id)).toMatchObject({ id: answer.id, account_id: a.accountId, type: "system.maintenance", data: MAINTENANCE });
    const list = await expectJson(call("GET", "/v1/events?type=system.maintenance&limit=200", { token: quiet.key }), 200);
    expect(list.data.filter((e: { id: string }) => e.id === answer.id)).toEqual([expect.objectContaining({ account_id: quiet.accountId })]);
    await settle(a);
    expect(await arrivals(a)).toEqual([{ id: answer.id, type: "system.maintenance", account_id: a.accountId, data: MAINTENANCE }]);
    // Its id is now taken in every account that existed: an event of one of them with it is a repeat there.
    expect(await expectJson(sendEvent({ id: answer.id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 200)).toEqual({
      id: answer.id,
      deliveries: 1,
    });
    const later = await newAccount("Created later");
    await expectJson(sendEvent({ id: answer.id, type: "workflow.completed", account_id: later.accountId, data: completed(1) }), 202);
    await settle(a);
    expect(await arrivals(a)).toHaveLength(1);
  });

  test("an account that already has the broadcast's id keeps its own event, and its receivers never get the broadcast", async () => {
    const a = await hook({ events: ["*"] });
    const b = await hook({ events: ["system.*"] });
    const id = `notice-${crypto.randomUUID()}`;
    await expectJson(sendEvent({ id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }), 202);
    const answer = await expectJson(sendEvent({ id, type: "system.maintenance", data: MAINTENANCE }), 202);

    expect(await eventOf(a, id)).toMatchObject({ type: "workflow.completed", account_id: a.accountId, data: completed(1) });
    expect(await eventOf(b, id)).toMatchObject({ type: "system.maintenance", account_id: b.accountId, data: MAINTENANCE });
    await settle(a);
    await settle(b);
    expect(await arrivals(a)).toEqual([{ id, type: "workflow.completed", account_id: a.accountId, data: completed(1) }]);
    expect(await arrivals(b)).toEqual([{ id, type: "system.maintenance", account_id: b.accountId, data: MAINTENANCE }]);
    expect((await deliveriesOf(a)).map((d) => d.event_type)).toEqual(["workflow.completed"]);
    // The broadcast's answer counts the webhooks it went to, A's not among them; its repeat answers the same.
    expect(await expectJson(sendEvent({ id, type: "system.maintenance", data: MAINTENANCE }), 200)).toEqual(answer);
  });

  test("an account event with a broadcast's id in the same batch, before it, keeps that account out of the broadcast", async () => {
    const a = await hook({ events: ["*"] });
    const b = await hook({ events: ["system.*"] });
    const id = `same-call-${crypto.randomUUID()}`;
    const answer = await expectJson(
      call("POST", "/v1/events/batch", {
        token: env.PLATFORM_TOKEN,
        body: {
          events: [
            { id, type: "workflow.completed", account_id: a.accountId, data: completed(1) },
            { id, type: "system.maintenance", data: MAINTENANCE },
          ],
        },
      }),
      202,
    );
    expect(answer.data[0]).toEqual({ id, deliveries: 1 });
    expect(await eventOf(a, id)).toMatchObject({ type: "workflow.completed" });
    expect(await eventOf(b, id)).toMatchObject({ type: "system.maintenance" });
    await settle(a);
    expect((await arrivals(a)).map((r) => r.type)).toEqual(["workflow.completed"]);
  });
});
