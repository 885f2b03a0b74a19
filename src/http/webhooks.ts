import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { config } from "../config";
import { queueOf } from "../delivery/queue-stub";
import { newId } from "../ids";
import { relayIdOf } from "../relay/contract";
import { relayOf } from "../relay/stub";
import { encryptSecret, generateEd25519Key, generateHmacSecret } from "../signing";
import { deleteWebhook } from "../webhooks/delete";
import { maskedHeaders, patchHeaders, sealHeaders } from "../webhooks/headers";
import {
  WebhookCheckSchema,
  type WebhookCreate,
  WebhookCreateSchema,
  WebhookSchema,
  type WebhookSettings,
  WebhookUpdateSchema,
  withDefaults,
} from "../webhooks/model";
import { destinationOptions, resolutionError } from "../webhooks/resolve";
import { getWebhookRow, insertWebhookStatement, saveWebhookStatement, settingsColumns, toQueueConfig, toWebhook } from "../webhooks/store";
import type { SealedHeaders, SealedKey, WebhookRow } from "../webhooks/types";
import { destinationError } from "../webhooks/url-safety";
import type { AppEnv } from "./app-env";
import { bearer, errors, IdParam, json, PageQuery, page } from "./openapi";
import { pageOf } from "./pagination";
import { accountOf, logShardOf } from "./principal";
import { invalid, notFound, ProblemError, validationProblem } from "./problem";
import { stateOf, webhookAnswer, webhookAnswers } from "./webhook-state";

/** Webhooks: create, list, read, change, delete (rotate and test are in webhook-actions.ts). */
export const webhooks = new OpenAPIHono<AppEnv>();

export const WebhookParam = IdParam("webhook_id", "wh_01JD3S4K2M0000000000000000");
export const WithSecret = WebhookSchema.extend({ secret: z.string().optional(), public_key: z.string().nullable().optional() }).openapi("WebhookWithSecret");

/** Loads one of the caller's webhooks or answers 404 (also for another account's id). */
export async function loadWebhook(c: Context<AppEnv>, id: string): Promise<WebhookRow> {
  const row = await getWebhookRow(c.env.DB, accountOf(c), id);
  if (!row) throw notFound("webhook", id);
  return row;
}

/** The URL as written, then (unless private destinations are allowed) what its host resolves to. */
export async function checkUrl(c: Context<AppEnv>, url: string): Promise<void> {
  if (url.startsWith("relay://")) return checkRelayUrl(c, url);
  const cfg = config(c.env);
  const err = destinationError(url, { allowPrivate: cfg.ALLOW_PRIVATE_DESTINATIONS }) ?? (await resolutionError(url, destinationOptions(cfg)));
  if (err) throw invalid("url", err);
}

/**
 * A relay:// URL is accepted only for a relay of the caller's own account (an existing webhook attached to it); any
 * other id is refused like a relay that does not exist, so one account cannot send its events to another's laptop.
 */
async function checkRelayUrl(c: Context<AppEnv>, url: string): Promise<void> {
  const id = relayIdOf(url);
  const state = id ? await relayOf(c.env, id).state() : null;
  if (!state || state.account_id !== accountOf(c)) {
    throw invalid("url", "relay:// names no relay of this account; make one with POST /v1/relays (or `npm run listen -- --forward-to …`)");
  }
}

/** A fresh signing key of the scheme: what to store (sealed) and what to show the customer once. */
export async function newSigningKey(
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
export async function save(c: Context<AppEnv>, row: WebhookRow): Promise<void> {
  await saveWebhookStatement(c.env.DB, row).run();
  await queueOf(c.env, row.id).configure(toQueueConfig(row));
}

/**
 * Stores a new webhook of the caller's account (its URL already checked) and configures its queue; answers the row
 * and the secret or public key to show once. Past MAX_WEBHOOKS_PER_ACCOUNT it is refused with a 422.
 */
export async function insertWebhook(
  c: Context<AppEnv>,
  input: WebhookCreate,
  id = newId("wh"),
): Promise<{ row: WebhookRow; shown: { secret?: string; public_key?: string } }> {
  const settings = withDefaults(input);
  const signing = input.signing ?? "hmac";
  if (signing === "ed25519" && input.secret) throw invalid("secret", "an ed25519 webhook's key pair is generated; do not send a secret");
  const { sealed, shown } = await newSigningKey(c, signing, input.secret);
  const headers = await sealHeaders(config(c.env).ENCRYPTION_KEY, settings.headers);
  const now = Date.now();
  const row: WebhookRow = {
    id,
    account_id: accountOf(c),
    ...settingsColumns(settings, headers),
    disabled_reason: null,
    signing,
    public_key: shown.public_key ?? null,
    secrets: JSON.stringify([sealed]),
    log_shard: logShardOf(c),
    created_at: now,
    updated_at: now,
    deleted_at: null,
  };
  // The cap is checked by the insert itself, so concurrent creates cannot pass it together.
  const cap = config(c.env).MAX_WEBHOOKS_PER_ACCOUNT;
  const inserted = await insertWebhookStatement(c.env.DB, row, cap).run();
  if (inserted.meta.changes === 0) {
    throw new ProblemError(
      422,
      `This account already has ${cap} webhooks, the most it may have (MAX_WEBHOOKS_PER_ACCOUNT). Delete one it no longer needs, or ask the operator for a higher limit.`,
    );
  }
  await queueOf(c.env, row.id).configure(toQueueConfig(row));
  return { row, shown };
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
    await checkUrl(c, input.url);
    const { row, shown } = await insertWebhook(c, input);
    // A new webhook has no health to ask its queue about yet.
    return c.json({ ...toWebhook(row), ...stateOf(row, null, 0), ...shown }, 201);
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
    const shown = pageOf(rows.results, limit);
    return c.json({ data: await webhookAnswers(c, shown.data), next_cursor: shown.next_cursor }, 200);
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
  async (c) => c.json(await webhookAnswer(c, await loadWebhook(c, c.req.valid("param").webhook_id)), 200),
);

webhooks.openapi(
  createRoute({
    method: "patch",
    path: "/v1/webhooks/{webhook_id}",
    tags: ["Webhooks"],
    summary: "Change a webhook",
    description:
      'Changes apply from the next attempt, retries included. `active: true` re-enables a webhook that is off (inactive or disabled): with `held: "deliver"` (the default) the deliveries held for it go out first, in order; with `held: "discard"` they are cancelled.',
    security: bearer,
    request: { params: WebhookParam, body: { required: true, ...json(WebhookUpdateSchema) } },
    responses: { 200: json(WebhookSchema, "The webhook"), ...errors },
  }),
  async (c) => {
    const row = await loadWebhook(c, c.req.valid("param").webhook_id);
    const { held, ...patch } = c.req.valid("json");
    if (held !== undefined && patch.active !== true) throw invalid("held", 'applies only with "active": true, when enabling a webhook that is off');
    const current = { ...toWebhook(row) } as WebhookSettings;
    // Kept headers are sealed as they were; only the values this PATCH sends are sealed anew (a merge patch).
    const headers = await patchHeaders(config(c.env).ENCRYPTION_KEY, JSON.parse(row.headers) as SealedHeaders, patch.headers);
    const merged: WebhookSettings = {
      ...current,
      ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
      retry: { ...current.retry, ...patch.retry },
      headers: maskedHeaders(headers),
    } as WebhookSettings;
    const checked = WebhookCheckSchema.safeParse(merged);
    if (!checked.success) {
      throw validationProblem(checked.error.issues);
    }
    if (patch.url !== undefined) await checkUrl(c, patch.url);
    const now = Date.now();
    const reenabled = patch.active === true;
    const updated: WebhookRow = {
      ...row,
      ...settingsColumns(merged, headers),
      disabled_reason: reenabled ? null : row.disabled_reason,
      updated_at: Math.max(now, row.updated_at + 1),
    };
    if (row.disabled_reason && !reenabled) updated.active = 0;
    // Discarded before the webhook is on again, so that no held delivery can go out in between.
    const off = row.active === 0 || row.disabled_reason !== null;
    if (reenabled && off && held === "discard") await queueOf(c.env, row.id).releaseHeld(toQueueConfig(row), "discard");
    await save(c, updated);
    return c.json(await webhookAnswer(c, updated), 200);
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
    await deleteWebhook(c.env, await loadWebhook(c, c.req.valid("param").webhook_id), Date.now());
    return c.body(null, 204);
  },
);
