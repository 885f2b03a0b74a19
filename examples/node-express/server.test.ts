import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { deliver, eventPayload, newSecret, type Receiver, startReceiver } from "../test-support";

const secret = newSecret();
let receiver: Receiver;
let endpoint: string;

beforeAll(async () => {
  receiver = await startReceiver(process.execPath, ["server.mjs"], { cwd: fileURLToPath(new URL(".", import.meta.url)), env: { WEBHOOK_SECRET: secret } });
  endpoint = `${receiver.url}/webhooks/broxiai`;
});
afterAll(async () => {
  await receiver?.stop();
});

test("a correctly signed delivery is answered 204 and handled once", async () => {
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_express_ok", body: eventPayload("evt_express_ok") });
  expect(res.status).toBe(204);
  await receiver.waitFor((r) => r.some((x) => x.handled === "evt_express_ok"));
});

test("a retry with the same webhook-id is acknowledged but not handled again", async () => {
  const body = eventPayload("evt_express_dup");
  expect((await deliver(endpoint, { secrets: [secret], id: "evt_express_dup", body })).status).toBe(204);
  // A retry is signed afresh, with a later timestamp, exactly as the service's next attempt would be.
  const again = await deliver(endpoint, { secrets: [secret], id: "evt_express_dup", body, timestamp: Math.floor(Date.now() / 1000) + 5 });
  expect(again.status).toBe(200);
  await receiver.waitFor((r) => r.some((x) => x.duplicate === "evt_express_dup"));
  expect(receiver.records().filter((x) => x.handled === "evt_express_dup")).toHaveLength(1);
});

test("a body changed after signing is refused", async () => {
  const res = await deliver(endpoint, {
    secrets: [secret],
    id: "evt_express_tampered",
    body: eventPayload("evt_express_tampered"),
    tamper: (b) => b.replace("5230", "1"),
  });
  expect(res.status).toBe(401);
});

test("a delivery signed with another secret is refused", async () => {
  const res = await deliver(endpoint, { secrets: [newSecret()], id: "evt_express_wrongkey", body: eventPayload("evt_express_wrongkey") });
  expect(res.status).toBe(401);
});

test("a timestamp older than five minutes is refused, even with a valid signature (replay)", async () => {
  const stale = Math.floor(Date.now() / 1000) - 6 * 60;
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_express_stale", body: eventPayload("evt_express_stale"), timestamp: stale });
  expect(res.status).toBe(401);
  expect(await res.text()).toMatch(/too old/);
});

test("during a secret rotation (two signatures, the new first) the receiver still holding the old secret accepts", async () => {
  const res = await deliver(endpoint, { secrets: [newSecret(), secret], id: "evt_express_rotated", body: eventPayload("evt_express_rotated") });
  expect(res.status).toBe(204);
});

test("a batch is handled event by event", async () => {
  const events = [JSON.parse(eventPayload("evt_express_b1")), JSON.parse(eventPayload("evt_express_b2"))];
  const body = JSON.stringify({ id: "bat_express_1", type: "batch", timestamp: new Date().toISOString(), account_id: "acc_example", data: { events } });
  expect((await deliver(endpoint, { secrets: [secret], id: "bat_express_1", body })).status).toBe(204);
  await receiver.waitFor((r) => ["evt_express_b1", "evt_express_b2"].every((id) => r.some((x) => x.handled === id)));
});

test("no processing happened for any refused delivery", () => {
  const handled = receiver.records().map((x) => x.handled);
  for (const id of ["evt_express_tampered", "evt_express_wrongkey", "evt_express_stale"]) expect(handled).not.toContain(id);
});
