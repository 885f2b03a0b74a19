import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createClient } from "../../client/index.js";
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
  const platform = createClient({ baseUrl: server.url, token: server.token });
  const account = (await platform.POST("/v1/accounts", { body: { name: "E2E" } })).data!;
  const key = (await platform.POST("/v1/accounts/{account_id}/api-keys", { params: { path: { account_id: account.id } }, body: { name: "k" } })).data!;
  const created = await createClient({ baseUrl: server.url, token: key.key }).POST("/v1/webhooks", {
    body: { url: `${receiver.url}/r/start`, events: ["workflow.completed"] },
  });
  expect(created.response.status).toBe(201);
  const webhook = created.data!;
  const ingest = await platform.POST("/v1/events", {
    body: { type: "workflow.completed", account_id: account.id, data: { workflow_id: "wf_1", execution_id: "exe_1", duration_ms: 5230, outputs: {} } },
  });
  expect(ingest.response.status).toBe(202);
  let got: any[] = [];
  for (let i = 0; i < 100 && got.length === 0; i++) {
    got = await (await fetch(`${receiver.url}/__received/start`)).json();
    if (got.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  expect(got).toHaveLength(1);
  const verified = new Webhook(webhook.secret!).verify(got[0].body, got[0].headers) as any;
  expect(verified.type).toBe("workflow.completed");
  expect(verified.account_id).toBe(account.id);
});
