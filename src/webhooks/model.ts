import { z } from "@hono/zod-openapi";
import { DEFAULT_RETRY, type RetryPolicy } from "../delivery/retry";
import { EVENT_TYPES } from "../events/catalog";
import { isValidHmacSecret } from "../signing";
import { FilterSchema, filterErrors } from "./filter";
import { headerValueError } from "./headers";
import { patternError } from "./match";
import { pathError } from "./paths";

/** Headers a webhook's custom headers may never set: ours, the signature's, and those HTTP itself owns. */
const RESERVED_HEADERS =
  /^(webhook-|x-broxiai-|svix-)|^(content-type|content-length|user-agent|host|connection|transfer-encoding|te|trailer|upgrade|expect|keep-alive|proxy-.*|cf-.*)$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

const RetrySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(30),
    base_delay_ms: z.number().int().min(100).max(86_400_000),
    multiplier: z.number().min(1).max(10),
    max_delay_ms: z
      .number()
      .int()
      .min(100)
      .max(7 * 86_400_000),
  })
  .partial()
  // Strict, like the body around it: a misspelt field ("max_attempt") silently dropped would leave the default.
  .strict()
  .openapi("RetryPolicy", { description: "Exponential backoff; defaults 12 attempts, 5000 ms, ×3, 10 h." });

const BatchSchema = z
  .object({
    max_size: z.number().int().min(1).max(100),
    max_wait_ms: z.number().int().min(0).max(60_000),
  })
  .strict()
  .openapi("BatchSettings", { description: "Aggregate up to max_size events, waiting at most max_wait_ms for more." });

/**
 * The headers a request sends, judged on their own (a PATCH's kept values, stored sealed, are never judged again):
 * each value must be sendable, and no name given twice in another case ("X-Key" and "x-key" would go out as one
 * header with both values joined).
 */
function checkHeaderValues(headers: Record<string, string | null>, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    const err = value === null ? null : headerValueError(value);
    if (err) ctx.addIssue({ code: "custom", path: [name], message: err });
    if (seen.has(name.toLowerCase())) ctx.addIssue({ code: "custom", path: [name], message: "given twice (header names are case-insensitive)" });
    seen.add(name.toLowerCase());
  }
}

const fields = {
  url: z.string().max(2048).openapi({ example: "https://example.com/webhooks/broxiai" }),
  events: z
    .array(z.string().max(100))
    .min(1)
    .max(50)
    .openapi({ example: ["workflow.*"] }),
  description: z.string().max(500),
  active: z.boolean(),
  headers: z
    .record(z.string(), z.string().max(2048))
    .superRefine(checkHeaderValues)
    .openapi({ description: "Sent with every request. Values are secrets: answers show them masked (`Bearer …3f9a`)." }),
  filter: FilterSchema,
  ordering: z.enum(["strict", "key", "none"]),
  ordering_key: z.string().nullable(),
  retry: RetrySchema,
  timeout_ms: z.number().int().min(100).max(30_000),
  rate_limit_per_s: z.number().int().min(1).max(1000).nullable(),
  batch: BatchSchema.nullable(),
  format: z.enum(["json", "slack"]),
  redact: z.array(z.string()).max(20),
  ttl_s: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .nullable(),
};

type WebhookCheck = Partial<Omit<WebhookSettings, "retry">> & { retry?: Partial<RetryPolicy>; secret?: string };

/** Checks that only a whole webhook can answer (one field depends on another, or on the catalog). */
function checkWebhook(w: WebhookCheck, ctx: z.RefinementCtx): void {
  w.events?.forEach((pattern, i) => {
    const err = patternError(pattern, EVENT_TYPES);
    if (err) ctx.addIssue({ code: "custom", path: ["events", i], message: err });
  });
  if (w.headers) {
    const names = Object.keys(w.headers);
    if (names.length > 20) ctx.addIssue({ code: "custom", path: ["headers"], message: "at most 20 custom headers" });
    for (const name of names) {
      if (!HEADER_NAME.test(name)) ctx.addIssue({ code: "custom", path: ["headers", name], message: "not a valid HTTP header name" });
      else if (RESERVED_HEADERS.test(name))
        ctx.addIssue({ code: "custom", path: ["headers", name], message: "this header is set by BroxiAI Webhooks and cannot be overridden" });
    }
  }
  if (w.filter) for (const message of filterErrors(w.filter)) ctx.addIssue({ code: "custom", path: ["filter"], message });
  if (w.ordering_key) {
    const err = pathError(w.ordering_key);
    if (err) ctx.addIssue({ code: "custom", path: ["ordering_key"], message: err });
  }
  if (w.ordering === "key" && !w.ordering_key)
    ctx.addIssue({ code: "custom", path: ["ordering_key"], message: 'required when ordering is "key" (for example "data.execution_id")' });
  w.redact?.forEach((p, i) => {
    const err = pathError(p);
    if (err) ctx.addIssue({ code: "custom", path: ["redact", i], message: err });
  });
  const retry = w.retry;
  if (retry?.max_delay_ms !== undefined && retry.max_delay_ms < (retry.base_delay_ms ?? DEFAULT_RETRY.base_delay_ms)) {
    ctx.addIssue({ code: "custom", path: ["retry", "max_delay_ms"], message: "must be at least base_delay_ms" });
  }
  if (w.secret !== undefined && !isValidHmacSecret(w.secret)) {
    ctx.addIssue({ code: "custom", path: ["secret"], message: "must be whsec_ followed by base64 of 24 to 64 bytes" });
  }
  if (w.format === "slack" && w.batch) ctx.addIssue({ code: "custom", path: ["batch"], message: "Slack-formatted webhooks cannot be batched" });
  // A batch is one line of events in order; per-key lines would each need their own batches.
  if (w.batch && w.ordering === "key")
    ctx.addIssue({ code: "custom", path: ["batch"], message: 'cannot be combined with ordering "key"; use "strict" or "none"' });
}

/** The body of POST /v1/webhooks. */
export const WebhookCreateSchema = z
  .object({
    ...fields,
    description: fields.description.optional(),
    active: fields.active.optional(),
    secret: z.string().optional().openapi({ description: "whsec_… to use your own; generated when absent" }),
    headers: fields.headers.optional(),
    filter: fields.filter.optional(),
    ordering: fields.ordering.optional(),
    ordering_key: fields.ordering_key.optional(),
    retry: fields.retry.optional(),
    timeout_ms: fields.timeout_ms.optional(),
    rate_limit_per_s: fields.rate_limit_per_s.optional(),
    batch: fields.batch.optional(),
    format: fields.format.optional(),
    redact: fields.redact.optional(),
    ttl_s: fields.ttl_s.optional(),
    signing: z.enum(["hmac", "ed25519"]).optional(),
  })
  .strict()
  .superRefine(checkWebhook)
  .openapi("WebhookCreate");

const { headers: _headers, ...updatable } = fields;

/** The body of PATCH /v1/webhooks/{id}: any subset of the settings. */
export const WebhookUpdateSchema = z
  .object({
    ...(Object.fromEntries(Object.entries(updatable).map(([k, v]) => [k, v.optional()])) as {
      [K in keyof typeof updatable]: z.ZodOptional<(typeof updatable)[K]>;
    }),
    headers: z
      .record(z.string(), z.string().max(2048).nullable())
      .superRefine(checkHeaderValues)
      .nullable()
      .optional()
      .openapi({ description: "A merge patch: a value sets that header, null removes it, headers not named stay as they were; null removes them all." }),
    held: z.enum(["deliver", "discard"]).optional().openapi({
      description:
        'With `active: true` on a webhook that is off: "deliver" (the default) sends the deliveries held for it, in order; "discard" cancels them (status `cancelled`).',
    }),
  })
  .strict()
  .openapi("WebhookUpdate");

/** Cross-field checks of a whole webhook (a PATCH is checked after merging it onto the stored settings). */
export const WebhookCheckSchema = z.custom<WebhookCheck>().superRefine(checkWebhook);

export type WebhookCreate = z.infer<typeof WebhookCreateSchema>;
export type WebhookUpdate = z.infer<typeof WebhookUpdateSchema>;

/** Every setting of a webhook with defaults applied. */
export interface WebhookSettings {
  url: string;
  events: string[];
  description: string;
  active: boolean;
  headers: Record<string, string>;
  filter: Record<string, unknown> | null;
  ordering: "strict" | "key" | "none";
  ordering_key: string | null;
  retry: RetryPolicy;
  timeout_ms: number;
  rate_limit_per_s: number | null;
  batch: { max_size: number; max_wait_ms: number } | null;
  format: "json" | "slack";
  redact: string[];
  ttl_s: number | null;
}

/** A webhook as the API answers it (SPEC "Shapes"). */
export interface Webhook extends WebhookSettings {
  id: string;
  disabled_reason: string | null;
  signing: "hmac" | "ed25519";
  public_key?: string | null;
  created_at: string;
  updated_at: string;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** Fills in every default a create request may leave out. */
export function withDefaults(input: WebhookCreate): WebhookSettings {
  return {
    url: input.url,
    events: input.events,
    description: input.description ?? "",
    active: input.active ?? true,
    headers: input.headers ?? {},
    filter: input.filter ?? null,
    ordering: input.ordering ?? "strict",
    ordering_key: input.ordering_key ?? null,
    retry: { ...DEFAULT_RETRY, ...input.retry },
    timeout_ms: input.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    rate_limit_per_s: input.rate_limit_per_s ?? null,
    batch: input.batch ?? null,
    format: input.format ?? "json",
    redact: input.redact ?? [],
    ttl_s: input.ttl_s ?? null,
  };
}

/** How a webhook is doing, from its queue: null unless its last attempt failed. */
export const FailingSchema = z
  .object({
    since: z.string().openapi({ description: "When the failed attempts in a row began" }),
    consecutive_failures: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    disables_at: z.string().nullable().openapi({ description: "When it is disabled unless an attempt succeeds first (null once it is off)" }),
  })
  .openapi("WebhookFailing");

/** What a webhook that is off keeps for when it is enabled again: null while it is active. */
export const HeldSchema = z
  .object({
    count: z.number().int().openapi({ description: "Deliveries held, sent in order on enabling it (or discarded, as chosen)" }),
    expired: z.number().int().openapi({ description: "Held deliveries expired since it went off, the oldest first, past MAX_HELD_PER_WEBHOOK" }),
  })
  .openapi("WebhookHeld");

/** The zod schema of a webhook answer, for the OpenAPI document. */
export const WebhookSchema = z
  .object({
    id: z.string().openapi({ example: "wh_01JD3S4K2M0000000000000000" }),
    ...fields,
    retry: z.object({ max_attempts: z.number(), base_delay_ms: z.number(), multiplier: z.number(), max_delay_ms: z.number() }),
    disabled_reason: z.string().nullable(),
    signing: z.enum(["hmac", "ed25519"]),
    public_key: z.string().nullable().optional(),
    created_at: z.string(),
    updated_at: z.string(),
    failing: FailingSchema.nullable(),
    held: HeldSchema.nullable(),
  })
  .openapi("Webhook");

/** A webhook's `failing` and `held`, as its answers carry them. */
export interface WebhookState {
  failing: z.infer<typeof FailingSchema> | null;
  held: z.infer<typeof HeldSchema> | null;
}
