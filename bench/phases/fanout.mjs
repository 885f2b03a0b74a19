// Phase "fanout": a broadcast (system.maintenance to every account) to 1,000 and then 3,000 webhooks, 10 to an
// account, which goes through the FANOUT Cloudflare Queue (more than FANOUT_DIRECT_MAX webhooks): how long ingest
// takes to answer it, beside an ordinary event's ingest on the same service, and how long until every webhook has it.
// The accounts of the first size stay for the next (3,000 = the 1,000 and 2,000 more).
import { client, now, pool, round } from "../lib/load.mjs";
import { platformHeaders } from "../lib/service.mjs";

const MAINTENANCE = { window: { starts_at: "2026-12-05T02:00:00.000Z", ends_at: "2026-12-05T03:00:00.000Z" }, message: "bench" };
const PER_ACCOUNT = 10;
const TAG = "fo";

export async function fanout(ctx) {
  const { P, rcv, t, log, svc } = ctx;
  await ctx.detach();
  const c = client(svc.url);
  const out = { per_account: PER_ACCOUNT, sizes: [] };
  // An ordinary event to compare with: one account, one webhook, the direct path.
  const plain = await t.account("fanout ordinary", 1, "plain");
  const ordinary = async () => {
    const ms = [];
    for (let i = 0; i < 11; i++) {
      const r = await t.ingestOne(plain.accountId, `fo-plain-${out.sizes.length}-${i}`);
      if (i > 0) ms.push(r.end - r.start);
    }
    return round(ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]);
  };
  // wrangler dev restarts its runtime now and then under load ("Your worker restarted mid-request"): an account whose
  // set-up failed is made again under the same tag. Its part made before stays and gets the broadcast too, so what
  // is waited for is the answer's count of deliveries.
  const made = async (n) => {
    for (let tries = 1; ; tries++) {
      try {
        return await t.account(`fanout ${n}`, PER_ACCOUNT, `${TAG}${n}`, { events: ["system.maintenance"] });
      } catch (err) {
        if (tries === 3) throw err;
        ctx.note(`fanout: setting up account ${n} failed once (${String(err.message).slice(0, 120)}); made again`);
      }
    }
  };
  let accounts = 0;
  try {
    for (const size of P.fanout) {
      if (ctx.spare("fanout") < 20_000) {
        ctx.note(`fanout ${size}: skipped, out of time`);
        continue;
      }
      const setup = now();
      const more = Math.ceil(size / PER_ACCOUNT) - accounts;
      await pool(more, 4, (i) => made(accounts + i));
      accounts += more;
      const webhooks = accounts * PER_ACCOUNT;
      log(`fanout: ${webhooks} webhooks in ${accounts} accounts (${round((now() - setup) / 1000)} s to set up); broadcasting`);
      await rcv.takeMany(TAG);
      const ordinaryMs = await ordinary();
      const sent = now();
      const answer = await c.post("/v1/events", { id: `mnt-bench-${webhooks}`, type: "system.maintenance", data: MAINTENANCE }, platformHeaders);
      const budget = Math.max(20_000, ctx.spare("fanout"));
      const owed = answer.status === 202 ? JSON.parse(answer.body).deliveries : webhooks;
      // The local queue broker keeps its messages in memory and can lose them when workerd evicts its objects (with
      // thousands awake): when arrivals stall for 20 s the cron is run, which queues again the pages not done.
      const deadline = Date.now() + budget;
      let crons = 0;
      let last = -1;
      let lastChange = Date.now();
      for (;;) {
        const { delivered } = await rcv.countMany(TAG);
        if (delivered >= owed || Date.now() > deadline) break;
        if (delivered !== last) {
          last = delivered;
          lastChange = Date.now();
        } else if (Date.now() - lastChange > 20_000) {
          await fetch(`${svc.url}/cdn-cgi/handler/scheduled`).then((r) => r.text());
          crons++;
          lastChange = Date.now();
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const complete = (await rcv.countMany(TAG)).delivered >= owed;
      // A moment more, so that a second copy would be counted.
      await new Promise((r) => setTimeout(r, 1000));
      const got = await rcv.takeMany(TAG);
      const times = Float64Array.from(got.times).sort();
      const entry = {
        webhooks,
        accounts,
        status: answer.status,
        deliveries_answered: answer.status === 202 ? owed : null,
        ingest_ms: round(answer.end - answer.start),
        ordinary_ingest_ms: ordinaryMs,
        delivered: got.ids.length,
        unique: new Set(got.ids).size,
        first_ms: times.length ? round(times[0] - sent) : null,
        all_ms: complete && times.length ? round(times[times.length - 1] - sent) : null,
        complete,
        crons_to_requeue: crons,
      };
      if (!complete) ctx.note(`fanout ${webhooks}: ${got.ids.length} of ${owed} arrived within ${round(budget / 1000)} s`);
      log(
        `   ${webhooks} webhooks: 202 in ${entry.ingest_ms} ms (an ordinary event ${ordinaryMs} ms); first delivery at ${entry.first_ms} ms, all ${entry.all_ms ?? "–"} ms; ${entry.unique} unique of ${entry.delivered}${crons ? `; the cron run ${crons}× to queue lost pages again` : ""}`,
      );
      out.sizes.push(entry);
    }
  } finally {
    c.close();
  }
  return out;
}
