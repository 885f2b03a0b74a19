import { expect, test } from "vitest";
import { catalog, payloadFor, signedRequest } from "./fixtures";
import { alertFor, createHandler, type WebhookPayload } from "./handler";

// A receiver's unit tests as they would sit in the receiver's own repository: no service, no server, no network.
// Every event type the catalog lists, with its example payload, signed by the standardwebhooks library.

const SECRET = `whsec_${Buffer.alloc(32, 42).toString("base64")}`;

function receiver() {
  const handled: WebhookPayload[] = [];
  const handle = createHandler({ secret: SECRET, onEvent: (event) => void handled.push(event) });
  return { handle, handled };
}

const types = catalog.data.map((e) => e.type);

test("the fixture catalog covers the SPEC's sixteen platform types and the test event", () => {
  for (const type of ["workflow.failed", "component.timeout", "user.message.received", "api.quota.exceeded", "system.maintenance", "webhook.test"]) {
    expect(types).toContain(type);
  }
  expect(types.length).toBeGreaterThanOrEqual(16);
});

test.each(types)("a signed %s delivery is verified and handed to the handler as sent", async (type) => {
  const { handle, handled } = receiver();
  const payload = payloadFor(type);
  const res = await handle(signedRequest(payload, { secret: SECRET }));
  expect(res.status).toBe(204);
  expect(handled).toEqual([payload]);
});

test("the alerts read the fields the catalog's examples carry", () => {
  expect(alertFor(payloadFor("workflow.failed"))).toBe(
    "Workflow Customer support triage failed: OpenAI returned 429 Too Many Requests (run exe_01JD3QC1N8T5R2V7Y4B6D0X3JQ)",
  );
  expect(alertFor(payloadFor("component.failed"))).toBe("Fetch CRM record failed in run exe_01JD3QC1N8T5R2V7Y4B6D0X3JQ: CRM API answered 502 Bad Gateway");
  expect(alertFor(payloadFor("component.timeout"))).toBe("Summarize thread timed out after 60 s (run exe_01JD3QF6B2M9K4W1T8C5Z7H0NV)");
  expect(alertFor(payloadFor("api.quota.warning"))).toBe("Quota api_requests: 90125 of 100000 used this month");
  expect(alertFor(payloadFor("system.maintenance"))).toMatch(/^Maintenance from 2026-12-05T02:00:00.000Z to 2026-12-05T03:00:00.000Z: Database upgrade/);
  expect(alertFor(payloadFor("workflow.completed"))).toBeNull();
});

test("a body changed after signing is refused with 401 and handles nothing", async () => {
  const { handle, handled } = receiver();
  const request = signedRequest(payloadFor("workflow.completed"), { secret: SECRET });
  const signed = await request.text();
  const changed = signed.replace('"duration_ms":5230', '"duration_ms":1');
  expect(changed).not.toBe(signed);
  const tampered = new Request(request, { body: changed });
  const res = await handle(tampered);
  expect(res.status).toBe(401);
  expect(handled).toEqual([]);
});

test("a delivery signed with another secret is refused", async () => {
  const { handle, handled } = receiver();
  const res = await handle(signedRequest(payloadFor("workflow.failed"), { secret: `whsec_${Buffer.alloc(32, 1).toString("base64")}` }));
  expect(res.status).toBe(401);
  expect(handled).toEqual([]);
});

test("a correctly signed delivery whose timestamp is ten minutes old is refused as a replay", async () => {
  const { handle, handled } = receiver();
  const res = await handle(signedRequest(payloadFor("workflow.failed"), { secret: SECRET, at: new Date(Date.now() - 10 * 60_000) }));
  expect(res.status).toBe(401);
  expect(((await res.json()) as { error: string }).error).toMatch(/too old/);
  expect(handled).toEqual([]);
});

test("a retry of a delivery already handled (same webhook-id, new signature) is acknowledged and not handled again", async () => {
  const { handle, handled } = receiver();
  const payload = payloadFor("api.quota.exceeded");
  expect((await handle(signedRequest(payload, { secret: SECRET }))).status).toBe(204);
  const retry = signedRequest(payload, { secret: SECRET, at: new Date(Date.now() + 5_000), attempt: 2 });
  expect((await handle(retry)).status).toBe(200);
  expect(handled).toHaveLength(1);
});

test("a batch delivery is handled event by event, in order", async () => {
  const { handle, handled } = receiver();
  const events = [payloadFor("workflow.started"), payloadFor("workflow.completed")];
  const batch = payloadFor("workflow.started", { id: "bat_fixture_1", type: "batch", data: { events } });
  expect((await handle(signedRequest(batch, { secret: SECRET }))).status).toBe(204);
  expect(handled).toEqual(events);
});
