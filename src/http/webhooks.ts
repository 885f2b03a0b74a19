import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { config } from "../config";
import type { QueueItem, TestResult } from "../delivery/contract";
import { closedStatement, pendingStatement, prepared } from "../delivery/log";
import { queueOf } from "../delivery/queue-stub";
import { catalog, EVENT_TYPES } from "../events/catalog";
import { newId } from "../ids";
import { type Payload, payloadFor } from "../ingest";
import { encryptSecret, generateEd25519Key, generateHmacSecret } from "../signing";
import { WebhookCheckSchema, WebhookCreateSchema, WebhookSchema, type WebhookSettings, WebhookUpdateSchema, withDefaults } from "../webhooks/model";
import { getWebhookRow, type SealedKey, saveWebhookStatement, settingsColumns, toQueueConfig, toWebhook, type WebhookRow } from "../webhooks/store";
import { destinationError } from "../webhooks/url-safety";
import type { AppEnv } from "./app-env";
import { bearer, errors, IdParam, json, PageQuery, page } from "./openapi";
import { pageOf } from "./pagination";
import { accountOf } from "./principal";
import { invalid, notFound, ProblemError, validationProblem } from "./problem";

/** Webhooks: create, list, read, change, delete, rotate, test. */
export const webhooks = new OpenAPIHono<AppEnv>();

const WebhookParam = IdParam("webhook_id", "wh_01JD3S4K2M0000000000000000");
const WithSecret = WebhookSchema.extend({ secret: z.string().optional(), public_key: z.string().nullable().optional() }).openapi("WebhookWithSecret");

/** Loads one of the caller's webhooks or answers 404 (also for another account's id). */
export async function loadWebhook(c: Context<AppEnv>, id: string): Promise<WebhookRow> {
  const row = await getWebhookRow(c.env.DB, accountOf(c), id);
  if (!row) throw notFound("webhook", id);
  return row;
}

function checkUrl(c: Context<AppEnv>, url: string): void {
  const err = destinationError(url, { allowPrivate: config(c.env).ALLOW_PRIVATE_DESTINATIONS });
  if (err) throw invalid("url", err);
}

/** A fresh signing key of the scheme: what to store (sealed) and what to show the customer once. */
async function newSigningKey(
  c: Context<AppEnv>,
  scheme: "hmac" | "ed25519",
  given?: string,
): Promise<{ sealed: SealedKey; shown: { secret?: string; public_key?: string } }> {
  const key = config(c.env).ENCRYPTION_KEY;
  if (scheme === "ed25519") {
    const pair = await generateEd25519Key();
    return { sealed: { sealed: await encryptSecret(key, pair.privateKey), scheme, expires_at: null }, shown: { public_key: pair.publicKey } };
  }
  const secret = given ?? generateHmacSecret();
  return { sealed: { sealed: await encryptSecret(key, secret), scheme, expires_at: null }, shown: { secret } };
}

/** Saves the row, then tells the webhook's queue; the queue ignores a configuration older than the one it has. */
async function save(c: Context<AppEnv>, row: WebhookRow): Promise<void> {
  await saveWebhookStatement(c.env.DB, row).run();
  await queueOf(c.env, row.id).configure(toQueueConfig(row));
}

webhooks.openapi(
  createRoute({
    method: "post",
    path: "/v1/webhooks",
    tags: ["Webhooks"],
    summary: "Create a webhook",
    description: 'Answers the signing `secret` (or, for `signing: "ed25519"`, the `public_key`) — the only time the secret is shown.',
    security: bearer,
    request: { body: { required: true, ...json(WebhookCreateSchema) } },
    responses: { 201: json(WithSecret, "The webhook, with its secret"), ...errors },
  }),
  async (c) => {
    const input = c.req.valid("json");
    checkUrl(c, input.url);
    const settings = withDefaults(input);
    const signing = input.signing ?? "hmac";
    if (signing === "ed25519" && input.secret) throw invalid("secret", "an ed25519 webhook's key pair is generated; do not send a secret");
    const { sealed, shown } = await newSigningKey(c, signing, input.secret);
    const now = Date.now();
    const row: WebhookRow = {
      id: newId("wh", now),
      account_id: accountOf(c),
      ...settingsColumns(settings),
      disabled_reason: null,
      signing,
      public_key: shown.public_key ?? null,
      secrets: JSON.stringify([sealed]),
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    await save(c, row);
    return c.json({ ...toWebhook(row), ...shown }, 201);
  },
);

webhooks.openapi(
  createRoute({
    method: "get",
    path: "/v1/webhooks",
    tags: ["Webhooks"],
    summary: "List webhooks, newest first",
    security: bearer,
    request: { query: PageQuery },
    responses: { 200: json(page(WebhookSchema), "A page of webhooks"), 401: errors[401], 403: errors[403] },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const rows = await c.env.DB.prepare(
      "SELECT * FROM webhooks WHERE account_id = ?1 AND deleted_at IS NULL AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
    )
      .bind(accountOf(c), cursor ?? null, limit + 1)
      .all<WebhookRow>();
    return c.json(pageOf(rows.results.map(toWebhook), limit), 200);
  },
);

webhooks.openapi(
  createRoute({
    method: "get",
    path: "/v1/webhooks/{webhook_id}",
    tags: ["Webhooks"],
    summary: "Read a webhook (never its secret)",
    security: bearer,
    request: { params: WebhookParam },
    responses: { 200: json(WebhookSchema, "The webhook"), 401: errors[401], 404: errors[404] },
  }),
  async (c) => c.json(toWebhook(await loadWebhook(c, c.req.valid("param").webhook_id)), 200),
);

webhooks.openapi(
  createRoute({
    method: "patch",
    path: "/v1/webhooks/{webhook_id}",
    tags: ["Webhooks"],
    summary: "Change a webhook",
    description: "Changes apply from the next attempt, retries included. `active: true` re-enables a disabled webhook and releases its held deliveries.",
    security: bearer,
    request: { params: WebhookParam, body: { required: true, ...json(WebhookUpdateSchema) } },
    responses: { 200: json(WebhookSchema, "The webhook"), ...errors },
  }),
  async (c) => {
    const row = await loadWebhook(c, c.req.valid("param").webhook_id);
    const patch = c.req.valid("json");
    const current = { ...toWebhook(row) } as WebhookSettings;
    const merged: WebhookSettings = {
      ...current,
      ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
      retry: { ...current.retry, ...patch.retry },
    } as WebhookSettings;
    const checked = WebhookCheckSchema.safeParse(merged);
    if (!checked.success) {
      throw validationProblem(checked.error.issues);
    }
    if (patch.url !== undefined) checkUrl(c, patch.url);
    const now = Date.now();
    const reenabled = patch.active === true;
    const updated: WebhookRow = {
      ...row,
      ...settingsColumns(merged),
      disabled_reason: reenabled ? null : row.disabled_reason,
      updated_at: Math.max(now, row.updated_at + 1),
    };
    if (row.disabled_reason && !reenabled) updated.active = 0;
    await save(c, updated);
    return c.json(toWebhook(updated), 200);
  },
);

webhooks.openapi(
  createRoute({
    method: "delete",
    path: "/v1/webhooks/{webhook_id}",
    tags: ["Webhooks"],
    summary: "Delete a webhook; its pending deliveries are cancelled",
    security: bearer,
    request: { params: WebhookParam },
    responses: { 204: { description: "Deleted" }, 401: errors[401], 404: errors[404] },
  }),
  async (c) => {
    const row = await loadWebhook(c, c.req.valid("param").webhook_id);
    const now = Date.now();
    const deleted: WebhookRow = { ...row, deleted_at: now, active: 0, updated_at: Math.max(now, row.updated_at + 1) };
    // The queue lets go first: if D1 then fails, the customer's retry of the DELETE finishes the job, whereas a
    // queue never told would keep sending for a webhook that D1 (and so the sweeper) considers gone.
    await queueOf(c.env, row.id).configure(toQueueConfig(deleted));
    await c.env.DB.batch([
      saveWebhookStatement(c.env.DB, deleted),
      // `status <> 'delivered'` (implied) lets SQLite find them through the partial index deliveries_open.
      c.env.DB.prepare(
        "UPDATE deliveries INDEXED BY deliveries_open SET status = 'cancelled', next_attempt_at = NULL, updated_at = ? WHERE webhook_id = ? AND status = 'pending' AND status <> 'delivered'",
      ).bind(now, row.id),
    ]);
    return c.body(null, 204);
  },
);

const RotateBody = z
  .object({
    secret: z.string().optional().openapi({ description: "whsec_… to use your own (hmac only)" }),
    signing: z.enum(["hmac", "ed25519"]).optional().openapi({ description: "switch scheme; that is a rotation too" }),
    grace_period_s: z
      .number()
      .int()
      .min(0)
      .max(7 * 86400)
      .optional()
      .openapi({ description: "how long the previous key keeps signing (default SECRET_ROTATION_GRACE_HOURS)" }),
  })
  .strict();

webhooks.openapi(
  createRoute({
    method: "post",
    path: "/v1/webhooks/{webhook_id}/rotate-secret",
    tags: ["Webhooks"],
    summary: "Rotate the signing secret",
    description:
      "Makes a new secret (or key pair); the previous one keeps signing beside it, new first, for the grace period (default 24 h, SECRET_ROTATION_GRACE_HOURS). `signing` switches scheme; that is a rotation too.",
    security: bearer,
    request: {
      params: WebhookParam,
      body: {
        required: false,
        ...json(RotateBody),
      },
    },
    responses: { 200: json(WithSecret, "The webhook with its new secret or public key"), ...errors },
  }),
  async (c) => {
    const row = await loadWebhook(c, c.req.valid("param").webhook_id);
    const body = (await c.req.json().catch(() => ({}))) as { secret?: string; signing?: "hmac" | "ed25519"; grace_period_s?: number };
    const parsed = RotateBody.safeParse(body ?? {});
    if (!parsed.success) {
      throw validationProblem(parsed.error.issues);
    }
    const signing = parsed.data.signing ?? row.signing;
    if (parsed.data.secret !== undefined) {
      const check = WebhookCheckSchema.safeParse({ secret: parsed.data.secret });
      if (!check.success || signing === "ed25519")
        throw invalid(
          "secret",
          signing === "ed25519" ? "an ed25519 key pair is generated; do not send a secret" : "must be whsec_ followed by base64 of 24 to 64 bytes",
        );
    }
    const now = Date.now();
    const graceMs = parsed.data.grace_period_s !== undefined ? parsed.data.grace_period_s * 1000 : config(c.env).SECRET_ROTATION_GRACE_HOURS * 3_600_000;
    const { sealed, shown } = await newSigningKey(c, signing, parsed.data.secret);
    const old = (JSON.parse(row.secrets) as SealedKey[])
      .filter((k) => k.expires_at === null || k.expires_at > now)
      .map((k) => ({ ...k, expires_at: Math.min(k.expires_at ?? Number.POSITIVE_INFINITY, now + graceMs) }))
      .filter((k) => k.expires_at > now);
    const updated: WebhookRow = {
      ...row,
      signing,
      public_key: shown.public_key ?? null,
      secrets: JSON.stringify([sealed, ...old].slice(0, 5)),
      updated_at: Math.max(now, row.updated_at + 1),
    };
    await save(c, updated);
    return c.json({ ...toWebhook(updated), ...shown }, 200);
  },
);

const TestAnswer = z
  .object({
    ok: z.boolean(),
    status_code: z.number().int().nullable(),
    duration_ms: z.number(),
    response_body: z.string().nullable(),
    error: z.string().nullable(),
    delivery_id: z.string(),
  })
  .openapi("TestResult");

webhooks.openapi(
  createRoute({
    method: "post",
    path: "/v1/webhooks/{webhook_id}/test",
    tags: ["Webhooks"],
    summary: "Send a test event now, synchronously",
    description:
      "Sends `webhook.test`, or a sample of `type`, signed like any delivery, even to an inactive webhook; answers what the receiver said. It is logged as a delivery too.",
    security: bearer,
    request: { params: WebhookParam, body: { required: false, ...json(z.object({ type: z.string().optional() }).strict()) } },
    responses: { 200: json(TestAnswer, "What the receiver answered"), ...errors },
  }),
  async (c) => {
    const row = await loadWebhook(c, c.req.valid("param").webhook_id);
    const body = (await c.req.json().catch(() => ({}))) as { type?: unknown };
    const type = typeof body?.type === "string" ? body.type : "webhook.test";
    const info = catalog.get(type);
    if (!info) throw invalid("type", `unknown event type "${type}"; one of ${EVENT_TYPES.join(", ")}`);
    const result = await sendTestEvent(c, row, type, info.example);
    return c.json(result, 200);
  },
);

/** Sends one sample event through the webhook's queue (the only sender) and records it as a delivery. */
export async function sendTestEvent(
  c: Context<AppEnv>,
  row: WebhookRow,
  type: string,
  data: Record<string, unknown>,
): Promise<TestResult & { delivery_id: string }> {
  const now = Date.now();
  const event: Payload = { id: newId("evt", now), type, timestamp: new Date(now).toISOString(), account_id: row.account_id, data };
  const deliveryId = newId("dlv", now);
  const item: QueueItem = { delivery_id: deliveryId, event_id: event.id, event_type: type, payload: payloadFor(event, row), created_at: now };
  await prepared(c.env.DB, pendingStatement(row.id, row.account_id, item, now, now)).run();
  let result: TestResult;
  try {
    result = await queueOf(c.env, row.id).sendTest(toQueueConfig(row), item);
  } catch (err) {
    // A test send has no stored event, so the sweeper would never settle it: settle it here.
    const message = err instanceof Error ? err.message : String(err);
    console.error("test send failed before reaching the receiver", row.id, message);
    await prepared(c.env.DB, closedStatement(row.id, row.account_id, item, "failed", "the test could not be sent; try again", Date.now())).run();
    throw new ProblemError(503, "The test event could not be sent right now; nothing reached your receiver. Try again shortly.");
  }
  return { ...result, delivery_id: deliveryId };
}
