// Phase "openloop": end to end at a steady rate, single events sent on a clock (a slow answer does not delay the
// next send) at half of what this machine ingests and delivers at once, to the service and to the baseline's
// `?async` path (202 first, forward in waitUntil: the shape of the service).
import { openLoop, percentile, round, summary } from "../lib/load.mjs";

export async function openloop(ctx, { ingestRate, deliverRate }) {
  const { P, rcv, t, log } = ctx;
  const acc = await t.account("open loop", 1, "ol");
  await ctx.detach();
  // Ingest and delivery share the two cores, so the rate the machine sustains doing both is the harmonic
  // combination of the two measured rates; the open loop runs at half of it.
  const both = ingestRate && deliverRate ? 1 / (1 / ingestRate + 1 / deliverRate) : (ingestRate ?? deliverRate);
  const rate = both ? Math.max(2, both / 2) : 10;
  log(`end to end at load: ${round(rate)} events/s open loop (half of what this machine ingests and delivers at once), service and baseline`);
  const atLoad = async (prefix, count, send) => {
    const { results: res } = await openLoop(count, rate, (i) => {
      const id = `${prefix}-${Date.now().toString(36)}-${i}`;
      return send(id).then((r) => ({ ...r, id }));
    });
    const accepted = new Map(res.filter((x) => x.status === 202).map((x) => [x.id, x]));
    await t.drained(prefix, accepted.size, 60_000);
    const got = await rcv.take(prefix);
    const a = [];
    const s = [];
    got.ids.forEach((id, k) => {
      const x = accepted.get(id);
      if (!x) return;
      a.push(got.times[k] - x.end);
      s.push(got.times[k] - x.start);
    });
    return {
      p50: percentile(a, 50),
      p95: percentile(a, 95),
      p99: percentile(a, 99),
      sent_p50: percentile(s, 50),
      sent_p95: percentile(s, 95),
      sent_p99: percentile(s, 99),
      lost: accepted.size - a.length,
    };
  };
  const count = Math.max(10, Math.round(rate * P.loadSeconds));
  const svcRounds = [];
  const baseRounds = [];
  for (let r = 0; r < P.heavyRounds && (r === 0 || ctx.spare("openloop") > 2 * P.loadSeconds * 1000 + 5000); r++) {
    baseRounds.push(await atLoad("lla", count, (id) => t.forward("lla", id, "?async")));
    svcRounds.push(await atLoad("ol", count, (id) => t.ingestOne(acc.accountId, id)));
    log(
      `   round ${r}: service p50 ${round(svcRounds.at(-1).p50)} p99 ${round(svcRounds.at(-1).p99)} ms | baseline p50 ${round(baseRounds.at(-1).p50)} p99 ${round(baseRounds.at(-1).p99)} ms`,
    );
  }
  const keys = ["p50", "p95", "p99", "sent_p50", "sent_p95", "sent_p99"];
  const fold = (list) => Object.fromEntries(keys.map((k) => [k, summary(list.map((x) => x[k]))]));
  return {
    events_per_s: round(rate),
    events_per_round: count,
    service: { ...fold(svcRounds), lost: svcRounds.reduce((n, x) => n + x.lost, 0) },
    baseline: fold(baseRounds),
  };
}
