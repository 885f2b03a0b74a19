import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { describe, expect, test } from "vitest";
import { call, completed, expectJson, sendEvent } from "./support/api";
import { hook, runDue } from "./support/delivery";
import { testClock } from "./support/queue-seams";

// What a receiver sees: every request is signed as Standard Webhooks says, verifiable with the libraries
// receivers actually use, through retries and secret rotations.

const headersOf = (req: { headers: Record<string, string> }) => ({
  "webhook-id": req.headers["webhook-id"],
  "webhook-timestamp": req.headers["webhook-timestamp"],
  "webhook-signature": req.headers["webhook-signature"],
});

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** HMAC-SHA256 of "{id}.{ts}.{body}" keyed with a whsec_ secret, base64 — what one v1 entry must hold. */
async function hmac(secret: string, id: string, ts: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", unb64(secret.slice("whsec_".length)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return b64(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${ts}.${body}`))));
}

describe("every request is signed and labelled", () => {
  test("headers verify with standardwebhooks and svix; webhook-id is the event id on every retry", async () => {
    const h = await hook(
      { headers: { "x-team": "core", authorization: "Bearer receiver-token" }, retry: { max_attempts: 5 } },
      { answers: [{ status: 500 }, { status: 502 }], otherwise: { status: 204 } },
    );
    const ev = await h.send();
    expect(await runDue(h)).toBe(true);
    expect(await runDue(h)).toBe(true);
    const got = await h.r.received();
    expect(got).toHaveLength(3);
    const deliveryId = got[0].headers["x-broxiai-delivery"];
    expect(deliveryId).toMatch(/^dlv_/);
    got.forEach((req, i) => {
      expect(req.headers["webhook-id"]).toBe(ev.id);
      expect(req.headers["webhook-timestamp"]).toMatch(/^\d+$/);
      expect(Math.abs(Number(req.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
      expect(req.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+={0,2}$/);
      expect(() => new StandardWebhook(h.wh.secret).verify(req.body, headersOf(req))).not.toThrow();
      expect(() => new SvixWebhook(h.wh.secret).verify(req.body, headersOf(req))).not.toThrow();
      expect(req.headers["content-type"]).toBe("application/json");
      expect(req.headers["user-agent"]).toMatch(/^BroxiAI-Webhooks\/\d+\.\d+\.\d+$/);
      expect(req.headers["x-broxiai-event"]).toBe("workflow.completed");
      expect(req.headers["x-broxiai-delivery"]).toBe(deliveryId);
      expect(req.headers["x-broxiai-attempt"]).toBe(String(i + 1));
      expect(req.headers["x-broxiai-sequence"]).toBe(got[0].headers["x-broxiai-sequence"]);
      expect(req.headers["x-team"]).toBe("core");
      expect(req.headers.authorization).toBe("Bearer receiver-token");
      expect(JSON.parse(req.body)).toMatchObject({ id: ev.id, type: "workflow.completed", account_id: h.accountId, data: { execution_id: "exe_1" } });
    });
    expect(Number(got[0].headers["x-broxiai-sequence"])).toBeGreaterThan(0);
    // A tampered body does not verify.
    expect(() => new StandardWebhook(h.wh.secret).verify(got[0].body.replace("exe_1", "exe_2"), headersOf(got[0]))).toThrow();
  });

  test("x-broxiai-sequence grows by one per event; a repeated hand-off neither re-sends nor uses up a number", async () => {
    const h = await hook();
    const first = { id: `evt_repeat_${h.wh.id}`, type: "workflow.completed", account_id: h.accountId, data: completed(100) };
    await expectJson(sendEvent(first), 202);
    // The platform sends the same event again before it was delivered: its pending delivery is handed off again.
    expect(await expectJson(sendEvent(first), 200)).toEqual({ id: first.id, deliveries: 1 });
    for (let i = 0; i < 3; i++) await h.send();
    const seqs = (await h.r.received()).map((r) => Number(r.headers["x-broxiai-sequence"]));
    expect(seqs).toHaveLength(4);
    expect(seqs.map((s) => s - seqs[0])).toEqual([0, 1, 2, 3]);
  });

  test("the payload is the base webhook structure", async () => {
    const h = await hook();
    const ev = await h.send(completed(7));
    const [req] = await h.r.received();
    const body = JSON.parse(req.body);
    expect(Object.keys(body).sort()).toEqual(["account_id", "data", "id", "timestamp", "type"]);
    expect(body).toMatchObject({ id: ev.id, type: "workflow.completed", account_id: h.accountId, data: completed(7) });
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
  });
});

describe("secret rotation", () => {
  test("during the grace period both secrets verify, the new one first; afterwards only the new one", async () => {
    const h = await hook();
    const oldSecret: string = h.wh.secret;
    const rotated = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/rotate-secret`, { token: h.key }), 200);
    const newSecret: string = rotated.secret;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);

    await h.send();
    const [during] = await h.r.received();
    const entries = during.headers["webhook-signature"].split(" ");
    expect(entries).toHaveLength(2);
    const { "webhook-id": id, "webhook-timestamp": ts } = headersOf(during);
    expect(entries[0]).toBe(`v1,${await hmac(newSecret, id, ts, during.body)}`);
    expect(entries[1]).toBe(`v1,${await hmac(oldSecret, id, ts, during.body)}`);
    for (const secret of [oldSecret, newSecret]) {
      expect(() => new StandardWebhook(secret).verify(during.body, headersOf(during))).not.toThrow();
      expect(() => new SvixWebhook(secret).verify(during.body, headersOf(during))).not.toThrow();
    }

    // Still both a little before the grace period (24 h) ends; once it has, only the new key signs. (The queue's clock
    // has moved a day ahead, so the signatures are checked by hand: the libraries judge timestamps by the real clock.)
    testClock.advance(23.9 * 3_600_000);
    await h.send();
    const late = (await h.r.received())[1];
    expect(late.headers["webhook-signature"].split(" ")).toHaveLength(2);
    testClock.advance(0.2 * 3_600_000);
    await h.send();
    const after = (await h.r.received())[2];
    const [only, ...rest] = after.headers["webhook-signature"].split(" ");
    expect(rest).toEqual([]);
    expect(only).toBe(`v1,${await hmac(newSecret, after.headers["webhook-id"], after.headers["webhook-timestamp"], after.body)}`);
  });

  test("rotation with grace_period_s 0 signs with the new secret alone, retries of earlier deliveries included", async () => {
    const h = await hook({}, { answers: [{ status: 500 }], otherwise: { status: 200 } });
    await h.send();
    const rotated = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/rotate-secret`, { token: h.key, body: { grace_period_s: 0 } }), 200);
    await runDue(h);
    const [first, retry] = await h.r.received();
    expect(() => new StandardWebhook(h.wh.secret).verify(first.body, headersOf(first))).not.toThrow();
    expect(retry.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(retry.headers["webhook-signature"].split(" ")).toHaveLength(1);
    expect(() => new StandardWebhook(rotated.secret).verify(retry.body, headersOf(retry))).not.toThrow();
    expect(() => new StandardWebhook(h.wh.secret).verify(retry.body, headersOf(retry))).toThrow();
  });

  test("a secret of the customer's choosing is used as given", async () => {
    const secret = `whsec_${b64(crypto.getRandomValues(new Uint8Array(32)))}`;
    const h = await hook({ secret });
    expect(h.wh.secret).toBe(secret);
    await h.send();
    const [req] = await h.r.received();
    expect(() => new StandardWebhook(secret).verify(req.body, headersOf(req))).not.toThrow();
  });
});

describe("ed25519 webhooks", () => {
  async function verifyV1a(publicKey: string, req: { headers: Record<string, string>; body: string }) {
    const key = await crypto.subtle.importKey("raw", unb64(publicKey.slice("whpk_".length)), { name: "Ed25519" }, false, ["verify"]);
    const content = new TextEncoder().encode(`${req.headers["webhook-id"]}.${req.headers["webhook-timestamp"]}.${req.body}`);
    const results = [];
    for (const entry of req.headers["webhook-signature"].split(" ")) {
      const [version, sig] = entry.split(",");
      results.push(version === "v1a" && (await crypto.subtle.verify("Ed25519", key, unb64(sig), content)));
    }
    return results;
  }

  test("signed v1a, verifiable with the public key from create, and nothing that an HMAC verifier accepts", async () => {
    const h = await hook({ signing: "ed25519" });
    expect(h.wh.secret).toBeUndefined();
    expect(h.wh.public_key).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
    await h.send();
    const [req] = await h.r.received();
    expect(req.headers["webhook-signature"]).toMatch(/^v1a,[A-Za-z0-9+/]{86}==$/);
    expect(await verifyV1a(h.wh.public_key, req)).toEqual([true]);
    // A different body does not verify.
    expect(await verifyV1a(h.wh.public_key, { ...req, body: `${req.body} ` })).toEqual([false]);
  });

  test("rotation to a new key pair signs with both until the grace period ends, the new one first", async () => {
    const h = await hook({ signing: "ed25519" });
    const rotated = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/rotate-secret`, { token: h.key }), 200);
    expect(rotated.public_key).toMatch(/^whpk_/);
    expect(rotated.public_key).not.toBe(h.wh.public_key);
    await h.send();
    const [req] = await h.r.received();
    expect(await verifyV1a(rotated.public_key, req)).toEqual([true, false]);
    expect(await verifyV1a(h.wh.public_key, req)).toEqual([false, true]);
  });
});

describe("POST /v1/webhooks/{id}/test", () => {
  test("sends now, answers what the receiver said, and logs it as a delivery", async () => {
    const h = await hook({}, { otherwise: { status: 201, body: "thanks" } });
    const res = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    expect(res).toMatchObject({ ok: true, status_code: 201, response_body: "thanks", error: null });
    expect(res.duration_ms).toBeGreaterThanOrEqual(0);
    const [req] = await h.r.received();
    expect(req.headers["x-broxiai-event"]).toBe("webhook.test");
    expect(JSON.parse(req.body).type).toBe("webhook.test");
    expect(() => new StandardWebhook(h.wh.secret).verify(req.body, headersOf(req))).not.toThrow();
    const logged = await expectJson(call("GET", `/v1/deliveries/${res.delivery_id}`, { token: h.key }), 200);
    expect(logged).toMatchObject({ status: "delivered", event_type: "webhook.test", attempt_count: 1, last_status_code: 201 });
    expect(logged.attempts).toHaveLength(1);
    expect(logged.attempts[0]).toMatchObject({ number: 1, status_code: 201, response_body: "thanks", request_body: req.body });
  });

  test("a failing receiver gives ok false with its status; a sample of another type can be asked for", async () => {
    const h = await hook({ active: false }, { otherwise: { status: 500, body: "boom" } });
    const res = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key, body: { type: "user.message.received" } }), 200);
    expect(res).toMatchObject({ ok: false, status_code: 500, response_body: "boom" });
    const [req] = await h.r.received();
    expect(req.headers["x-broxiai-event"]).toBe("user.message.received");
    const logged = await expectJson(call("GET", `/v1/deliveries/${res.delivery_id}`, { token: h.key }), 200);
    expect(logged).toMatchObject({ status: "failed", last_status_code: 500 });
  });
});
