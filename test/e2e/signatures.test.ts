import { createPublicKey, verify } from "node:crypto";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { WebhookWithSecret } from "../../client/index.js";
import { type DevServer, startDevServer } from "../support/dev-server";
import { apiOf, completedData, createWebhook, expectAnswer, newAccount, waitFor } from "../support/e2e-kit";
import { type Hit, Sink } from "../support/sink";

// Real deliveries from `wrangler dev`, checked the way receivers check them: with the standardwebhooks and svix
// libraries for HMAC (`v1`), and with nothing but the public key and Node's crypto for Ed25519 (`v1a`).

let server: DevServer;
let sink: Sink;
let account: { id: string; key: string };

beforeAll(async () => {
  [server, sink] = await Promise.all([startDevServer(), Sink.start()]);
  account = await newAccount(server, "Signatures");
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  await sink?.down();
});

let eventNo = 0;
/** Sends one event to the account and answers the request that reached `path`. */
async function deliverOne(path: string): Promise<Hit> {
  const before = sink.received(path).length;
  const id = `evt_sig_${Date.now()}_${eventNo++}`;
  await expectAnswer(apiOf(server).POST("/v1/events", { body: { id, type: "workflow.completed", account_id: account.id, data: completedData(eventNo) } }), 202);
  const arrived = await waitFor(() => sink.received(path).length > before, 20_000, 50);
  expect(arrived, `a delivery to ${path}`).toBe(true);
  const hit = sink.received(path)[before];
  expect(hit.id).toBe(id);
  return hit;
}

/** The headers as a receiver's framework hands them over (plain strings). */
function headersOf(hit: Hit): Record<string, string> {
  return Object.fromEntries(Object.entries(hit.headers).map(([k, v]) => [k, String(v)]));
}

function verifiesWithBothLibraries(secret: string, body: string, headers: Record<string, string>): boolean {
  let ok = true;
  try {
    new StandardWebhook(secret).verify(body, headers);
  } catch {
    ok = false;
  }
  try {
    new SvixWebhook(secret).verify(body, headers);
  } catch {
    ok = false;
  }
  return ok;
}

const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Verifies a `webhook-signature` header with only a `whpk_` public key: true when any v1a entry matches. */
function verifiesWithPublicKey(publicKey: string, id: string, timestamp: string, body: string, header: string): boolean {
  const raw = Buffer.from(publicKey.slice("whpk_".length), "base64");
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
  const content = Buffer.from(`${id}.${timestamp}.${body}`);
  return header
    .split(" ")
    .filter((entry) => entry.startsWith("v1a,"))
    .some((entry) => verify(null, content, key, Buffer.from(entry.slice(4), "base64")));
}

describe("HMAC (v1)", () => {
  let webhook: WebhookWithSecret;
  let firstSecret: string;

  test("a real delivery verifies with the standardwebhooks and svix libraries", async () => {
    webhook = await createWebhook(server, account.key, { url: sink.path("hmac"), events: ["workflow.*"] });
    firstSecret = webhook.secret!;
    expect(firstSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const hit = await deliverOne("hmac");
    const headers = headersOf(hit);

    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(headers["content-type"]).toBe("application/json");
    expect(headers["user-agent"]).toMatch(/^BroxiAI-Webhooks\//);
    expect(headers["x-broxiai-event"]).toBe("workflow.completed");
    expect(headers["x-broxiai-attempt"]).toBe("1");
    expect(headers["x-broxiai-delivery"]).toMatch(/^dlv_/);

    const payload = new StandardWebhook(firstSecret).verify(hit.body, headers) as any;
    expect(payload).toMatchObject({ id: hit.id, type: "workflow.completed", account_id: account.id });
    expect(() => new SvixWebhook(firstSecret).verify(hit.body, headers)).not.toThrow();
  });

  test("a tampered body, timestamp or id fails, and so does another secret", async () => {
    const hit = sink.received("hmac")[0];
    const headers = headersOf(hit);
    expect(verifiesWithBothLibraries(firstSecret, hit.body.replace('"workflow.completed"', '"workflow.failed"'), headers)).toBe(false);
    expect(verifiesWithBothLibraries(firstSecret, `${hit.body} `, headers)).toBe(false);
    expect(verifiesWithBothLibraries(firstSecret, hit.body, { ...headers, "webhook-timestamp": String(Number(headers["webhook-timestamp"]) - 1) })).toBe(false);
    expect(verifiesWithBothLibraries(firstSecret, hit.body, { ...headers, "webhook-id": `${headers["webhook-id"]}x` })).toBe(false);
    expect(verifiesWithBothLibraries(`whsec_${Buffer.alloc(32, 1).toString("base64")}`, hit.body, headers)).toBe(false);
  });

  test("replay protection: the libraries refuse a correctly signed message whose timestamp is over 5 minutes old", async () => {
    const hit = sink.received("hmac")[0];
    const lib = new StandardWebhook(firstSecret);
    const replayAt = (secondsAgo: number) => {
      const at = new Date(Date.now() - secondsAgo * 1000);
      const timestamp = String(Math.floor(at.getTime() / 1000));
      return { "webhook-id": hit.id, "webhook-timestamp": timestamp, "webhook-signature": lib.sign(hit.id, at, hit.body) };
    };
    expect(verifiesWithBothLibraries(firstSecret, hit.body, replayAt(4 * 60))).toBe(true);
    expect(verifiesWithBothLibraries(firstSecret, hit.body, replayAt(6 * 60))).toBe(false);
    expect(verifiesWithBothLibraries(firstSecret, hit.body, replayAt(-6 * 60))).toBe(false);
  });

  test("after rotate-secret a delivery carries both signatures, new first, and each secret verifies it", async () => {
    const api = apiOf(server, account.key);
    const rotated = await expectAnswer(api.POST("/v1/webhooks/{webhook_id}/rotate-secret", { params: { path: { webhook_id: webhook.id } }, body: {} }), 200);
    const newSecret = rotated.secret!;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(firstSecret);

    const hit = await deliverOne("hmac");
    const headers = headersOf(hit);
    const entries = headers["webhook-signature"].split(" ");
    expect(entries).toHaveLength(2);
    expect(entries.every((e) => e.startsWith("v1,"))).toBe(true);
    expect(entries[0]).toBe(new StandardWebhook(newSecret).sign(hit.id, new Date(Number(headers["webhook-timestamp"]) * 1000), hit.body));
    expect(verifiesWithBothLibraries(newSecret, hit.body, headers)).toBe(true);
    expect(verifiesWithBothLibraries(firstSecret, hit.body, headers)).toBe(true);
    expect(verifiesWithBothLibraries(newSecret, hit.body.replace("exe_", "exe-"), headers)).toBe(false);

    const read = await expectAnswer(api.GET("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: webhook.id } } }), 200);
    expect((read as { secret?: string }).secret).toBeUndefined();
  });
});

describe("Ed25519 (v1a)", () => {
  test("a real delivery verifies with only the public key; a tampered body or timestamp fails", async () => {
    const webhook = await createWebhook(server, account.key, { url: sink.path("ed25519"), events: ["workflow.completed"], signing: "ed25519" });
    expect(webhook.secret).toBeUndefined();
    expect(webhook.public_key).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
    const publicKey = webhook.public_key!;
    expect(Buffer.from(publicKey.slice(5), "base64")).toHaveLength(32);
    const api = apiOf(server, account.key);
    const read = await expectAnswer(api.GET("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: webhook.id } } }), 200);
    expect(read.public_key).toBe(webhook.public_key);

    const hit = await deliverOne("ed25519");
    const h = headersOf(hit);
    expect(h["webhook-signature"]).toMatch(/^v1a,[A-Za-z0-9+/]{86}==$/);
    const ts = h["webhook-timestamp"];
    expect(verifiesWithPublicKey(publicKey, hit.id, ts, hit.body, h["webhook-signature"])).toBe(true);
    expect(JSON.parse(hit.body)).toMatchObject({ id: hit.id, type: "workflow.completed", account_id: account.id });

    expect(verifiesWithPublicKey(publicKey, hit.id, ts, hit.body.replace('"n":', '"m":'), h["webhook-signature"])).toBe(false);
    expect(verifiesWithPublicKey(publicKey, hit.id, String(Number(ts) + 1), hit.body, h["webhook-signature"])).toBe(false);
    expect(verifiesWithPublicKey(publicKey, `${hit.id}x`, ts, hit.body, h["webhook-signature"])).toBe(false);
    // An HMAC library cannot be fooled into accepting an asymmetric signature.
    expect(verifiesWithBothLibraries(`whsec_${Buffer.alloc(32, 1).toString("base64")}`, hit.body, h)).toBe(false);

    const rotated = await expectAnswer(api.POST("/v1/webhooks/{webhook_id}/rotate-secret", { params: { path: { webhook_id: webhook.id } }, body: {} }), 200);
    expect(rotated.secret).toBeUndefined();
    expect(rotated.public_key).toMatch(/^whpk_/);
    expect(rotated.public_key).not.toBe(webhook.public_key);
    const next = await deliverOne("ed25519");
    const nh = headersOf(next);
    expect(nh["webhook-signature"].split(" ")).toHaveLength(2);
    for (const key of [rotated.public_key!, publicKey]) {
      expect(verifiesWithPublicKey(key, next.id, nh["webhook-timestamp"], next.body, nh["webhook-signature"])).toBe(true);
    }
    const [newest] = nh["webhook-signature"].split(" ");
    expect(verifiesWithPublicKey(rotated.public_key!, next.id, nh["webhook-timestamp"], next.body, newest)).toBe(true);
  });
});
