import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import type { Env } from "../config";
import { queueOf } from "../delivery/queue-stub";
import { deleteWebhook } from "../webhooks/delete";
import { getWebhookRow } from "../webhooks/store";
import {
  KEY_ID_HEADER,
  PING,
  PONG,
  RELAY_IDLE_EXPIRY_MS,
  type RelayAnswer,
  type RelayInfo,
  type RelayRequest,
  type RelayRpc,
  type RelayState,
  type RequestFrame,
} from "./contract";

/** What the session keeps in its storage besides who it is. */
interface Times {
  last_connected_at: number | null;
  /** Since when no CLI is connected (ms), or null while one is. */
  idle_since: number | null;
}

const ResponseFrameSchema = z.union([
  z.object({
    type: z.literal("response"),
    id: z.string(),
    status: z.number().int().min(100).max(599),
    headers: z.record(z.string(), z.string()),
    body: z.string(),
    duration_ms: z.number().min(0),
  }),
  z.object({ type: z.literal("response"), id: z.string(), error: z.string().max(500), timed_out: z.boolean().optional(), duration_ms: z.number().min(0) }),
]);

/** A socket closed with this code tells the CLI not to reconnect: the relay is gone. */
export const CLOSE_GONE = 4004;
/** …and with this one, that a newer connection to the same relay took over. */
export const CLOSE_REPLACED = 4001;
/** …and with this one, that the API key it connected with was revoked: a revoked key receives nothing more. */
export const CLOSE_REVOKED = 4003;

/**
 * One relay session (README, "Develop from a laptop (relay)"): the WebSocket of one `npm run listen`, held with the
 * hibernation API so that an idle connection costs no running object. The webhook's queue stays the only sender: it
 * calls `send()` where it would fetch, and the session passes the signed request down the socket and answers what
 * the CLI says the local receiver answered. One socket at a time; a newer connection replaces the older.
 *
 * Expiry: the alarm is always set while the session exists. It finds a CLI connected (and looks again a day later),
 * or idle for RELAY_IDLE_EXPIRY_MS (and deletes the session and its webhook), or idle for less (and waits the rest).
 */
export class RelaySession extends DurableObject<Env> implements RelayRpc {
  /** The session's clock; the workerd tests drive their own (test/support/worker.ts). */
  static now: () => number = Date.now;

  /** Requests waiting for the CLI's answer, by frame id: only while a send() is running, so never across hibernation. */
  readonly #waiting = new Map<string, { ws: WebSocket; settle: (a: RelayAnswer) => void }>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // The keep-alive is answered by the runtime itself, without waking a hibernating session.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  #now(): number {
    return (this.constructor as typeof RelaySession).now();
  }

  async init(info: RelayInfo): Promise<void> {
    if (await this.ctx.storage.get("info")) return;
    await this.ctx.storage.put({ info, times: { last_connected_at: null, idle_since: info.created_at } satisfies Times });
    await this.ctx.storage.setAlarm(info.created_at + RELAY_IDLE_EXPIRY_MS);
  }

  async state(): Promise<RelayState | null> {
    const info = await this.ctx.storage.get<RelayInfo>("info");
    if (!info) return null;
    const times = (await this.ctx.storage.get<Times>("times")) ?? { last_connected_at: null, idle_since: info.created_at };
    const connected = this.ctx.getWebSockets().length > 0;
    return {
      ...info,
      connected,
      last_connected_at: times.last_connected_at,
      expires_at: connected || times.idle_since === null ? null : times.idle_since + RELAY_IDLE_EXPIRY_MS,
    };
  }

  /** The WebSocket upgrade, forwarded by GET /v1/relays/{id}/connect once it has checked the key and its account. */
  override async fetch(request: Request): Promise<Response> {
    const info = await this.ctx.storage.get<RelayInfo>("info");
    if (!info) return new Response("no such relay", { status: 404 });
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const { 0: client, 1: server } = new WebSocketPair();
    for (const old of this.ctx.getWebSockets()) closeQuietly(old, CLOSE_REPLACED, "a newer connection to this relay took over");
    // Tagged with the key that opened it, so that revoking that key closes it (keyRevoked).
    const keyId = request.headers.get(KEY_ID_HEADER);
    this.ctx.acceptWebSocket(server, keyId ? [keyId] : []);
    await this.ctx.storage.put("times", { last_connected_at: this.#now(), idle_since: null } satisfies Times);
    // What waited while nobody was connected goes out now, in order, instead of at its next backoff. The queue only
    // marks it due and starts a run in its own invocation, so the upgrade waits for one short RPC.
    await queueOf(this.env, info.webhook_id)
      .retryNow()
      .catch((err) => console.error("relay could not wake its queue", info.relay_id, err instanceof Error ? err.message : String(err)));
    return new Response(null, { status: 101, webSocket: client });
  }

  async send(accountId: string, req: RelayRequest): Promise<RelayAnswer> {
    const info = await this.ctx.storage.get<RelayInfo>("info");
    // A relay answers only its own account's webhooks: a relay:// URL of another account's session sends nothing.
    if (!info || info.account_id !== accountId)
      return { error: "relay refused: no relay with this id in the webhook's account; nothing was sent", duration_ms: 0 };
    const ws = this.ctx.getWebSockets().at(-1);
    if (!ws) return { error: "relay not connected: no `npm run listen` is connected to this relay; the delivery waits and is retried", duration_ms: 0 };
    const id = crypto.randomUUID();
    const frame: RequestFrame = { type: "request", id, method: "POST", headers: req.headers, body: req.body };
    const startedAt = Date.now();
    return new Promise<RelayAnswer>((resolve) => {
      const timer = setTimeout(
        () => settle({ error: `timed out after ${req.timeoutMs} ms (relay)`, timed_out: true, duration_ms: Date.now() - startedAt }),
        req.timeoutMs,
      );
      const settle = (answer: RelayAnswer) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(answer);
      };
      this.#waiting.set(id, { ws, settle });
      try {
        ws.send(JSON.stringify(frame));
      } catch (err) {
        // A closing socket, or a frame over the runtime's 1 MiB message limit (a large batch).
        settle({ error: `relay could not pass the request on: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500), duration_ms: 0 });
      }
    });
  }

  override async webSocketMessage(_ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== "string") return;
    let parsed: z.infer<typeof ResponseFrameSchema>;
    try {
      parsed = ResponseFrameSchema.parse(JSON.parse(message));
    } catch {
      return; // Not an answer we asked for; the request it meant times out.
    }
    const { type: _type, id, ...answer } = parsed;
    this.#waiting.get(id)?.settle(answer);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.#closed(ws);
    closeQuietly(ws, code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#closed(ws);
  }

  /** A socket went: what it was asked fails now, and with no socket left the expiry clock starts. */
  async #closed(ws: WebSocket): Promise<void> {
    for (const w of [...this.#waiting.values()]) if (w.ws === ws) w.settle({ error: "relay disconnected before the local receiver answered", duration_ms: 0 });
    if (this.ctx.getWebSockets().some((other) => other !== ws && other.readyState === WebSocket.OPEN)) return;
    const times = await this.ctx.storage.get<Times>("times");
    if (!times) return;
    const now = this.#now();
    await this.ctx.storage.put("times", { ...times, idle_since: now } satisfies Times);
    await this.ctx.storage.setAlarm(now + RELAY_IDLE_EXPIRY_MS);
  }

  override async alarm(): Promise<void> {
    const info = await this.ctx.storage.get<RelayInfo>("info");
    if (!info) return;
    const times = await this.ctx.storage.get<Times>("times");
    const now = this.#now();
    if (this.ctx.getWebSockets().length > 0 || !times || times.idle_since === null) {
      await this.ctx.storage.setAlarm(now + RELAY_IDLE_EXPIRY_MS);
      return;
    }
    const due = times.idle_since + RELAY_IDLE_EXPIRY_MS;
    if (now < due) {
      await this.ctx.storage.setAlarm(due);
      return;
    }
    // Expired: its webhook goes as a DELETE would take it (its pending deliveries cancelled), then the session.
    const row = await getWebhookRow(this.env.DB, info.account_id, info.webhook_id);
    if (row) await deleteWebhook(this.env, row, Date.now());
    await this.destroy();
  }

  async keyRevoked(keyId: string): Promise<number> {
    const sockets = this.ctx.getWebSockets(keyId);
    for (const ws of sockets) {
      closeQuietly(ws, CLOSE_REVOKED, "the API key this connection was opened with was revoked");
      await this.#closed(ws);
    }
    return sockets.length;
  }

  async destroy(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, CLOSE_GONE, "this relay was deleted or has expired");
    for (const w of [...this.#waiting.values()]) w.settle({ error: "relay deleted", duration_ms: 0 });
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}
