// Phase "batchfed": sustained deliveries per second when events arrive in batches (2 requests of up to 100 in
// flight), with 1, 10 and 100 matching strict webhooks, against the baseline's forwards from 16 clients in the same
// round. The rate is taken at the receiver over the middle 80 % of the arrivals. Kept beside the single-event path:
// it shows what the queue can send when ingest is cheap.
import { cpuPer } from "../lib/instance.mjs";
import { now, pool, round, steadyRate, summary } from "../lib/load.mjs";
import { acceptedEvents } from "../lib/traffic.mjs";

const clamp = (x, lo, hi) => Math.max(lo, Math.min(hi, Math.round(x)));
const PROCESSES = ["workerd", "proxy", "wrangler"];

export async function batchfed(ctx) {
  const { P, rcv, t, log, svc, base } = ctx;
  const acc = {
    w1: await t.account("batch-fed, one", 1, "one"),
    w10: await t.account("batch-fed, ten", 10, "ten"),
    w100: await t.account("batch-fed, hundred", 100, "hun"),
  };
  await ctx.detach();
  log("batch-fed delivered/s: baseline (16 clients), then 1, 10 and 100 webhooks fed by batch ingest, interleaved per round");

  const measured = (inst, fn) => async () => {
    const c0 = inst.cpu();
    const out = await fn();
    const c1 = inst.cpu();
    return { ...out, cpu_per: (c1.total - c0.total) / Math.max(1, out.delivered), cpu_split: cpuPer(c0, c1, out.delivered) };
  };
  const baselineRound = async (n) => {
    const { results: res } = await pool(n, P.concurrency, (i) => t.forward("base", `b-${Date.now().toString(36)}-${i}`));
    await rcv.waitFor(() => rcv.count("base"), n, 10_000);
    const got = await rcv.take("base");
    return { rate: steadyRate(got.times), delivered: got.ids.length, errors: res.filter((x) => x.status !== 202).length };
  };
  const serviceRound = async (account, prefix, events, webhooks, r) => {
    const batches = t.batchesOf(`${prefix}r${r}`, events);
    const feedStart = now();
    const feed = await t.feedBatches(account.accountId, batches);
    const feedMs = now() - feedStart;
    // Only accepted events are owed a delivery: a batch refused whole (wrangler's "worker restarted mid-request"
    // 503, workers-sdk#14641) or in part (207) must not leave the round waiting out its budget for them.
    const expected = feed.results.reduce((sum, x, i) => sum + acceptedEvents(x, batches[i].length), 0) * webhooks;
    const complete = await t.drained(prefix, expected, Math.max(30_000, Math.min(180_000, ctx.spare("batchfed"))));
    const got = await rcv.takeMany(prefix);
    const bad = feed.results.filter((x) => x.status !== 202);
    for (const x of bad.slice(0, 2)) ctx.note(`${prefix} feed: HTTP ${x.status} ${x.body.slice(0, 300)}`);
    return { rate: steadyRate(got.times), delivered: got.ids.length, expected, complete, feed_events_per_s: (events * 1000) / feedMs };
  };

  const rounds = { baseline: [], w1: [], w10: [], w100: [] };
  const n = { ...P.firstRound };
  const roundMs = (4 * P.roundSeconds + 10) * 1000;
  for (let r = 0; r < P.heavyRounds && (r === 0 || ctx.spare("batchfed") > roundMs); r++) {
    const b = await measured(base, () => baselineRound(n.baseline))();
    rounds.baseline.push(b);
    for (const [key, prefix, w] of [
      ["w1", "one", 1],
      ["w10", "ten-", 10],
      ["w100", "hun-", 100],
    ]) {
      const s = await measured(svc, () => serviceRound(acc[key], prefix, n[key], w, r))();
      rounds[key].push({ ...s, ratio: s.rate && b.rate ? s.rate / b.rate : null });
      if (!s.complete) ctx.note(`batch-fed ${key} round ${r}: ${s.delivered}/${s.expected} delivered within the round's budget`);
      n[key] = clamp(((s.rate ?? 10) * P.roundSeconds) / w, w === 100 ? 2 : 10, 5000);
    }
    n.baseline = clamp((b.rate ?? 100) * P.roundSeconds, 200, 20_000);
    log(
      `   round ${r}: baseline ${round(b.rate)} req/s | 1 wh ${round(rounds.w1.at(-1).rate)} | 10 wh ${round(rounds.w10.at(-1).rate)} | 100 wh ${round(rounds.w100.at(-1).rate)} deliveries/s`,
    );
  }
  const byProcess = (list) => Object.fromEntries(PROCESSES.map((k) => [k, summary(list.map((x) => x.cpu_split[k]))]));
  const fold = (list) => ({
    delivered_per_s: summary(list.map((x) => x.rate)),
    ratio_to_baseline: summary(list.map((x) => x.ratio)),
    cpu_ms_per_delivery: summary(list.map((x) => x.cpu_per)),
    cpu_ms_per_delivery_by_process: byProcess(list),
    deliveries_per_round: list.map((x) => x.delivered),
    feed_events_per_s: summary(list.map((x) => x.feed_events_per_s)),
  });
  return {
    baseline: {
      concurrency: P.concurrency,
      forwarded_per_s: summary(rounds.baseline.map((x) => x.rate)),
      cpu_ms_per_request: summary(rounds.baseline.map((x) => x.cpu_per)),
      cpu_ms_per_request_by_process: byProcess(rounds.baseline),
    },
    w1: fold(rounds.w1),
    w10: fold(rounds.w10),
    w100: fold(rounds.w100),
  };
}
