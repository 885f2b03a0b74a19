#!/usr/bin/env node
// A/B of a recommended change: `node bench/compare.mjs --variant=NAME[,NAME] [--rounds=N]` runs the service as it
// is (A) and with the variant applied to a copy of src/ (B, see variants.mjs) side by side, with the baseline, and
// alternates their rounds so that both see the same machine. Measures single ingest (deliveries held), end to end
// at light load, and delivered/s with 1 and 10 webhooks; writes bench/results/compare-NAME.json. Bounded, 127.0.0.1
// only, and every child is killed on exit, like run.mjs.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeOnExit } from "./lib/cleanup.mjs";
import { startWrangler } from "./lib/instance.mjs";
import { client, percentile, pool, round, steadyRate, summary } from "./lib/load.mjs";
import { loadAverage } from "./lib/proc.mjs";
import { startReceiver } from "./lib/receiver.mjs";
import { accountWithWebhooks, event, platformHeaders, SERVICE_VARS } from "./lib/service.mjs";
import { bundleSnapshot, snapshotSource } from "./lib/snapshot.mjs";
import { ROOT } from "./lib/wrangler.mjs";
import { applyVariants } from "./variants.mjs";

const argv = process.argv.slice(2);
const names = argv
  .find((a) => a.startsWith("--variant="))
  ?.slice(10)
  .split(",")
  .filter(Boolean);
if (!names?.length) {
  console.error("usage: node bench/compare.mjs --variant=NAME[,NAME] [--rounds=N]");
  process.exit(64);
}
const ROUNDS = Number(argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 3);
const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
setTimeout(() => {
  console.error("compare: hard limit of 8 minutes reached; stopping");
  process.exit(2);
}, 480_000).unref();

if (!existsSync(join(ROOT, "bench/baseline/.wrangler"))) removeOnExit(join(ROOT, "bench/baseline/.wrangler"));

async function main() {
  const load0 = loadAverage();
  const a = snapshotSource();
  const b = snapshotSource();
  const variants = await applyVariants(names, b.dir, { readFileSync, writeFileSync, join });
  const [ca, cb] = [bundleSnapshot(a.dir), bundleSnapshot(b.dir)];
  const rcv = await startReceiver();
  const [svcA, svcB, base] = await Promise.all([
    startWrangler({ name: "A", config: ca.service, vars: SERVICE_VARS, migrate: true, readyPath: "/v1/event-types" }),
    startWrangler({ name: "B", config: cb.service, vars: SERVICE_VARS, migrate: true, readyPath: "/v1/event-types" }),
    startWrangler({ name: "baseline", config: "bench/baseline/wrangler.toml", vars: { RECEIVER: rcv.url }, readyPath: "/?noop" }),
  ]);
  log(`A = src/ as it is (${a.src_sha256}), B = with ${names.join(", ")}; load average ${load0.join(" ")}`);
  const held = { retry: { max_attempts: 30, base_delay_ms: 60_000, multiplier: 1, max_delay_ms: 60_000 } };
  const targets = [];
  for (const [key, inst] of [
    ["A", svcA],
    ["B", svcB],
  ]) {
    const c = client(inst.url);
    const t = {
      key,
      c,
      ingest: await accountWithWebhooks(inst.url, { name: "ingest", count: 1, receiverUrl: rcv.url, tag: `${key}ing`, settings: held }),
      one: await accountWithWebhooks(inst.url, { name: "one", count: 1, receiverUrl: rcv.url, tag: `${key}one` }),
      ten: await accountWithWebhooks(inst.url, { name: "ten", count: 10, receiverUrl: rcv.url, tag: `${key}ten` }),
      one_: (accountId, id) => c.post("/v1/events", JSON.stringify(event(accountId, id)), platformHeaders),
      batch: (accountId, ids) => c.post("/v1/events/batch", { events: ids.map((id) => event(accountId, id)) }, platformHeaders),
    };
    await rcv.answer(`${key}ing`, 503);
    targets.push(t);
  }
  const cbase = client(base.url);
  const m = { A: { ingest: [], light: [], w1: [], w10: [] }, B: { ingest: [], light: [], w1: [], w10: [] }, baseline: [] };

  for (let r = 0; r < ROUNDS; r++) {
    // Baseline forwarded/s for the ratio.
    const nb = 400;
    await pool(nb, 16, (i) => cbase.post("/b/cbase", "{}", { "webhook-id": `b${r}-${i}` }));
    await rcv.waitFor(() => rcv.count("cbase"), nb, 10_000);
    m.baseline.push(steadyRate((await rcv.take("cbase")).times));
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      // Single ingest, deliveries held.
      const res = await pool(150, 16, (i) => t.one_(t.ingest.accountId, `i${r}-${i}`));
      const ok = res.results.filter((x) => x.status === 202).length;
      const lat = res.results.map((x) => x.end - x.start);
      m[t.key].ingest.push({ rate: (ok * 1000) / res.elapsedMs, p50: percentile(lat, 50) });
      // Light load: one at a time.
      const tag = `${t.key}one`;
      const sent = [];
      const accepted = [];
      for (let i = 0; i < 15; i++) {
        const id = `l${r}-${i}`;
        const x = await t.one_(t.one.accountId, id);
        await rcv.waitFor(() => rcv.count(tag), i + 1, 10_000);
        const got = await rcv.count(tag);
        if (got.delivered >= i + 1) sent.push(x);
        await sleep(20);
      }
      const arrivals = await rcv.take(tag);
      arrivals.ids.forEach((id, k) => {
        const x = sent.find((_, j) => `l${r}-${j}` === id);
        if (x) accepted.push({ sent: arrivals.times[k] - x.start, after202: arrivals.times[k] - x.end });
      });
      m[t.key].light.push({
        sent_p50: percentile(
          accepted.map((x) => x.sent),
          50,
        ),
        p50: percentile(
          accepted.map((x) => x.after202),
          50,
        ),
      });
      // Delivered/s with 1 and 10 webhooks (batch-fed).
      for (const [k, acc, prefix, w, n] of [
        ["w1", t.one, `${t.key}one`, 1, 300],
        ["w10", t.ten, `${t.key}ten-`, 10, 60],
      ]) {
        await pool(Math.ceil(n / 100), 2, (i) =>
          t.batch(
            acc.accountId,
            Array.from({ length: Math.min(100, n - i * 100) }, (_, j) => `${k}-${r}-${i}-${j}`),
          ),
        );
        await rcv.waitFor(() => rcv.countMany(prefix), n * w, 90_000);
        m[t.key][k].push(steadyRate((await rcv.takeMany(prefix)).times));
      }
    }
    log(
      `round ${r}: baseline ${round(m.baseline.at(-1))}/s | A: ingest ${round(m.A.ingest.at(-1).rate)}/s, light ${round(m.A.light.at(-1).sent_p50)} ms, 1 wh ${round(m.A.w1.at(-1))}/s, 10 wh ${round(m.A.w10.at(-1))}/s | B: ingest ${round(m.B.ingest.at(-1).rate)}/s, light ${round(m.B.light.at(-1).sent_p50)} ms, 1 wh ${round(m.B.w1.at(-1))}/s, 10 wh ${round(m.B.w10.at(-1))}/s`,
    );
  }
  const fold = (t) => ({
    ingest_events_per_s: summary(m[t].ingest.map((x) => x.rate)),
    ingest_p50_ms: summary(m[t].ingest.map((x) => x.p50)),
    e2e_light_sent_p50_ms: summary(m[t].light.map((x) => x.sent_p50)),
    e2e_light_202_p50_ms: summary(m[t].light.map((x) => x.p50)),
    delivered_per_s_w1: summary(m[t].w1),
    delivered_per_s_w10: summary(m[t].w10),
    ratio_w1: summary(m[t].w1.map((x, i) => x / m.baseline[i])),
    ratio_w10: summary(m[t].w10.map((x, i) => x / m.baseline[i])),
  });
  const out = {
    date: new Date().toISOString(),
    load_average_before: load0,
    load_average_after: loadAverage(),
    a: { src_sha256: a.src_sha256 },
    b: { variants },
    rounds: ROUNDS,
    baseline_forwarded_per_s: summary(m.baseline),
    A: fold("A"),
    B: fold("B"),
  };
  const file = join(ROOT, "bench", "results", `compare-${names.join("+")}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote ${file}`);
  for (const k of Object.keys(out.A)) log(`${k.padEnd(24)} A ${String(out.A[k].median).padStart(8)}   B ${String(out.B[k].median).padStart(8)}`);
  await Promise.all([svcA.stop(), svcB.stop(), base.stop()]);
  for (const t of targets) t.c.close();
  cbase.close();
  await rcv.close();
}

main()
  .then(() => process.exit(0))
  .catch((err) => {
    console.error("compare failed:", err?.stack ?? err);
    process.exit(1);
  });
