// What the phases send: single events and batches to the service, requests to the forward-only baseline, and the
// receiver-side wait for what they owe. One keep-alive client per runtime, shared by every phase.
import { client, pool } from "./load.mjs";
import { accountWithWebhooks, event, platformHeaders } from "./service.mjs";

/** The senders for one run against `svc` and `base`, delivering to the receiver `rcv`. */
export function traffic({ svc, base, rcv, batchSize }) {
  const c = client(svc.url);
  const cb = client(base.url);
  const body = (accountId, id) => JSON.stringify(event(accountId, id));
  const ingestBatch = (accountId, ids) => c.post("/v1/events/batch", { events: ids.map((id) => event(accountId, id)) }, platformHeaders);
  return {
    /** A new account whose `count` webhooks (with `settings`) deliver to the receiver under `tag`. */
    account: (name, count, tag, settings = {}) => accountWithWebhooks(svc.url, { name, count, receiverUrl: rcv.url, tag, settings }),
    /** POST /v1/events: one event with a chosen id. */
    ingestOne: (accountId, id) => c.post("/v1/events", body(accountId, id), platformHeaders),
    ingestBatch,
    /** `n` event ids `${prefix}-<batch>-<k>`, cut into batch-ingest requests of `batchSize`. */
    batchesOf: (prefix, n) =>
      Array.from({ length: Math.ceil(n / batchSize) }, (_, i) =>
        Array.from({ length: Math.min(batchSize, n - i * batchSize) }, (_, k) => `${prefix}-${i}-${k}`),
      ),
    /** Ingests those batches, 2 requests in flight; the answers come back in batch order. */
    feedBatches: (accountId, batches) => pool(batches.length, 2, (i) => ingestBatch(accountId, batches[i])),
    /** The same event body to the baseline, which forwards it to the receiver under `tag` (`?async`: 202 first). */
    forward: (tag, id, mode = "") => cb.post(`/b/${tag}${mode}`, body("acc_baseline", id), { "webhook-id": id }),
    /** The same body to the baseline's durable floor: stored in D1 and an object before its 202, then sent (`tag`;
     * `?object-only`: in the object only). */
    floor: (tag, id, mode = "") => cb.post(`/floor/${tag}${mode}`, body("acc_baseline", id), { "webhook-id": id }),
    /** Waits until the receiver has `n` deliveries under a prefix; false if `ms` passed first. */
    drained: (prefix, n, ms) => rcv.waitFor(() => rcv.countMany(prefix), n, ms),
    close() {
      c.close();
      cb.close();
    },
  };
}

/** How many events of a batch-ingest answer were accepted: all on 202, those without an error on 207, none else. */
export function acceptedEvents(answer, size) {
  if (answer.status === 202) return size;
  if (answer.status !== 207) return 0;
  try {
    return JSON.parse(answer.body).data.filter((d) => d && !("error" in d)).length;
  } catch {
    return 0;
  }
}
