import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { config } from "../config";
import { catalog, EVENT_TYPES } from "../events/catalog";
import { WebhookCheckSchema } from "../webhooks/model";
import type { SealedKey, WebhookRow } from "../webhooks/types";
import type { AppEnv } from "./app-env";
import { bearer, errors, json, ProblemSchema } from "./openapi";
import { invalid, validationProblem } from "./problem";
import { sendTestEvent } from "./test-send";
import { webhookAnswer } from "./webhook-state";
import { loadWebhook, newSigningKey, save, WebhookParam, WithSecret } from "./webhooks";

/** What a webhook's owner does to it besides changing its settings: rotate its signing key, send a test. */
export const webhookActions = new OpenAPIHono<AppEnv>();

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

webhookActions.openapi(
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
    return c.json({ ...(await webhookAnswer(c, updated)), ...shown }, 200);
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

webhookActions.openapi(
  createRoute({
    method: "post",
    path: "/v1/webhooks/{webhook_id}/test",
    tags: ["Webhooks"],
    summary: "Send a test event now, synchronously",
    description:
      "Sends `webhook.test`, or a sample of `type`, signed like any delivery, even to an inactive webhook; answers what the receiver said. It is logged as a delivery too.",
    security: bearer,
    request: { params: WebhookParam, body: { required: false, ...json(z.object({ type: z.string().optional() }).strict()) } },
    responses: {
      200: json(TestAnswer, "What the receiver answered"),
      429: {
        description: "Past the test route's rate (10 a minute per webhook, 5 at once) or the webhook's rate_limit_per_s; see Retry-After",
        headers: { "Retry-After": { description: "Seconds to wait", schema: { type: "integer" } } },
        content: { "application/problem+json": { schema: ProblemSchema } },
      },
      ...errors,
    },
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
