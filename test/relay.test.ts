import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, test } from "vitest";
import { call, completed, expectJson, expectProblem, newAccount, sendEvent } from "./support/api";
import { alarmOf, deliveriesOf, deliveryOf, type Hook, runDue, settle } from "./support/delivery";
import { testClock } from "./support/queue-seams";
import { connect, connectRequest, eventIdsOf, relayHook } from "./support/relay";

// The relay (README, "Develop from a laptop (relay)"): a webhook whose destination is a developer's `npm run listen`,
// reached over a WebSocket held by its relay session. Here the CLI is a WebSocket in the test answering as a scripted
// local receiver; what is checked is what it receives, in which order, and what the API and the log then show.

const DAY = 24 * 3_600_000;

async function ingest(r: Awaited<ReturnType<typeof relayHook>>, n: number) {
  const answer = await expectJson(sendEvent({ type: "workflow.completed", account_id: r.accountId, data: completed(n) }), 202);
  await settle(r.hook);
  return answer.id as string;
}

describe("relays", () => {
  test("POST /v1/relays makes a relay and a webhook sending to it, its secret shown once; GET reads it, and the webhook is an ordinary one", async () => {
    const r = await relayHook(["workflow.*"]);
    expect(r.relay).toMatchObject({
      id: expect.stringMatching(/^rly_[0-9A-Z]{26}$/),
      webhook_id: expect.stringMatching(/^wh_/),
      connected: false,
      last_connected_at: null,
      secret: expect.stringMatching(/^whsec_/),
    });
    expect(r.relay.url).toBe(`relay://${r.relay.id}`);
    expect(Date.parse(r.relay.expires_at) - Date.parse(r.relay.created_at)).toBe(DAY);
    const read = await expectJson(call("GET", `/v1/relays/${r.relay.id}`, { token: r.key }), 200);
    expect(read).not.toHaveProperty("secret");
    expect(read).toMatchObject({ id: r.relay.id, webhook_id: r.relay.webhook_id, connected: false });
    expect(r.hook.wh).toMatchObject({ url: `relay://${r.relay.id}`, events: ["workflow.*"] });
    expect(JSON.stringify(r.hook.wh)).not.toContain(r.relay.secret);
    // Its settings change like any webhook's.
    await expectJson(call("PATCH", `/v1/webhooks/${r.relay.webhook_id}`, { token: r.key, body: { retry: { max_attempts: 3 } } }), 200);
  });

  test("another account sees no relay: GET, DELETE and connect answer 404, and no webhook of its own may point at it", async () => {
    const r = await relayHook();
    const other = await newAccount("Other");
    await expectProblem(call("GET", `/v1/relays/${r.relay.id}`, { token: other.key }), 404);
    await expectProblem(call("DELETE", `/v1/relays/${r.relay.id}`, { token: other.key }), 404);
    await expectProblem(connectRequest(r.relay.id, other.key), 404);
    const refused = await expectProblem(call("POST", "/v1/webhooks", { token: other.key, body: { url: `relay://${r.relay.id}`, events: ["*"] } }), 422);
    expect(refused.errors).toEqual([{ path: "url", message: expect.stringContaining("no relay of this account") }]);
    await expectProblem(call("POST", "/v1/webhooks", { token: r.key, body: { url: "relay://rly_nothing", events: ["*"] } }), 422);
    // The owner may attach another of its webhooks to its relay.
    await expectJson(call("POST", "/v1/webhooks", { token: r.key, body: { url: `relay://${r.relay.id}`, events: ["*"] } }), 201);
    await expectProblem(call("GET", "/v1/relays/rly_01JD3S4K2M0000000000000000", { token: r.key }), 404);
    await expectProblem(call("GET", "/v1/relays/not-an-id", { token: r.key }), 422);
  });

  test("connect needs a WebSocket upgrade, a known key, and an address inside the key's allowlist", async () => {
    const r = await relayHook();
    await expectProblem(call("GET", `/v1/relays/${r.relay.id}/connect`, { token: r.key }), 426);
    await expectProblem(connectRequest(r.relay.id, "bxk_wrong"), 401);
    await expectProblem(connectRequest(r.relay.id, r.key, { authorization: "" }), 401);
    const account = await expectJson(
      call("POST", `/v1/accounts/${r.accountId}/api-keys`, { token: env.PLATFORM_TOKEN, body: { name: "office", allowed_ips: ["203.0.113.0/24"] } }),
      201,
    );
    await expectProblem(connectRequest(r.relay.id, account.key, { "cf-connecting-ip": "198.51.100.7" }), 403);
    const inside = await connectRequest(r.relay.id, account.key, { "cf-connecting-ip": "203.0.113.9" });
    expect(inside.status).toBe(101);
    inside.webSocket?.accept();
    inside.webSocket?.close(1000, "done");
  });

  test("a delivery made while nobody is connected fails as 'relay not connected'; on connect it goes out at once, signed as on the wire, and the local 500 then 200 are its attempts", async () => {
    const r = await relayHook();
    const eventId = await ingest(r, 1);
    let d = await deliveryOf(r.hook as Hook, eventId);
    expect(d.status).toBe("pending");
    expect(d.attempts).toMatchObject([{ number: 1, status_code: null, error: expect.stringContaining("relay not connected") }]);

    const cli = await connect(r.relay.id, r.key, [{ status: 500, body: "local boom" }], { status: 200, body: "thanks" });
    expect((await expectJson(call("GET", `/v1/relays/${r.relay.id}`, { token: r.key }), 200)).connected).toBe(true);
    await settle(r.hook);
    expect(cli.frames).toHaveLength(1);
    const [frame] = cli.frames;
    expect(frame.method).toBe("POST");
    expect(JSON.parse(frame.body)).toMatchObject({ id: eventId, type: "workflow.completed" });
    // Exactly what a receiver gets: Standard Webhooks verifies it with the secret POST /v1/relays showed.
    expect(new Webhook(r.relay.secret).verify(frame.body, frame.headers)).toMatchObject({ id: eventId });
    expect(frame.headers["x-broxiai-attempt"]).toBe("2");

    await runDue(r.hook);
    expect(cli.frames.map((f) => f.headers["x-broxiai-attempt"])).toEqual(["2", "3"]);
    d = await deliveryOf(r.hook as Hook, eventId);
    expect(d.status).toBe("delivered");
    expect(d.attempts.map((a: any) => [a.number, a.status_code, a.response_body])).toEqual([
      [1, null, null],
      [2, 500, "local boom"],
      [3, 200, "thanks"],
    ]);
    expect(d.attempts[1].duration_ms).toBe(3);
    await cli.close();
  });

  test("deliveries that waited while the CLI was away arrive in order when it reconnects", async () => {
    const r = await relayHook();
    const first = await connect(r.relay.id, r.key);
    const e1 = await ingest(r, 1);
    expect(eventIdsOf(first.frames)).toEqual([e1]);
    await first.close();
    expect((await expectJson(call("GET", `/v1/relays/${r.relay.id}`, { token: r.key }), 200)).connected).toBe(false);

    const waiting = [await ingest(r, 2), await ingest(r, 3), await ingest(r, 4)];
    // Time passes with the head failing: its backoff grows, the others wait behind it (strict order).
    await runDue(r.hook);
    await runDue(r.hook);
    const again = await connect(r.relay.id, r.key);
    await settle(r.hook);
    expect(eventIdsOf(again.frames)).toEqual(waiting);
    const seqs = again.frames.map((f) => Number(f.headers["x-broxiai-sequence"]));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    const statuses = (await deliveriesOf(r.hook as Hook)).map((d) => d.status);
    expect(statuses).toEqual(["delivered", "delivered", "delivered", "delivered"]);
    await again.close();
  });

  test("a newer connection replaces the older one, which is closed with 4001; a local error or silence is a failed attempt", async () => {
    const r = await relayHook();
    await expectJson(call("PATCH", `/v1/webhooks/${r.relay.webhook_id}`, { token: r.key, body: { timeout_ms: 1000 } }), 200);
    const old = await connect(r.relay.id, r.key);
    const cli = await connect(r.relay.id, r.key, [{ error: "connect ECONNREFUSED 127.0.0.1:3000" }, "silent"]);
    await new Promise((res) => setTimeout(res, 50));
    expect(old.closed).toEqual([{ code: 4001, reason: expect.stringContaining("newer connection") }]);
    const eventId = await ingest(r, 1);
    await runDue(r.hook);
    const d = await deliveryOf(r.hook as Hook, eventId);
    expect(old.frames).toEqual([]);
    expect(d.attempts.map((a: any) => a.error)).toEqual(["connect ECONNREFUSED 127.0.0.1:3000", expect.stringContaining("timed out after 1000 ms")]);
    await cli.close();
  });

  test("the local answer's headers count (a 429's Retry-After is waited for), and a test send through the relay answers what the local receiver said", async () => {
    const r = await relayHook();
    const cli = await connect(r.relay.id, r.key, [
      { status: 429, headers: { "retry-after": "120" }, body: "slow down" },
      { status: 202, body: "test seen" },
    ]);
    const eventId = await ingest(r, 1);
    const wait = (alarmOf(r.hook) ?? 0) - testClock.now();
    expect(wait).toBeGreaterThan(110_000);
    const d = await deliveryOf(r.hook as Hook, eventId);
    expect(d.attempts[0]).toMatchObject({ status_code: 429, response_body: "slow down", response_headers: { "retry-after": "120" } });
    const tested = await expectJson(call("POST", `/v1/webhooks/${r.relay.webhook_id}/test`, { token: r.key }), 200);
    expect(tested).toMatchObject({ ok: true, status_code: 202, response_body: "test seen", error: null });
    expect(JSON.parse(cli.frames[1].body).type).toBe("webhook.test");
    await cli.close();
  });

  test("DELETE /v1/relays/{id} closes the CLI's socket (4004) and deletes the webhook, cancelling what was pending", async () => {
    const r = await relayHook();
    const eventId = await ingest(r, 1);
    const cli = await connect(r.relay.id, r.key, ["silent"]);
    await cli.close();
    const live = await connect(r.relay.id, r.key, [{ status: 503 }]);
    await settle(r.hook);
    await expectJson(call("DELETE", `/v1/relays/${r.relay.id}`, { token: r.key }), 204);
    await new Promise((res) => setTimeout(res, 50));
    expect(live.closed).toEqual([{ code: 4004, reason: expect.any(String) }]);
    await expectProblem(call("GET", `/v1/relays/${r.relay.id}`, { token: r.key }), 404);
    await expectProblem(call("GET", `/v1/webhooks/${r.relay.webhook_id}`, { token: r.key }), 404);
    const event = await expectJson(call("GET", `/v1/events/${eventId}`, { token: r.key }), 200);
    expect(event.deliveries.map((d: any) => d.status)).toEqual(["cancelled"]);
  });

  test("a relay nobody connects to for 24 h expires with its webhook; one with a CLI connected does not", async () => {
    const idle = await relayHook();
    const kept = await relayHook();
    const cli = await connect(kept.relay.id, kept.key);
    testClock.advance(DAY - 60_000);
    await runDurableObjectAlarm(idle.session);
    await expectJson(call("GET", `/v1/relays/${idle.relay.id}`, { token: idle.key }), 200);
    testClock.advance(120_000);
    await runDurableObjectAlarm(idle.session);
    await runDurableObjectAlarm(kept.session);
    await expectProblem(call("GET", `/v1/relays/${idle.relay.id}`, { token: idle.key }), 404);
    await expectProblem(call("GET", `/v1/webhooks/${idle.relay.webhook_id}`, { token: idle.key }), 404);
    const still = await expectJson(call("GET", `/v1/relays/${kept.relay.id}`, { token: kept.key }), 200);
    expect(still).toMatchObject({ connected: true, expires_at: null });

    // Once the CLI leaves, the day starts then.
    await cli.close();
    const left = await expectJson(call("GET", `/v1/relays/${kept.relay.id}`, { token: kept.key }), 200);
    expect(Date.parse(left.expires_at)).toBeGreaterThan(Date.now() + DAY);
  });

  test("revoking the API key a CLI connected with closes its socket (4003) at once; revoking another key does not, and what waits goes to the next CLI", async () => {
    const r = await relayHook();
    const second = await expectJson(call("POST", `/v1/accounts/${r.accountId}/api-keys`, { token: env.PLATFORM_TOKEN, body: { name: "laptop" } }), 201);
    const revoke = (keyId: string) => call("DELETE", `/v1/accounts/${r.accountId}/api-keys/${keyId}`, { token: env.PLATFORM_TOKEN });

    // A key that opened no socket: revoking it leaves the CLI connected with the other key alone.
    const third = await expectJson(call("POST", `/v1/accounts/${r.accountId}/api-keys`, { token: env.PLATFORM_TOKEN, body: { name: "spare" } }), 201);
    const kept = await connect(r.relay.id, r.key);
    expect((await revoke(third.id)).status).toBe(204);
    await new Promise((res) => setTimeout(res, 50));
    expect(kept.closed).toEqual([]);
    expect((await expectJson(call("GET", `/v1/relays/${r.relay.id}`, { token: r.key }), 200)).connected).toBe(true);
    await kept.close();

    // The key that opened this socket: revoked, the socket closes, and the next event does not reach it.
    const cli = await connect(r.relay.id, second.key);
    expect((await revoke(second.id)).status).toBe(204);
    await new Promise((res) => setTimeout(res, 50));
    expect(cli.closed).toEqual([{ code: 4003, reason: expect.stringContaining("revoked") }]);
    expect((await expectJson(call("GET", `/v1/relays/${r.relay.id}`, { token: r.key }), 200)).connected).toBe(false);
    const waiting = await ingest(r, 1);
    expect(cli.frames).toEqual([]);
    await expectProblem(connectRequest(r.relay.id, second.key), 401);

    const next = await connect(r.relay.id, r.key);
    await settle(r.hook);
    expect(eventIdsOf(next.frames)).toEqual([waiting]);
    await next.close();
  });

  test("an event for one account never reaches another account's relay", async () => {
    const a = await relayHook();
    const b = await relayHook();
    const cliA = await connect(a.relay.id, a.key);
    const cliB = await connect(b.relay.id, b.key);
    const toB = await ingest(b, 1);
    await settle(a.hook);
    expect(cliA.frames).toEqual([]);
    expect(eventIdsOf(cliB.frames)).toEqual([toB]);
    await cliA.close();
    await cliB.close();
  });
});
