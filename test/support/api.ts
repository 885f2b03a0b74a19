import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject } from "vitest";

export const PLATFORM = { authorization: `Bearer ${env.PLATFORM_TOKEN}` };

/** A request to the Worker as a client would send it. */
export function call(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  return SELF.fetch(`https://webhooks.test${path}`, { method, headers, body });
}

/** JSON of a response, asserting its status. */
export async function expectJson<T = any>(res: Response | Promise<Response>, status: number): Promise<T> {
  const r = await res;
  const text = await r.text();
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** A new account with one API key. */
export async function newAccount(name = "Acme"): Promise<{ accountId: string; key: string; keyId: string }> {
  const account = await expectJson(call("POST", "/v1/accounts", { token: env.PLATFORM_TOKEN, body: { name } }), 201);
  const key = await expectJson(call("POST", `/v1/accounts/${account.id}/api-keys`, { token: env.PLATFORM_TOKEN, body: { name: "test key" } }), 201);
  return { accountId: account.id, key: key.key, keyId: key.id };
}

let receiverPath = 0;
/** A fresh path on the shared real receiver, with a script of answers. */
export async function receiver(script: { answers?: unknown[]; otherwise?: unknown } = {}) {
  const base = inject("receiverUrl");
  const name = `r${Date.now().toString(36)}${(receiverPath++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await fetch(`${base}/__script/${name}`, { method: "PUT", body: JSON.stringify(script) });
  return {
    url: `${base}/r/${name}`,
    async received(): Promise<{ headers: Record<string, string>; body: string; at: number }[]> {
      return (await fetch(`${base}/__received/${name}`)).json();
    },
  };
}

/** Ingests one event for an account through the platform route. */
export function sendEvent(event: Record<string, unknown>) {
  return call("POST", "/v1/events", { token: env.PLATFORM_TOKEN, body: event });
}

export const completed = (n: number, extra: Record<string, unknown> = {}) => ({
  workflow_id: "wf_demo",
  execution_id: `exe_${n}`,
  duration_ms: 1000 + n,
  outputs: { n },
  completed_at: "2026-11-27T09:00:00.000Z",
  started_at: "2026-11-27T08:59:00.000Z",
  ...extra,
});

/** Asserts an RFC 9457 problem answer and returns its body and headers. */
export async function expectProblemResponse(res: Response | Promise<Response>, status: number) {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  expect(r.headers.get("content-type")).toBe("application/problem+json");
  const body = JSON.parse(text);
  expect(body).toMatchObject({ type: expect.stringMatching(/^https:\/\//), title: expect.any(String), status, detail: expect.any(String) });
  expect(body.detail.length).toBeGreaterThan(0);
  return { body, headers: r.headers };
}

/** Asserts an RFC 9457 problem answer and returns its body. */
export async function expectProblem(res: Response | Promise<Response>, status: number) {
  return (await expectProblemResponse(res, status)).body;
}
