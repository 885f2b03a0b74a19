import type { Env } from "../config";

/**
 * Object ids by webhook, per namespace: idFromName hashes the name, and ingest asks for the same few webhooks on every
 * event. An id is a plain value (no I/O), so one made in one request serves the next; a stub is not, so it is made
 * each time.
 */
const ids = new WeakMap<object, Map<string, DurableObjectId>>();
const IDS_KEPT = 10_000;

/** The Durable Object stub of one webhook's queue (one object per webhook, named by its id). */
export function queueOf(env: Env, webhookId: string) {
  const ns = env.WEBHOOK_QUEUE;
  let known = ids.get(ns);
  if (!known) ids.set(ns, (known = new Map()));
  let id = known.get(webhookId);
  if (!id) {
    id = ns.idFromName(webhookId);
    if (known.size >= IDS_KEPT) known.clear();
    known.set(webhookId, id);
  }
  return ns.get(id);
}
