import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { RequestFrame } from "../../src/relay/contract";
import { call, expectJson, newAccount } from "./api";
import type { Hook } from "./delivery";

// How the workerd tests play `npm run listen`: a real WebSocket to GET /v1/relays/{id}/connect, answering each
// request frame with what a script says the local receiver answered.

/** What the scripted CLI answers a request with: a local status (and body), an error, or nothing at all. */
export type LocalAnswer = { status: number; body?: string; headers?: Record<string, string> } | { error: string } | "silent";

/** A new account with a relay; `hook` is the relay's webhook, shaped as test/support/delivery.ts drives one. */
export async function relayHook(events: string[] = ["*"]) {
  const { accountId, key } = await newAccount();
  const relay = await expectJson(call("POST", "/v1/relays", { token: key, body: { events } }), 201);
  const wh = await expectJson(call("GET", `/v1/webhooks/${relay.webhook_id}`, { token: key }), 200);
  const stub = env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(relay.webhook_id));
  const session = env.RELAY_SESSION.get(env.RELAY_SESSION.idFromName(relay.id));
  const h = { accountId, key, wh, stub } as Pick<Hook, "accountId" | "key" | "wh" | "stub">;
  return { accountId, key, relay, hook: h, session };
}

/** The upgrade request of a relay's connect route, as the CLI sends it. */
export function connectRequest(relayId: string, key: string, headers: Record<string, string> = {}) {
  return SELF.fetch(`https://webhooks.test/v1/relays/${relayId}/connect`, { headers: { upgrade: "websocket", authorization: `Bearer ${key}`, ...headers } });
}

/**
 * Connects as the CLI would and answers each request frame with the next of `answers` (then `otherwise`). Keeps
 * every frame received and the close it saw.
 */
export async function connect(relayId: string, key: string, answers: LocalAnswer[] = [], otherwise: LocalAnswer = { status: 200, body: "ok" }) {
  const res = await connectRequest(relayId, key);
  if (res.status !== 101 || !res.webSocket) throw new Error(`expected 101, got ${res.status}: ${await res.text()}`);
  const ws = res.webSocket;
  ws.accept();
  const frames: RequestFrame[] = [];
  const closed: { code: number; reason: string }[] = [];
  const script = [...answers];
  ws.addEventListener("message", (e) => {
    if (typeof e.data !== "string" || e.data === "pong") return;
    const frame = JSON.parse(e.data) as RequestFrame;
    frames.push(frame);
    const a = script.shift() ?? otherwise;
    if (a === "silent") return;
    const reply =
      "error" in a
        ? { error: a.error, duration_ms: 1 }
        : { status: a.status, headers: a.headers ?? { "content-type": "text/plain" }, body: a.body ?? "", duration_ms: 3 };
    ws.send(JSON.stringify({ type: "response", id: frame.id, ...reply }));
  });
  ws.addEventListener("close", (e) => {
    closed.push({ code: e.code, reason: e.reason });
  });
  return {
    ws,
    frames,
    closed,
    /** Closes from the CLI's side and waits a moment for the session to hear it. */
    async close() {
      ws.close(1000, "bye");
      await new Promise((r) => setTimeout(r, 50));
    },
  };
}

/** Event ids in the order the CLI received them (a batch's frames carry several, none here). */
export function eventIdsOf(frames: RequestFrame[]): string[] {
  return frames.map((f) => JSON.parse(f.body).id as string);
}
