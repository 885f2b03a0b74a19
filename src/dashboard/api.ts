import type { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Env } from "../config";
import type { DeliverySchema } from "../http/delivery-rows";
import type { FailingSchema, HeldSchema } from "../webhooks/model";

/** The public API's fetch handler, called in-process: the dashboard goes through the same routes, auth and validation as any client. */
export type ApiFetch = (req: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

/** One field-level problem as the API reports it (`errors` of a 422 problem+json). */
export interface FieldError {
  path: string;
  message: string;
}

/** A non-2xx answer from the API, with its problem document. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors: FieldError[] = [],
  ) {
    super(detail);
  }
}

/** The API client for one signed-in request: every call carries the account key and the caller's address. */
export interface Api {
  get<T>(path: string): Promise<T>;
  send<T>(method: "POST" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<T>;
}

// Shapes of the API answers the pages read (SPEC "Shapes").

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface WebhookView {
  id: string;
  url: string;
  events: string[];
  description: string;
  active: boolean;
  disabled_reason: string | null;
  headers: Record<string, string>;
  filter: Record<string, unknown> | null;
  ordering: "strict" | "key" | "none";
  ordering_key: string | null;
  retry: { max_attempts: number; base_delay_ms: number; multiplier: number; max_delay_ms: number };
  timeout_ms: number;
  rate_limit_per_s: number | null;
  batch: { max_size: number; max_wait_ms: number } | null;
  format: "json" | "slack";
  redact: string[];
  ttl_s: number | null;
  signing: "hmac" | "ed25519";
  public_key?: string | null;
  created_at: string;
  updated_at: string;
  /** From the webhook's queue: since when and how its attempts fail, or null. */
  failing?: z.infer<typeof FailingSchema> | null;
  /** While it is off: what it holds for when it is enabled again; null while it is active. */
  held?: z.infer<typeof HeldSchema> | null;
  secret?: string;
}

/** A delivery as the API answers it: the route's own schema, so the two cannot drift. */
export type DeliveryView = z.infer<typeof DeliverySchema>;

export interface AttemptView {
  number: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  request_headers: Record<string, string>;
  request_body: string;
  response_headers: Record<string, string> | null;
  response_body: string | null;
}

export interface StatsView {
  window: string;
  total: number;
  delivered: number;
  failed: number;
  pending: number;
  success_rate: number | null;
  latency_ms: { p50: number | null; p95: number | null };
}

export interface TestView {
  ok: boolean;
  status_code: number | null;
  duration_ms: number;
  response_body: string | null;
  error: string | null;
  delivery_id: string;
}

/**
 * A client that calls the API in-process with the given key. The connecting address is forwarded so that the
 * key's IP allowlist judges the person at the browser, exactly as it would judge a direct API call.
 */
export function apiClient(c: Context<{ Bindings: Env }>, fetchApi: ApiFetch, key: string): Api {
  const origin = new URL(c.req.url).origin;
  const ip = c.req.header("cf-connecting-ip");
  let ctx: ExecutionContext;
  try {
    // Hono types its own ExecutionContext; at run time it is the Worker's.
    ctx = c.executionCtx as unknown as ExecutionContext;
  } catch {
    // Outside the Workers runtime (unit tests) there is no ExecutionContext; nothing here needs waitUntil to outlive the call.
    ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  }
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers = new Headers({ authorization: `Bearer ${key}`, accept: "application/json" });
    if (ip) headers.set("cf-connecting-ip", ip);
    if (body !== undefined) headers.set("content-type", "application/json");
    const res = await fetchApi(new Request(origin + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }), c.env, ctx);
    const text = await res.text();
    if (res.ok) return (text ? JSON.parse(text) : null) as T;
    let problem: { detail?: string; errors?: FieldError[] } = {};
    try {
      problem = JSON.parse(text);
    } catch {}
    throw new ApiError(res.status, problem.detail ?? `The API answered ${res.status}.`, Array.isArray(problem.errors) ? problem.errors : []);
  };
  return {
    get: (path) => call("GET", path),
    send: (method, path, body) => call(method, path, body),
  };
}
