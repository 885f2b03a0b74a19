import {
  type Answer,
  type BroxiClient,
  createClient,
  type Delivery,
  type Event,
  type EventInput,
  paginate,
  type Webhook,
  type WebhookCreate,
} from "../../client/index.js";
import type { DevServer } from "./dev-server";
import type { Hit } from "./sink";

/** Retries fast enough for tests: 200 ms, ×1.5, at most 1 s between attempts. */
export const FAST_RETRY = { base_delay_ms: 200, multiplier: 1.5, max_delay_ms: 1000, max_attempts: 30 };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; answers the last value either way. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await check();
  while (!value && Date.now() < deadline) {
    await sleep(intervalMs);
    value = await check();
  }
  return value;
}

/** JSON of a response, throwing with the body when the status is not the one expected. */
export async function expectStatus<T = any>(res: Response | Promise<Response>, ...statuses: number[]): Promise<T> {
  const r = await res;
  const text = await r.text();
  if (!statuses.includes(r.status)) throw new Error(`expected ${statuses.join("/")}, got ${r.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** The typed API client (client/) for a running service, calling as `token`: the platform's unless another is given. */
export function apiOf(server: DevServer, token = server.token): BroxiClient {
  return createClient({ baseUrl: server.url, token });
}

/** The data of a client call's successful answer, throwing with the body when the status is not one of those expected. */
export async function expectAnswer<T>(call: Answer<T> | Promise<Answer<T>>, ...statuses: number[]): Promise<T> {
  const { data, error, response } = await call;
  if (!statuses.includes(response.status)) {
    throw new Error(`expected ${statuses.join("/")}, got ${response.status}: ${JSON.stringify(error ?? data ?? null).slice(0, 500)}`);
  }
  return data as T;
}

/** A new account and one API key on a running service. */
export async function newAccount(server: DevServer, name = "E2E"): Promise<{ id: string; key: string }> {
  const platform = apiOf(server);
  const account = await expectAnswer(platform.POST("/v1/accounts", { body: { name } }), 201);
  const key = await expectAnswer(
    platform.POST("/v1/accounts/{account_id}/api-keys", { params: { path: { account_id: account.id } }, body: { name: "k" } }),
    201,
  );
  return { id: account.id, key: key.key };
}

/** Creates a webhook (for every platform event type unless `events` says otherwise); answers it with its secret or public key. */
export function createWebhook(server: DevServer, key: string, body: Omit<WebhookCreate, "events"> & Partial<Pick<WebhookCreate, "events">>) {
  return expectAnswer(apiOf(server, key).POST("/v1/webhooks", { body: { events: ["*"], ...body } }), 201);
}

/** A workflow.completed payload numbered `n`. */
export function completedData(n: number, extra: Record<string, unknown> = {}) {
  return { workflow_id: "wf_e2e", execution_id: `exe_${n}`, duration_ms: 1000 + n, outputs: { n }, ...extra };
}

/**
 * Ingests one event as the platform does: on a network error or a 5xx it sends the same id again until it is
 * accepted (202, or 200 for a repeat), so an answer lost to a crash never loses the event. Answers the final status.
 */
export async function ingestUntilAccepted(server: DevServer, event: EventInput, giveUpMs = 240_000): Promise<{ status: number; tries: number }> {
  const platform = apiOf(server);
  const deadline = Date.now() + giveUpMs;
  for (let tries = 1; ; tries++) {
    try {
      const { error, response } = await platform.POST("/v1/events", { body: event, signal: AbortSignal.timeout(30_000) });
      if (response.status === 200 || response.status === 202) return { status: response.status, tries };
      if (response.status < 500) throw new Error(`ingest refused ${response.status}: ${JSON.stringify(error).slice(0, 300)}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("ingest refused")) throw err;
    }
    if (Date.now() > deadline) throw new Error(`event ${String(event.id)} not accepted within ${giveUpMs} ms`);
    await sleep(Math.min(250 * tries, 2000));
  }
}

/**
 * Ingests events through the batch route as the platform does: the whole batch is sent again (same ids) until
 * every event in it is accepted — a repeat is answered 200 with the first answer, so resending is safe.
 * Answers how many requests it took.
 */
export async function ingestBatchUntilAccepted(server: DevServer, events: EventInput[], giveUpMs = 240_000): Promise<{ tries: number }> {
  const platform = apiOf(server);
  const deadline = Date.now() + giveUpMs;
  for (let tries = 1; ; tries++) {
    try {
      const { data, error, response } = await platform.POST("/v1/events/batch", { body: { events }, signal: AbortSignal.timeout(30_000) });
      if (data && (response.status === 202 || response.status === 207)) {
        const refused = data.data.find((d) => "error" in d && (d.error.status ?? 500) < 500);
        if (refused) throw new Error(`ingest refused: ${JSON.stringify(refused).slice(0, 300)}`);
        if (data.data.every((d) => !("error" in d))) return { tries };
      } else if (response.status < 500) {
        throw new Error(`ingest refused ${response.status}: ${JSON.stringify(error).slice(0, 300)}`);
      }
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("ingest refused")) throw err;
    }
    if (Date.now() > deadline) throw new Error(`batch starting ${String(events[0]?.id)} not accepted within ${giveUpMs} ms`);
    await sleep(Math.min(250 * tries, 2000));
  }
}

/** Every event of the account, all pages, newest first. */
export async function listEvents(server: DevServer, key: string, query: { type?: string } = {}): Promise<Event[]> {
  const api = apiOf(server, key);
  return fromPages(paginate((cursor) => api.GET("/v1/events", { params: { query: { ...query, cursor, limit: 200 } } })));
}

type DeliveryQuery = { status?: Delivery["status"]; event_type?: string };

/** Every delivery of a webhook, all pages, newest first; `status` and `event_type` filter as the route does. */
export async function listDeliveries(server: DevServer, key: string, webhookId: string, query: DeliveryQuery = {}): Promise<Delivery[]> {
  const api = apiOf(server, key);
  return fromPages(
    paginate((cursor) =>
      api.GET("/v1/webhooks/{webhook_id}/deliveries", { params: { path: { webhook_id: webhookId }, query: { ...query, cursor, limit: 200 } } }),
    ),
  );
}

/** Every webhook of the account, all pages, newest first. */
export async function listWebhooks(server: DevServer, key: string): Promise<Webhook[]> {
  const api = apiOf(server, key);
  return fromPages(paginate((cursor) => api.GET("/v1/webhooks", { params: { query: { cursor, limit: 200 } } })));
}

/**
 * Every item of a list route given as a path with its query, for callers that build one
 * (`/v1/events`, `/v1/webhooks`, `/v1/webhooks/{id}/deliveries?status=pending`); the typed lists underneath.
 */
export async function listAll(server: DevServer, bearer: string, path: string): Promise<any[]> {
  const url = new URL(path, server.url);
  const query = Object.fromEntries(url.searchParams);
  if (url.pathname === "/v1/events") return listEvents(server, bearer, query);
  if (url.pathname === "/v1/webhooks") return listWebhooks(server, bearer);
  const webhook = /^\/v1\/webhooks\/([^/]+)\/deliveries$/.exec(url.pathname);
  if (webhook) return listDeliveries(server, bearer, decodeURIComponent(webhook[1]), query as DeliveryQuery);
  throw new Error(`listAll knows /v1/events, /v1/webhooks and /v1/webhooks/{id}/deliveries, not ${path}`);
}

async function fromPages<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** One delivery with every attempt. */
export function getDelivery(server: DevServer, key: string, deliveryId: string) {
  return expectAnswer(apiOf(server, key).GET("/v1/deliveries/{delivery_id}", { params: { path: { delivery_id: deliveryId } } }), 200);
}

/** Runs the cron trigger (log purge and the sweeper) once, as wrangler dev exposes it. */
export async function triggerCron(server: DevServer): Promise<void> {
  const res = await server.fetch("/cdn-cgi/handler/scheduled");
  await res.text();
  if (!res.ok) throw new Error(`scheduled handler answered ${res.status}`);
}

/** What a receiver saw for a list of events sent in a known order. */
export interface Tally {
  sent: number;
  /** Events that arrived at least once. */
  arrived: number;
  /** Requests received in all (retries and duplicates included). */
  requests: number;
  /** Events the receiver acknowledged (2xx) more than once: true duplicates a receiver must dedupe by webhook-id. */
  duplicated: number;
  /**
   * Of those second acknowledged copies, the ones carrying the same x-broxiai-attempt as the copy before: the queue
   * never recorded the first answer (a crash). The others followed an attempt the queue saw fail (a timeout).
   */
  resentSameAttempt: number;
  /** Events that never arrived. */
  lost: string[];
  /** Event ids whose requests disagreed on payload id, delivery id or sequence (a "duplicate" that is not one). */
  inconsistent: string[];
  /** First arrivals out of the sent order (strict ordering only), as [previous, next] pairs. */
  outOfOrder: [string, string][];
  /** First arrivals whose x-broxiai-sequence did not grow. */
  sequenceBackwards: number;
}

/**
 * Counts sent against arrived. `hits` are one webhook's requests in arrival order, `sentIds` its events in
 * ingestion order; with `strict`, first arrivals must follow that order and their sequence numbers must grow.
 */
export function tally(hits: Hit[], sentIds: string[], strict: boolean): Tally {
  const first = new Map<string, Hit>();
  const acked = new Map<string, number>();
  const lastAckedAttempt = new Map<string, number>();
  let resentSameAttempt = 0;
  const inconsistent = new Set<string>();
  const order: string[] = [];
  for (const h of hits) {
    let payloadId = "";
    try {
      payloadId = JSON.parse(h.body).id;
    } catch {}
    if (payloadId !== h.id) inconsistent.add(h.id);
    const seen = first.get(h.id);
    if (!seen) {
      first.set(h.id, h);
      order.push(h.id);
    } else if (seen.delivery !== h.delivery || seen.seq !== h.seq || seen.body !== h.body) {
      inconsistent.add(h.id);
    }
    if (h.answered !== null && h.answered >= 200 && h.answered < 300) {
      acked.set(h.id, (acked.get(h.id) ?? 0) + 1);
      if (lastAckedAttempt.get(h.id) === h.attempt) resentSameAttempt++;
      lastAckedAttempt.set(h.id, h.attempt);
    }
  }
  const sentSet = new Set(sentIds);
  const rank = new Map(sentIds.map((id, i) => [id, i]));
  const outOfOrder: [string, string][] = [];
  let sequenceBackwards = 0;
  if (strict) {
    const known = order.filter((id) => sentSet.has(id));
    for (let i = 1; i < known.length; i++) {
      if (rank.get(known[i])! < rank.get(known[i - 1])!) outOfOrder.push([known[i - 1], known[i]]);
      if (!(first.get(known[i])!.seq > first.get(known[i - 1])!.seq)) sequenceBackwards++;
    }
  }
  return {
    sent: sentIds.length,
    arrived: sentIds.filter((id) => first.has(id)).length,
    requests: hits.length,
    duplicated: [...acked.values()].filter((n) => n > 1).length,
    resentSameAttempt,
    lost: sentIds.filter((id) => !first.has(id)),
    inconsistent: [...inconsistent],
    outOfOrder,
    sequenceBackwards,
  };
}
