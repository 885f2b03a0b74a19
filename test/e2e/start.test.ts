import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type DevServer, startDevServer } from "../support/dev-server";
import { startReceiver } from "../support/receiver";

let server: DevServer;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  [server, receiver] = await Promise.all([startDevServer(), startReceiver()]);
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  await receiver?.close();
});

test("the service started as README says takes an event and delivers it, signed, to a real receiver", async () => {
  const account = (await (await server.fetch("/v1/accounts", { method: "POST", bearer: server.token, json: { name: "E2E" } })).json()) as any;
  const key = (await (await server.fetch(`/v1/accounts/${account.id}/api-keys`, { method: "POST", bearer: server.token, json: { name: "k" } })).json()) as any;
  const created = await server.fetch("/v1/webhooks", {
    method: "POST",
    bearer: key.key,
    json: { url: `${receiver.url}/r/start`, events: ["workflow.completed"] },
  });
  expect(created.status).toBe(201);
  const webhook = (await created.json()) as any;
  const ingest = await server.fetch("/v1/events", {
    method: "POST",
    bearer: server.token,
    json: { type: "workflow.completed", account_id: account.id, data: { workflow_id: "wf_1", execution_id: "exe_1", duration_ms: 5230, outputs: {} } },
  });
  expect(ingest.status).toBe(202);
  let got: any[] = [];
  for (let i = 0; i < 100 && got.length === 0; i++) {
    got = await (await fetch(`${receiver.url}/__received/start`)).json();
    if (got.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  expect(got).toHaveLength(1);
  const verified = new Webhook(webhook.secret).verify(got[0].body, got[0].headers) as any;
  expect(verified.type).toBe("workflow.completed");
  expect(verified.account_id).toBe(account.id);
});
