import { env } from "cloudflare:workers";
import { expect, test } from "vitest";
import { call, completed, expectJson, newAccount, receiver, sendEvent } from "./support/api";
import { settle } from "./support/delivery";

test("smoke", async () => {
  const { accountId, key } = await newAccount();
  const r = await receiver();
  const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["workflow.*"] } }), 201);
  expect(wh.secret).toMatch(/^whsec_/);
  const ev = await expectJson(sendEvent({ type: "workflow.completed", account_id: accountId, data: completed(1) }), 202);
  expect(ev.deliveries).toBe(1);
  const stub = env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(wh.id));
  await settle({ stub });
  const got = await r.received();
  expect(got).toHaveLength(1);
  const list = await expectJson(call("GET", `/v1/webhooks/${wh.id}/deliveries`, { token: key }), 200);
  expect(list.data[0].status).toBe("delivered");
});
