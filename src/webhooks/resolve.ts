// A webhook's host is resolved, and every address in the answer judged by the rules url-safety.ts applies to a
// literal, when the webhook is written and again before each send (unless ALLOW_PRIVATE_DESTINATIONS=true, when
// nothing is resolved). The lookup is DNS over HTTPS (the JSON API) through the Worker's own fetch, so the same
// code runs on Cloudflare, under wrangler dev and in tests, which point DNS_RESOLVER_URL at a fake resolver.
//
// What it cannot close: fetch() resolves the name again when it connects, so a name whose owner changes its
// answer between our lookup and that connection (DNS rebinding) can still land on what we refused. The default
// resolver is Cloudflare's, the one Workers' fetch itself uses on Cloudflare, so the two lookups share one view of
// the name; and answers are cached at most CACHE_MAX_MS, which bounds how stale our verdict can be.

import type { Config } from "../config";
import { type OutgoingRequest, type SentAttempt, sendRequest } from "../delivery/send";
import { addressProblem, destinationError, isIpLiteral, nameProblem } from "./url-safety";

/** The one text a refused send records, whatever the reason or the port: it tells a prober nothing. */
export const DESTINATION_REFUSED = "destination refused: the webhook's host must resolve to public addresses only; nothing was sent";

/** An answer is trusted for its TTL, but never longer than this: it bounds the window a rebinding host has. */
export const CACHE_MAX_MS = 60_000;
/** A failed or empty lookup is asked again after this long. */
const NEGATIVE_CACHE_MS = 10_000;
const CACHE_LIMIT = 1000;
const LOOKUP_TIMEOUT_MS = 3000;
const MAX_CNAME_HOPS = 8;

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;

/** What resolution needs, decided outside: the flag, the resolver, and (for tests) fetch, the clock and a cache. */
export interface DestinationOptions {
  allowPrivate: boolean;
  resolverUrl: string;
  fetch?: typeof fetch;
  now?: () => number;
  cache?: ResolveCache;
}

export type Resolution =
  | { kind: "public"; addresses: string[] }
  | { kind: "refused"; address: string; problem: string }
  | { kind: "unresolved"; reason: string };

/** Settled answers by resolver and host (plain values: a promise made in one request must not be awaited in another). */
export type ResolveCache = Map<string, { until: number; resolution: Resolution }>;

const sharedCache: ResolveCache = new Map();

/** The options from the configuration (fetch and the clock are the runtime's). */
export function destinationOptions(cfg: Config): DestinationOptions {
  return { allowPrivate: cfg.ALLOW_PRIVATE_DESTINATIONS, resolverUrl: cfg.DNS_RESOLVER_URL };
}

interface DohAnswer {
  Status: number;
  Answer?: { name: string; type: number; TTL: number; data: string }[];
}

/** One DoH question; throws on a transport error or an answer that is not DNS JSON. */
async function ask(name: string, type: number, opts: DestinationOptions): Promise<DohAnswer> {
  const url = new URL(opts.resolverUrl);
  url.searchParams.set("name", name);
  url.searchParams.set("type", String(type));
  const doFetch = opts.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  const res = await doFetch(url.toString(), { headers: { accept: "application/dns-json" }, signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`resolver answered HTTP ${res.status}`);
  const body = (await res.json()) as DohAnswer;
  if (typeof body?.Status !== "number") throw new Error("resolver answer is not DNS JSON");
  return body;
}

/** The addresses of one type for a name, following CNAME chains (the resolver usually does; we do when it stops short). */
async function addressesOf(host: string, type: number, opts: DestinationOptions): Promise<Resolution & { ttl: number }> {
  let name = host;
  let ttl = CACHE_MAX_MS / 1000;
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const answer = await ask(name, type, opts);
    // NXDOMAIN (3) is "no such name"; other non-zero codes (SERVFAIL…) mean the resolver could not say.
    if (answer.Status !== 0) return { kind: "unresolved", reason: answer.Status === 3 ? "no such name" : `DNS status ${answer.Status}`, ttl: 0 };
    const records = answer.Answer ?? [];
    for (const r of records) ttl = Math.min(ttl, Math.max(0, r.TTL));
    for (const r of records) {
      if (r.type !== TYPE_CNAME) continue;
      const problem = nameProblem(r.data);
      if (problem) return { kind: "refused", address: r.data.replace(/\.$/, ""), problem, ttl };
    }
    const addresses = records.filter((r) => r.type === type).map((r) => r.data);
    for (const address of addresses) {
      const problem = addressProblem(address);
      if (problem) return { kind: "refused", address, problem, ttl };
    }
    if (addresses.length > 0) return { kind: "public", addresses, ttl };
    const cname = records.filter((r) => r.type === TYPE_CNAME).at(-1);
    if (!cname) return { kind: "public", addresses: [], ttl };
    name = cname.data;
  }
  return { kind: "unresolved", reason: "CNAME chain too long", ttl: 0 };
}

/**
 * Resolves a host name (A and AAAA) and judges every address: refused if any is private, loopback, link-local,
 * CGNAT, metadata or otherwise not public (fetch may pick any of them), unresolved if no address came back or
 * the resolver could not answer.
 */
export async function resolveHost(host: string, opts: DestinationOptions): Promise<Resolution> {
  const now = opts.now ?? Date.now;
  const cache = opts.cache ?? sharedCache;
  const key = `${opts.resolverUrl} ${host}`;
  const hit = cache.get(key);
  if (hit && hit.until > now()) return hit.resolution;
  let resolution: Resolution;
  let ttlMs: number;
  try {
    const [a, aaaa] = await Promise.all([addressesOf(host, TYPE_A, opts), addressesOf(host, TYPE_AAAA, opts)]);
    const refused = [a, aaaa].find((r) => r.kind === "refused");
    const unresolved = [a, aaaa].find((r) => r.kind === "unresolved");
    const addresses = [a, aaaa].flatMap((r) => (r.kind === "public" ? r.addresses : []));
    // One family unanswered could hide a private address that fetch would pick, so it makes the whole host unresolved.
    if (refused) resolution = refused;
    else if (unresolved) resolution = unresolved;
    else if (addresses.length > 0) resolution = { kind: "public", addresses };
    else resolution = { kind: "unresolved", reason: "no A or AAAA records" };
    ttlMs = resolution.kind === "unresolved" ? NEGATIVE_CACHE_MS : (refused?.ttl ?? Math.min(a.ttl, aaaa.ttl)) * 1000;
  } catch (err) {
    resolution = { kind: "unresolved", reason: `resolver unreachable: ${err instanceof Error ? err.message : String(err)}` };
    ttlMs = NEGATIVE_CACHE_MS;
  }
  ttlMs = Math.min(ttlMs, CACHE_MAX_MS);
  if (ttlMs > 0) {
    // Bounded: oldest first (a Map keeps insertion order), and a refreshed host moves to the back.
    cache.delete(key);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, { until: now() + ttlMs, resolution });
  }
  return resolution;
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname.replace(/\.+$/, "");
  } catch {
    return null;
  }
}

/**
 * When a webhook is written: why its host's DNS answer is refused, as a sentence for the customer, or null. A host
 * that does not resolve (yet) is accepted; nothing is sent to it until it resolves to public addresses.
 */
export async function resolutionError(url: string, opts: DestinationOptions): Promise<string | null> {
  if (opts.allowPrivate) return null;
  const host = hostOf(url);
  if (!host || isIpLiteral(host)) return null;
  // A fresh answer: the customer may just have fixed their DNS.
  const resolution = await resolveHost(host, { ...opts, cache: new Map() });
  if (resolution.kind !== "refused") return null;
  return `The webhook URL's host ${host} resolves to ${resolution.address} (${resolution.problem}), which the dispatcher must not call; use a publicly reachable host.`;
}

/**
 * Before a send: null when the destination may be called, else DESTINATION_REFUSED. The URL rules apply again (a
 * webhook stored while private destinations were allowed is refused once they are not), then its host's DNS.
 */
export async function checkDestination(url: string, opts: DestinationOptions): Promise<string | null> {
  if (opts.allowPrivate) return null;
  if (destinationError(url, { allowPrivate: false })) return DESTINATION_REFUSED;
  const host = hostOf(url);
  if (!host) return DESTINATION_REFUSED;
  if (isIpLiteral(host)) return null;
  const resolution = await resolveHost(host, opts);
  if (resolution.kind === "public") return null;
  // The operator's log says why; the attempt, which the customer sees, says only that it was refused.
  console.warn("destination refused", host, resolution.kind === "refused" ? `${resolution.address} (${resolution.problem})` : resolution.reason);
  return DESTINATION_REFUSED;
}

/**
 * Sends one attempt if its destination passes checkDestination; otherwise answers a failed attempt that made no
 * request (retried like any failure). The one way the queue reaches a receiver.
 */
export async function sendChecked(
  req: OutgoingRequest,
  opts: DestinationOptions,
  fetchFn?: typeof fetch,
  clock: () => number = Date.now,
): Promise<SentAttempt> {
  const refused = await checkDestination(req.url, opts);
  if (!refused) return sendRequest(req, fetchFn, clock);
  return { result: { error: refused }, startedAt: clock(), durationMs: 0, responseHeaders: null, responseBody: null };
}
