import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { newId } from "../ids";
import { KEY_ID_HEADER, RELAY_ID, RELAY_IDLE_EXPIRY_MS, type RelayState, relayUrl } from "../relay/contract";
import { relayOf } from "../relay/stub";
import { deleteWebhook } from "../webhooks/delete";
import { getWebhookRow } from "../webhooks/store";
import type { AppEnv } from "./app-env";
import { iso } from "./delivery-rows";
import { bearer, errors, json, ProblemSchema } from "./openapi";
import { accountOf, keyIdOf } from "./principal";
import { notFound, ProblemError, validationProblem } from "./problem";
import { insertWebhook } from "./webhooks";

/**
 * Relays (README, "Develop from a laptop (relay)"): a relay is a session that `npm run listen` holds open over a
 * WebSocket, plus a webhook of the account whose URL is relay://rly_…. The webhook is an ordinary one (its events,
 * filter, retries, ordering and log are the webhook routes'); only its sends go down the socket.
 */
export const relays = new OpenAPIHono<AppEnv>();

const RelayParam = z.object({
  relay_id: z
    .string()
    .regex(RELAY_ID, "a relay id: rly_ then 26 characters")
    .openapi({ param: { name: "relay_id", in: "path" }, example: "rly_01JD3S4K2M0000000000000000" }),
});

const RelaySchema = z
  .object({
    id: z.string(),
    webhook_id: z.string().openapi({ description: "The webhook whose destination is this relay: change its events, filter or retries like any webhook's" }),
    url: z.string().openapi({ description: "The webhook's URL, relay://{id}" }),
    connected: z.boolean(),
    created_at: z.string(),
    last_connected_at: z.string().nullable(),
    expires_at: z.string().nullable().openapi({ description: "When the relay is deleted (with its webhook) unless a CLI connects; null while one is" }),
  })
  .openapi("Relay");

const RelayCreated = RelaySchema.extend({ secret: z.string().openapi({ description: "The webhook's signing secret (whsec_…), shown only now" }) }).openapi(
  "RelayCreated",
);

const RelayCreate = z
  .object({
    events: z
      .array(z.string().max(100))
      .min(1)
      .max(50)
      .optional()
      .openapi({ description: 'Event types the webhook subscribes to (default ["*"])', example: ["workflow.*"] }),
    description: z.string().max(500).optional(),
  })
  .strict()
  .openapi("RelayCreate");

function answer(s: RelayState) {
  return {
    id: s.relay_id,
    webhook_id: s.webhook_id,
    url: relayUrl(s.relay_id),
    connected: s.connected,
    created_at: iso(s.created_at)!,
    last_connected_at: iso(s.last_connected_at),
    expires_at: iso(s.expires_at),
  };
}

/** One of the caller's relays, or 404 (also for another account's id). */
async function loadRelay(c: Context<AppEnv>, id: string): Promise<RelayState> {
  const state = await relayOf(c.env, id).state();
  if (!state || state.account_id !== accountOf(c)) throw notFound("relay", id);
  return state;
}

relays.openapi(
  createRoute({
    method: "post",
    path: "/v1/relays",
    tags: ["Relays"],
    summary: "Create a relay (for `npm run listen`)",
    description: `Makes a relay session and a webhook whose destination is it; answers the webhook's signing \`secret\`, the only time it is shown. Connect with GET /v1/relays/{relay_id}/connect. A relay nobody is connected to for ${RELAY_IDLE_EXPIRY_MS / 3_600_000} h is deleted with its webhook.`,
    security: bearer,
    request: { body: { required: false, ...json(RelayCreate) } },
    responses: { 201: json(RelayCreated, "The relay, with its webhook's secret"), ...errors },
  }),
  async (c) => {
    const parsed = RelayCreate.safeParse((await c.req.json().catch(() => ({}))) ?? {});
    if (!parsed.success) throw validationProblem(parsed.error.issues);
    const input = parsed.data;
    const now = Date.now();
    const id = newId("rly", now);
    const webhookId = newId("wh", now);
    const session = relayOf(c.env, id);
    // The session first, so that its webhook never names a relay that does not exist.
    await session.init({ relay_id: id, account_id: accountOf(c), webhook_id: webhookId, created_at: now });
    let shown: { secret?: string };
    try {
      ({ shown } = await insertWebhook(
        c,
        { url: relayUrl(id), events: input.events ?? ["*"], description: input.description ?? `npm run listen (relay ${id})` },
        webhookId,
      ));
    } catch (err) {
      await session.destroy();
      throw err;
    }
    const state = await session.state();
    return c.json({ ...answer(state!), secret: shown.secret! }, 201);
  },
);

relays.openapi(
  createRoute({
    method: "get",
    path: "/v1/relays/{relay_id}",
    tags: ["Relays"],
    summary: "Read a relay: is a CLI connected, when does it expire",
    security: bearer,
    request: { params: RelayParam },
    responses: { 200: json(RelaySchema, "The relay"), 401: errors[401], 403: errors[403], 404: errors[404] },
  }),
  async (c) => c.json(answer(await loadRelay(c, c.req.valid("param").relay_id)), 200),
);

relays.openapi(
  createRoute({
    method: "delete",
    path: "/v1/relays/{relay_id}",
    tags: ["Relays"],
    summary: "Delete a relay and its webhook; the CLI is disconnected and pending deliveries are cancelled",
    security: bearer,
    request: { params: RelayParam },
    responses: { 204: { description: "Deleted" }, 401: errors[401], 403: errors[403], 404: errors[404] },
  }),
  async (c) => {
    const state = await loadRelay(c, c.req.valid("param").relay_id);
    const row = await getWebhookRow(c.env.DB, state.account_id, state.webhook_id);
    // The webhook first: a DELETE that fails after it is retried and still finds the relay.
    if (row) await deleteWebhook(c.env, row, Date.now());
    await relayOf(c.env, state.relay_id).destroy();
    return c.body(null, 204);
  },
);

relays.openapi(
  createRoute({
    method: "get",
    path: "/v1/relays/{relay_id}/connect",
    tags: ["Relays"],
    summary: "Connect to a relay (WebSocket)",
    description:
      'A WebSocket upgrade, authenticated like every route (bearer key, its IP allowlist). The service sends `{"type":"request","id","method","headers","body"}` frames, each a delivery signed as on the wire; the client answers `{"type":"response","id","status","headers","body","duration_ms"}` (or `{"type":"response","id","error","duration_ms"}`), which becomes the attempt\'s outcome. Text `ping` is answered `pong`. A newer connection replaces an older one (close code 4001); revoking the API key a connection was opened with closes it with 4003; a deleted or expired relay closes with 4004.',
    security: bearer,
    request: { params: RelayParam },
    responses: {
      101: { description: "Switching to the WebSocket protocol" },
      401: errors[401],
      403: errors[403],
      404: errors[404],
      426: { description: "Not a WebSocket upgrade", content: { "application/problem+json": { schema: ProblemSchema } } },
    },
  }),
  async (c) => {
    const state = await loadRelay(c, c.req.valid("param").relay_id);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ProblemError(426, "Connect with a WebSocket (`Upgrade: websocket`), as `npm run listen -- --forward-to …` does.", {}, { upgrade: "websocket" });
    }
    // The session tags the socket with the key that opened it, so that revoking the key closes it. The route sets the
    // header itself, over anything the caller sent under that name.
    const headers = new Headers(c.req.raw.headers);
    headers.set(KEY_ID_HEADER, keyIdOf(c));
    const upgraded = await relayOf(c.env, state.relay_id).fetch(new Request(c.req.raw.url, { method: "GET", headers }));
    // A new Response: the stub's headers are immutable, and the edge middleware adds its own on the way out.
    return new Response(upgraded.body, { status: upgraded.status, headers: upgraded.headers, webSocket: upgraded.webSocket });
  },
);
