import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DevServer, freePort, startDevServer } from "../support/dev-server";
import { apiOf, createWebhook, expectAnswer, expectStatus, newAccount, sleep, waitFor } from "../support/e2e-kit";
import { startReceiver } from "../support/receiver";

// Issue 20 end to end, against `wrangler dev` with short settings: a receiver that fails is reported to the account's
// alert webhook (failing at the 4th failure, then the dead letter, then disabled once DISABLE_AFTER_FAILING_HOURS has
// passed); events sent meanwhile are held and go out in order on enabling, then recovered; a webhook that is off holds
// at most MAX_HELD_PER_WEBHOOK, and its held deliveries can be discarded instead.

const DISABLE_AFTER_S = 10;
const MAX_HELD = 4;
const QUICK = { max_attempts: 5, base_delay_ms: 200, multiplier: 1, max_delay_ms: 200 };

let server: DevServer;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let account: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  const port = await freePort();
  server = await startDevServer({
    port,
    vars: {
      DISABLE_AFTER_FAILING_HOURS: String(DISABLE_AFTER_S / 3600),
      MAX_HELD_PER_WEBHOOK: String(MAX_HELD),
      DASHBOARD_URL: `http://127.0.0.1:${port}`,
    },
  });
  account = await newAccount(server, "Alerts");
});

afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  await receiver?.close();
});

type Req = { headers: Record<string, string>; body: string };

async function received(name: string): Promise<Req[]> {
  return (await fetch(`${receiver.url}/__received/${name}`)).json();
}

async function script(name: string, body: unknown): Promise<void> {
  await fetch(`${receiver.url}/__script/${name}`, { method: "PUT", body: JSON.stringify(body) });
}

const types = async (name: string) => (await received(name)).map((r) => JSON.parse(r.body).type as string);

/** Waits until the alert receiver has `n` requests, and answers them. */
async function alerts(n: number, ms = 20_000): Promise<Req[]> {
  const got = await waitFor(async () => ((await received("ops")).length >= n ? received("ops") : null), ms);
  if (!got) throw new Error(`the alert webhook got ${(await types("ops")).join(", ") || "nothing"}, not ${n} events`);
  return got;
}

function send(n: number) {
  return expectAnswer(
    apiOf(server).POST("/v1/events", {
      body: { type: "workflow.completed", account_id: account.id, data: { workflow_id: "wf_ops", execution_id: `exe_${n}`, duration_ms: n } },
    }),
    202,
  );
}

describe("a receiver that fails, end to end", () => {
  test("failing, exhausted, disabled after the configured time; held events delivered in order on enabling; recovered", async () => {
    // The first event's five attempts and the second event's first fail; after that the receiver is fine.
    await script("down", { answers: Array(6).fill({ status: 500 }), otherwise: { status: 200 } });
    const ops = await createWebhook(server, account.key, { url: `${receiver.url}/r/ops`, events: ["webhook.*", "delivery.*"] });
    const down = await createWebhook(server, account.key, { url: `${receiver.url}/r/down`, description: "Orders", retry: QUICK });

    await send(1);
    const [failing, exhausted] = await alerts(2);
    // Signed like any delivery: the alert webhook's receiver verifies it with its own secret.
    const verified = new Webhook(ops.secret!).verify(failing.body, failing.headers) as any;
    expect(verified).toMatchObject({
      type: "webhook.failing",
      account_id: account.id,
      data: {
        webhook: { id: down.id, description: "Orders" },
        consecutive_failures: 4,
        last_status_code: 500,
        dashboard_url: `${server.url}/webhooks/${down.id}`,
      },
    });
    expect(Date.parse(verified.data.disables_at) - Date.parse(verified.data.failing_since)).toBe(DISABLE_AFTER_S * 1000);
    expect(JSON.parse(exhausted.body)).toMatchObject({ type: "delivery.exhausted", data: { count: 1, deliveries: [{ attempt_count: 5 }] } });

    // Once DISABLE_AFTER_FAILING_HOURS has passed without a success, the next failure disables it.
    await sleep(Date.parse(verified.data.disables_at) - Date.now() + 500);
    await send(2);
    const disabled = JSON.parse((await alerts(3))[2].body);
    expect(disabled).toMatchObject({ type: "webhook.disabled", data: { webhook: { id: down.id }, reason: "failing", held: 1 } });

    // Sent during the outage: held.
    for (let n = 3; n <= 4; n++) expect((await send(n)).deliveries).toBe(1);
    const api = apiOf(server, account.key);
    const off = await expectAnswer(api.GET("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: down.id } } }), 200);
    expect(off).toMatchObject({ active: false, held: { count: 3, expired: 0 } });
    expect(off.disabled_reason).toMatch(/^no successful delivery/);

    await expectAnswer(api.PATCH("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: down.id } }, body: { active: true, held: "deliver" } }), 200);
    const delivered = await waitFor(async () => ((await received("down")).length >= 9 ? received("down") : null), 20_000);
    const after = (delivered ?? []).slice(6);
    expect(after.map((r) => JSON.parse(r.body).data.execution_id)).toEqual(["exe_2", "exe_3", "exe_4"]);
    expect(after.map((r) => r.headers["x-broxiai-sequence"])).toEqual(["2", "3", "4"]);
    expect(JSON.parse((await alerts(4))[3].body)).toMatchObject({ type: "webhook.recovered", data: { webhook: { id: down.id }, failed_attempts: 6 } });
    expect(await types("ops")).toEqual(["webhook.failing", "delivery.exhausted", "webhook.disabled", "webhook.recovered"]);
    // The failing webhook never got an alert about itself.
    expect((await types("down")).every((t) => t === "workflow.completed")).toBe(true);
  });

  test("a webhook that is off holds at most MAX_HELD_PER_WEBHOOK, the oldest expiring; enabling with discard cancels the rest", async () => {
    const off = await createWebhook(server, account.key, { url: `${receiver.url}/r/off`, events: ["workflow.*"], active: false });
    const sent: { id: string }[] = [];
    for (let n = 1; n <= MAX_HELD + 2; n++) sent.push(await send(100 + n));
    const api = apiOf(server, account.key);
    const read = () => expectAnswer(api.GET("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: off.id } } }), 200);
    expect((await read()).held).toEqual({ count: MAX_HELD, expired: 2 });

    // Debugging from the event: the oldest two expired past the bound, the rest are pending.
    const statusOf = async (id: string) => {
      const event = await expectStatus(server.fetch(`/v1/events/${id}`, { bearer: account.key }), 200);
      return event.deliveries.find((d: { webhook_id: string }) => d.webhook_id === off.id);
    };
    const expired = await waitFor(async () => ((await statusOf(sent[0].id))?.status === "expired" ? statusOf(sent[0].id) : null), 10_000);
    expect(expired).toMatchObject({ status: "expired", last_error: expect.stringContaining("MAX_HELD_PER_WEBHOOK") });
    expect((await statusOf(sent[2].id)).status).toBe("pending");

    await expectAnswer(api.PATCH("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: off.id } }, body: { active: true, held: "discard" } }), 200);
    const list = await expectAnswer(api.GET("/v1/deliveries", { params: { query: { event_id: sent[5].id } } }), 200);
    expect(list.data.find((d) => d.webhook_id === off.id)).toMatchObject({ status: "cancelled" });
    await send(200);
    const got = await waitFor(async () => ((await received("off")).length > 0 ? received("off") : null), 10_000);
    expect(got?.map((r) => JSON.parse(r.body).data.execution_id)).toEqual(["exe_200"]);
    expect((await read()).held).toBeNull();
  });
});
