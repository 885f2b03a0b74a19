// Phase "ingest": ingest alone, single and batch. The one matching webhook's receiver answers 503 and its retry
// waits a minute, so each event takes the whole ingest path (validation, D1 writes, the hand-off to the Durable
// Object and its SQLite insert) while no delivery competes for the two cores; the other phases measure delivery.
import { percentile, pool, round, summary } from "../lib/load.mjs";
import { acceptedEvents } from "../lib/traffic.mjs";

const clamp = (x, lo, hi) => Math.max(lo, Math.min(hi, Math.round(x)));

export async function ingest(ctx) {
  const { P, rcv, t, log, svc } = ctx;
  const acc = await t.account("ingest", 1, "ing", { retry: { max_attempts: 30, base_delay_ms: 60_000, multiplier: 1, max_delay_ms: 60_000 } });
  await ctx.detach();
  log("ingest alone: single (16 clients) and batch (100 a request, 2 clients), one webhook whose deliveries are held");
  await rcv.answer("ing", 503);
  const single = [];
  const batch = [];
  let nSingle = P.ingestSingle;
  let nBatch = P.ingestBatchRequests;
  for (let r = 0; r < P.rounds && (r === 0 || ctx.spare("ingest") > 5000); r++) {
    let cpu0 = svc.cpu().total;
    const one = await pool(nSingle, P.concurrency, (i) => t.ingestOne(acc.accountId, `ing-s${r}-${i}`));
    const ok = one.results.filter((x) => x.status === 202).length;
    const lat = one.results.map((x) => x.end - x.start);
    single.push({
      events_per_s: (ok * 1000) / one.elapsedMs,
      p50_ms: percentile(lat, 50),
      p99_ms: percentile(lat, 99),
      cpu_ms_per_event: (svc.cpu().total - cpu0) / Math.max(1, ok),
      errors: one.results.length - ok,
    });

    cpu0 = svc.cpu().total;
    const ids = (i) => Array.from({ length: P.batchSize }, (_, k) => `ing-b${r}-${i}-${k}`);
    const b = await pool(nBatch, P.batchConcurrency, (i) => t.ingestBatch(acc.accountId, ids(i)));
    const accepted = b.results.reduce((n, x) => n + acceptedEvents(x, P.batchSize), 0);
    const blat = b.results.map((x) => x.end - x.start);
    batch.push({
      events_per_s: (accepted * 1000) / b.elapsedMs,
      p50_ms: percentile(blat, 50),
      p99_ms: percentile(blat, 99),
      cpu_ms_per_event: (svc.cpu().total - cpu0) / Math.max(1, accepted),
      errors: nBatch * P.batchSize - accepted,
    });
    const sx = single.at(-1);
    const bx = batch.at(-1);
    log(
      `   round ${r}: single ${round(sx.events_per_s)} ev/s p50 ${round(sx.p50_ms)} ms p99 ${round(sx.p99_ms)} ms (${round(sx.cpu_ms_per_event)} CPU ms/event) | batch ${round(bx.events_per_s)} ev/s, request p50 ${round(bx.p50_ms)} ms (${round(bx.cpu_ms_per_event)} CPU ms/event)`,
    );
    nSingle = clamp(sx.events_per_s * P.roundSeconds, 50, 5000);
    nBatch = clamp((bx.events_per_s * P.roundSeconds) / P.batchSize, 2, 50);
  }
  // Deleting the webhook lets its held deliveries go (cancelled), so nothing of this phase lingers.
  await fetch(`${svc.url}/v1/webhooks/${acc.webhooks[0].id}`, { method: "DELETE", headers: { authorization: `Bearer ${acc.key}` } });
  const keys = ["events_per_s", "p50_ms", "p99_ms", "cpu_ms_per_event"];
  const fold = (list) => ({ ...Object.fromEntries(keys.map((k) => [k, summary(list.map((x) => x[k]))])), errors: list.reduce((s, x) => s + x.errors, 0) });
  return {
    concurrency: P.concurrency,
    batch_size: P.batchSize,
    batch_concurrency: P.batchConcurrency,
    single: fold(single),
    batch: fold(batch),
  };
}
