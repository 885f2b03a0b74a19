#!/usr/bin/env node
// `npm run bench` — throughput, end-to-end latency, fan-out, backlog drain and cost per million deliveries of the
// service under `wrangler dev`, against a baseline Worker in the same runtime, in one bounded run.
// Flags: --quick (a ~2-minute smoke run with small counts), --phases=a,b (only some phases: baseline is always
// measured), --out=FILE. Traffic goes to 127.0.0.1 only; every child process is killed on exit, error or signal.
// bench/README.md says what each figure means.
import { execSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { measureCost, PRICES } from "./lib/cost.mjs";
import { detachDevtools, workerHeapMib } from "./lib/inspector.mjs";
import { client, now, openLoop, percentile, pool, round, steadyRate, summary } from "./lib/load.mjs";
import {
  bundleSnapshot,
  cpuMs,
  descendants,
  loadAverage,
  memory,
  ROOT,
  removeOnExit,
  resetPeak,
  rssSampler,
  snapshotSource,
  startWrangler,
} from "./lib/proc.mjs";
import { startReceiver } from "./lib/receiver.mjs";
import { writeReadme, writeSvg } from "./lib/report.mjs";
import { accountWithWebhooks, event, platformHeaders, SERVICE_VARS } from "./lib/service.mjs";
import { applyVariants } from "./variants.mjs";

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const only = argv
  .find((a) => a.startsWith("--phases="))
  ?.slice(9)
  .split(",");
const VARIANT = argv
  .find((a) => a.startsWith("--variant="))
  ?.slice(10)
  .split(",")
  .filter(Boolean);
const OUT =
  argv.find((a) => a.startsWith("--out="))?.slice(6) ??
  join(
    ROOT,
    "bench",
    "results",
    VARIANT ? `variant-${VARIANT.join("+")}${QUICK ? "-quick" : ""}.json` : only ? "partial.json" : QUICK ? "quick.json" : "latest.json",
  );
const phase = (name) => !only || only.includes(name);

/** Sizes. Counts adapt between rounds so that each round lasts about `roundSeconds` on whatever this machine is. */
const P = QUICK
  ? {
      rounds: 3,
      heavyRounds: 2,
      roundSeconds: 2.5,
      concurrency: 16,
      ingestSingle: 60,
      ingestBatchRequests: 3,
      batchConcurrency: 2,
      batchSize: 100,
      lightEvents: 10,
      loadSeconds: 3,
      backlog: [100, 400],
      costEvents: { light: 10, load: 60, batch: 100, steady: 60, fanout10: 10 },
      firstRound: { baseline: 300, w1: 60, w10: 15, w100: 2 },
      reserveBacklogMs: 35_000,
      reserveCostMs: 30_000,
      budgetMs: 150_000,
      hardLimitMs: 290_000,
    }
  : {
      rounds: 5,
      heavyRounds: 3,
      roundSeconds: 5,
      concurrency: 16,
      ingestSingle: 200,
      ingestBatchRequests: 6,
      batchConcurrency: 2,
      batchSize: 100,
      lightEvents: 30,
      loadSeconds: 8,
      backlog: [1000, 10000],
      costEvents: { light: 30, load: 300, batch: 300, steady: 300, fanout10: 30 },
      firstRound: { baseline: 600, w1: 150, w10: 30, w100: 4 },
      reserveBacklogMs: 200_000,
      reserveCostMs: 50_000,
      budgetMs: 530_000,
      hardLimitMs: 595_000,
    };

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const left = () => P.budgetMs - (Date.now() - started);

// The run stops by itself whatever happens: past the hard limit it exits (the exit handler kills every child).
setTimeout(() => {
  console.error(`bench: hard limit of ${P.hardLimitMs / 1000} s reached; saving what was measured and stopping`);
  results.notes.push(`stopped at the hard limit of ${P.hardLimitMs / 1000} s`);
  try {
    save();
  } catch {}
  process.exit(2);
}, P.hardLimitMs).unref();

const results = {
  meta: {},
  config: P,
  baseline: {},
  ingest: {},
  e2e: {},
  throughput: {},
  backlog: {},
  cost: null,
  targets: [],
  notes: [],
};

function versions() {
  const read = (p) => {
    try {
      return JSON.parse(readFileSync(join(ROOT, p), "utf8")).version;
    } catch {
      return null;
    }
  };
  const workerd =
    read("node_modules/wrangler/node_modules/@cloudflare/workerd-linux-64/package.json") ?? read("node_modules/@cloudflare/workerd-linux-64/package.json");
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  let commit = null;
  try {
    commit = execSync("git rev-parse --short HEAD", { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {}
  return {
    node: process.version,
    wrangler: read("node_modules/wrangler/package.json"),
    workerd,
    miniflare: read("node_modules/wrangler/node_modules/miniflare/package.json") ?? read("node_modules/miniflare/package.json"),
    compatibility_date: /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1] ?? null,
    commit,
  };
}

/** CPU time of a wrangler instance and everything under it, in ms: in all, and split by process. */
function cpuParts(inst) {
  const { user, proxy } = inst.workerd();
  const total = [inst.pid, ...descendants(inst.pid).map((p) => p.pid)].reduce((sum, pid) => sum + cpuMs(pid), 0);
  const worker = cpuMs(user);
  const proxyMs = cpuMs(proxy);
  return { total, workerd: worker, proxy: proxyMs, wrangler: total - worker - proxyMs };
}
const treeCpu = (inst) => cpuParts(inst).total;
/** Per-unit CPU split, from two cpuParts readings. */
const cpuSplit = (a, b, n) => Object.fromEntries(Object.keys(a).map((k) => [k, (b[k] - a[k]) / Math.max(1, n)]));

/** Per-round percentiles folded into median/min/max across rounds. */
function foldRounds(rounds, keys) {
  const out = {};
  for (const k of keys) out[k] = summary(rounds.map((r) => r?.[k] ?? null));
  return out;
}
const clamp = (x, lo, hi) => Math.max(lo, Math.min(hi, Math.round(x)));

// wrangler keeps its bundles in .wrangler/ beside each config; the ones this run creates go when it ends.
for (const dir of ["bench/baseline/.wrangler", "bench/cost/.wrangler"]) if (!existsSync(join(ROOT, dir))) removeOnExit(join(ROOT, dir));

async function main() {
  const load0 = loadAverage();
  results.meta = {
    date: new Date().toISOString(),
    quick: QUICK,
    machine: {
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      memory_gib: round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      load_average_before: load0,
    },
    versions: versions(),
  };
  log(`machine: ${results.meta.machine.cores} cores, load average ${load0.join(" ")}${load0[0] >= 1 ? "  (busy: figures will be noisy)" : ""}`);

  const source = snapshotSource();
  if (VARIANT) {
    results.meta.variants = await applyVariants(VARIANT, source.dir, { readFileSync, writeFileSync, join });
    for (const v of results.meta.variants) log(`variant ${v.name}: ${v.description}`);
  }
  const configs = bundleSnapshot(source.dir);
  let dirty = null;
  try {
    dirty = execSync("git status --porcelain -- src migrations wrangler.toml", { cwd: ROOT, encoding: "utf8" }).trim().length > 0;
  } catch {}
  results.meta.source = { commit: results.meta.versions.commit, uncommitted_changes_in_src: dirty, src_sha256: source.src_sha256 };
  const rcv = await startReceiver();
  log(
    `receiver on ${rcv.url}; measuring src/ as of now (sha256 ${source.src_sha256}${dirty ? ", with uncommitted changes" : ""}); starting the service and the baseline`,
  );
  const [svc, base] = await Promise.all([
    startWrangler({ name: "service", config: configs.service, vars: SERVICE_VARS, migrate: true, readyPath: "/v1/event-types" }),
    startWrangler({ name: "baseline", config: "bench/baseline/wrangler.toml", vars: { RECEIVER: rcv.url }, readyPath: "/?noop" }),
  ]);
  log(`service ${svc.url} (workerd ${JSON.stringify(svc.workerd())}), baseline ${base.url} (workerd ${JSON.stringify(base.workerd())})`);
  results.meta.devtools_detached = { service: svc.devtoolsDetached, baseline: base.devtoolsDetached };
  if (!svc.devtoolsDetached || !base.devtoolsDetached)
    log("warning: wrangler's DevTools session could not be detached from both runtimes; figures carry its cost");

  const c = client(svc.url);
  const cb = client(base.url);
  const fail = (inst) => (err) => {
    err.message += `\n--- ${inst.name} log (tail) ---\n${inst.log().slice(-4000)}`;
    throw err;
  };

  // Subscriptions: each scenario has its own account, so "one matching webhook" means exactly one.
  log("creating accounts and webhooks (1, 1, 10, 100 and the backlog ones)");
  // Backlog webhooks: retries every few seconds at most, and 30 attempts last over two minutes, so no queued event
  // is dead-lettered while the 10,000 are being ingested on a slow machine; the flip is seen within 6 s.
  const retry = { max_attempts: 30, base_delay_ms: 500, multiplier: 2, max_delay_ms: 5000 };
  const acc = {};
  try {
    acc.ingest = await accountWithWebhooks(svc.url, {
      name: "ingest",
      count: 1,
      receiverUrl: rcv.url,
      tag: "ing",
      settings: { retry: { max_attempts: 30, base_delay_ms: 60_000, multiplier: 1, max_delay_ms: 60_000 } },
    });
    acc.one = await accountWithWebhooks(svc.url, { name: "one", count: 1, receiverUrl: rcv.url, tag: "one" });
    acc.ten = await accountWithWebhooks(svc.url, { name: "ten", count: 10, receiverUrl: rcv.url, tag: "ten" });
    if (phase("throughput")) acc.hundred = await accountWithWebhooks(svc.url, { name: "hundred", count: 100, receiverUrl: rcv.url, tag: "hun" });
    for (const size of P.backlog) {
      acc[`bl${size}`] = await accountWithWebhooks(svc.url, { name: `backlog ${size}`, count: 1, receiverUrl: rcv.url, tag: `bl${size}`, settings: { retry } });
    }
  } catch (err) {
    fail(svc)(err);
  }
  const body = (accountId, id) => JSON.stringify(event(accountId, id));
  const ingestOne = (accountId, id) => c.post("/v1/events", body(accountId, id), platformHeaders);
  const ingestBatch = (accountId, ids) => c.post("/v1/events/batch", { events: ids.map((id) => event(accountId, id)) }, platformHeaders);
  /** `n` event ids `${prefix}-<batch>-<k>`, cut into batch-ingest requests of P.batchSize. */
  const batchesOf = (prefix, n) =>
    Array.from({ length: Math.ceil(n / P.batchSize) }, (_, i) =>
      Array.from({ length: Math.min(P.batchSize, n - i * P.batchSize) }, (_, k) => `${prefix}-${i}-${k}`),
    );
  /** Ingests those batches, 2 requests in flight; the answers come back in batch order. */
  const feedBatches = (accountId, batches) => pool(batches.length, 2, (i) => ingestBatch(accountId, batches[i]));
  const forward = (tag, id, mode = "") => cb.post(`/b/${tag}${mode}`, body("acc_baseline", id), { "webhook-id": id });

  // wrangler reconnects its DevTools session when it restarts a runtime (it does under load: workers-sdk#14641),
  // so each phase starts by taking it away again from both (see detachDevtools in lib/inspector.mjs).
  const detach = () => Promise.all([detachDevtools(svc.workerd().user), detachDevtools(base.workerd().user)]);

  /** Waits until the receiver has `n` deliveries under a prefix; false if `ms` passed first. */
  const drained = (prefix, n, ms) => rcv.waitFor(() => rcv.countMany(prefix), n, ms);

  // ---------------------------------------------------------------- 1. ingest
  // The ingest webhook matches every event, but its receiver answers 503 and its retry waits a minute: each event
  // still takes the whole ingest path (validation, D1 writes, the hand-off to the Durable Object and its SQLite
  // insert, the alarm check), while no delivery competes for the two cores. Phase 3 measures delivery.
  if (phase("ingest")) {
    await detach();
    log("1. ingest: single and batch, one matching webhook (its deliveries held, so ingest is measured alone)");
    await rcv.answer("ing", 503);
    const single = [];
    const batch = [];
    let nSingle = P.ingestSingle;
    let nBatch = P.ingestBatchRequests;
    for (let r = 0; r < P.rounds && left() > 0; r++) {
      let cpu0 = treeCpu(svc);
      const { results: res, elapsedMs } = await pool(nSingle, P.concurrency, (i) => ingestOne(acc.ingest.accountId, `ing-s${r}-${i}`));
      const ok = res.filter((x) => x.status === 202).length;
      const lat = res.map((x) => x.end - x.start);
      single.push({
        events_per_s: (ok * 1000) / elapsedMs,
        p50_ms: percentile(lat, 50),
        p99_ms: percentile(lat, 99),
        cpu_ms_per_event: (treeCpu(svc) - cpu0) / Math.max(1, ok),
        errors: res.length - ok,
      });

      cpu0 = treeCpu(svc);
      const b = await pool(nBatch, P.batchConcurrency, (i) =>
        ingestBatch(
          acc.ingest.accountId,
          Array.from({ length: P.batchSize }, (_, k) => `ing-b${r}-${i}-${k}`),
        ),
      );
      let accepted = 0;
      for (const x of b.results) {
        if (x.status !== 202 && x.status !== 207) continue;
        accepted += JSON.parse(x.body).data.filter((d) => d && !("error" in d)).length;
      }
      const blat = b.results.map((x) => x.end - x.start);
      batch.push({
        events_per_s: (accepted * 1000) / b.elapsedMs,
        p50_ms: percentile(blat, 50),
        p99_ms: percentile(blat, 99),
        cpu_ms_per_event: (treeCpu(svc) - cpu0) / Math.max(1, accepted),
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
    const keys = ["events_per_s", "p50_ms", "p99_ms", "cpu_ms_per_event"];
    results.ingest = {
      concurrency: P.concurrency,
      batch_size: P.batchSize,
      batch_concurrency: P.batchConcurrency,
      single: { ...foldRounds(single, keys), errors: single.reduce((s, x) => s + x.errors, 0) },
      batch: { ...foldRounds(batch, keys), errors: batch.reduce((s, x) => s + x.errors, 0) },
    };
    // Deleting the webhook lets its held deliveries go (cancelled), so nothing of this phase lingers.
    await fetch(`${svc.url}/v1/webhooks/${acc.ingest.webhooks[0].id}`, { method: "DELETE", headers: { authorization: `Bearer ${acc.ingest.key}` } });
  }

  // ---------------------------------------------------------------- 2a. end to end, light load
  /** One event at a time: send, wait for its arrival, next. */
  async function light(tag, n, send) {
    await rcv.notify(tag, true);
    const waiting = new Map();
    const off = rcv.onArrival((m) => {
      const w = m.tag === tag && waiting.get(m.id);
      if (w) {
        waiting.delete(m.id);
        w(m.at);
      }
    });
    const rows = [];
    for (let i = 0; i < n; i++) {
      const id = `${tag}-${Date.now().toString(36)}-${i}`;
      const arrived = new Promise((resolve) => waiting.set(id, resolve));
      const r = await send(id);
      const at = await Promise.race([arrived, sleep(15_000).then(() => null)]);
      if (at !== null && r.status === 202) rows.push({ accepted: at - r.end, sent: at - r.start, answer: r.end - r.start });
      await sleep(20);
    }
    off();
    await rcv.notify(tag, false);
    await rcv.take(tag);
    const a = rows.map((x) => x.accepted);
    const s = rows.map((x) => x.sent);
    const q = rows.map((x) => x.answer);
    return {
      lost: n - rows.length,
      p50: percentile(a, 50),
      p95: percentile(a, 95),
      p99: percentile(a, 99),
      sent_p50: percentile(s, 50),
      sent_p95: percentile(s, 95),
      sent_p99: percentile(s, 99),
      answer_p50: percentile(q, 50),
    };
  }

  if (phase("e2e")) {
    await detach();
    log("2a. end to end at light load (one event at a time), service and baseline interleaved");
    const svcRounds = [];
    const baseRounds = [];
    const syncRounds = [];
    for (let r = 0; r < P.rounds && left() > 0; r++) {
      baseRounds.push(await light("lba", P.lightEvents, (id) => forward("lba", id, "?async")));
      syncRounds.push(await light("lbs", P.lightEvents, (id) => forward("lbs", id)));
      svcRounds.push(await light("one", P.lightEvents, (id) => ingestOne(acc.one.accountId, id)));
      log(
        `   round ${r}: service p50 ${round(svcRounds.at(-1).p50)} ms after 202 (${round(svcRounds.at(-1).sent_p50)} ms after send) | baseline ${round(baseRounds.at(-1).p50)} ms after 202 (${round(baseRounds.at(-1).sent_p50)} after send)`,
      );
    }
    const keys = ["p50", "p95", "p99", "sent_p50", "sent_p95", "sent_p99", "answer_p50"];
    results.e2e.light = {
      events_per_round: P.lightEvents,
      service: { ...foldRounds(svcRounds, keys), lost: svcRounds.reduce((s, x) => s + x.lost, 0) },
      baseline: { ...foldRounds(baseRounds, keys), lost: baseRounds.reduce((s, x) => s + x.lost, 0) },
      baseline_sync: foldRounds(syncRounds, ["sent_p50", "sent_p95", "sent_p99"]),
    };
  }

  // ---------------------------------------------------------------- 3. sustained delivered/s vs the baseline
  const cpuOf = (inst, fn) => async () => {
    const c0 = cpuParts(inst);
    const out = await fn();
    const c1 = cpuParts(inst);
    return { ...out, cpu_ms: c1.total - c0.total, cpu_split: cpuSplit(c0, c1, out.delivered) };
  };

  async function baselineRound(n) {
    const { results: res, elapsedMs } = await pool(n, P.concurrency, (i) => forward("base", `b-${Date.now().toString(36)}-${i}`));
    await rcv.waitFor(() => rcv.count("base"), n, 10_000);
    const got = await rcv.take("base");
    const ok = res.filter((x) => x.status === 202).length;
    return { rate: steadyRate(got.times), requests_per_s: (ok * 1000) / elapsedMs, delivered: got.ids.length, errors: n - ok };
  }

  /** How many events of a batch-ingest answer were accepted: all on 202, those without an error on 207, none else. */
  const acceptedEvents = (answer, size) => {
    if (answer.status === 202) return size;
    if (answer.status !== 207) return 0;
    try {
      return JSON.parse(answer.body).data.filter((d) => !d.error).length;
    } catch {
      return 0;
    }
  };

  /** Feeds `events` events (batch ingest, 2 in flight) to an account whose `webhooks` all match; measures arrivals. */
  async function serviceRound(account, prefix, events, webhooks, r) {
    const batches = batchesOf(`${prefix}r${r}`, events);
    const feedStart = now();
    const feed = await feedBatches(account.accountId, batches);
    const feedMs = now() - feedStart;
    // Only accepted events are owed a delivery: a batch refused whole (wrangler's "worker restarted mid-request"
    // 503, workers-sdk#14641) or in part (207) must not leave the round waiting out its budget for them.
    const accepted = feed.results.reduce((sum, x, i) => sum + acceptedEvents(x, batches[i].length), 0);
    const expected = accepted * webhooks;
    const budget = Math.max(30_000, Math.min(180_000, left()));
    const complete = await drained(prefix, expected, budget);
    const got = await rcv.takeMany(prefix);
    const bad = feed.results.filter((x) => x.status !== 202);
    for (const x of bad.slice(0, 2)) results.notes.push(`${prefix} feed: HTTP ${x.status} ${x.body.slice(0, 300)}`);
    return { rate: steadyRate(got.times), delivered: got.ids.length, expected, complete, feed_events_per_s: (events * 1000) / feedMs, feed_errors: bad.length };
  }

  if (phase("throughput")) {
    await detach();
    log("3. sustained delivered/s: baseline, 1, 10 and 100 webhooks, interleaved per round");
    const rounds = { baseline: [], w1: [], w10: [], w100: [] };
    const n = { ...P.firstRound };
    const roundMs = (4 * P.roundSeconds + 10) * 1000;
    for (let r = 0; r < P.heavyRounds && (r === 0 || left() > P.reserveBacklogMs + P.reserveCostMs + roundMs); r++) {
      const b = await cpuOf(base, () => baselineRound(n.baseline))();
      rounds.baseline.push({ ...b, cpu_per: b.cpu_ms / Math.max(1, b.delivered) });
      for (const [key, account, prefix, w] of [
        ["w1", acc.one, "one", 1],
        ["w10", acc.ten, "ten-", 10],
        ["w100", acc.hundred, "hun-", 100],
      ]) {
        const s = await cpuOf(svc, () => serviceRound(account, prefix, n[key], w, r))();
        rounds[key].push({ ...s, cpu_per: s.cpu_ms / Math.max(1, s.delivered), ratio: s.rate && b.rate ? s.rate / b.rate : null });
        if (!s.complete) {
          results.notes.push(`throughput ${key} round ${r}: ${s.delivered}/${s.expected} delivered within the round's budget`);
          console.error(svc.log().slice(-3000));
        }
        n[key] = clamp(((s.rate ?? 10) * P.roundSeconds) / w, w === 100 ? 2 : 10, 5000);
      }
      n.baseline = clamp((b.rate ?? 100) * P.roundSeconds, 200, 20_000);
      log(
        `   round ${r}: baseline ${round(b.rate)} req/s | 1 wh ${round(rounds.w1.at(-1).rate)} | 10 wh ${round(rounds.w10.at(-1).rate)} | 100 wh ${round(rounds.w100.at(-1).rate)} deliveries/s`,
      );
    }
    const fold = (list, ratio = true) => ({
      delivered_per_s: summary(list.map((x) => x.rate)),
      ...(ratio ? { ratio_to_baseline: summary(list.map((x) => x.ratio)) } : {}),
      cpu_ms_per_delivery: summary(list.map((x) => x.cpu_per)),
      cpu_ms_per_delivery_by_process: Object.fromEntries(["workerd", "proxy", "wrangler"].map((k) => [k, summary(list.map((x) => x.cpu_split[k]))])),
      deliveries_per_round: list.map((x) => x.delivered),
      feed_events_per_s: ratio ? summary(list.map((x) => x.feed_events_per_s)) : undefined,
    });
    results.baseline.forwarded_per_s = summary(rounds.baseline.map((x) => x.rate));
    results.baseline.cpu_ms_per_request = summary(rounds.baseline.map((x) => x.cpu_per));
    results.baseline.cpu_ms_per_request_by_process = Object.fromEntries(
      ["workerd", "proxy", "wrangler"].map((k) => [k, summary(rounds.baseline.map((x) => x.cpu_split[k]))]),
    );
    results.baseline.concurrency = P.concurrency;
    results.throughput = { w1: fold(rounds.w1), w10: fold(rounds.w10), w100: fold(rounds.w100) };
  }

  // ---------------------------------------------------------------- 2b. end to end at load
  if (phase("e2e") && left() > P.reserveBacklogMs + P.reserveCostMs + 10_000) {
    await detach();
    // Ingest and delivery share the two cores, so the rate the machine sustains doing both is the harmonic
    // combination of the two measured rates; the open loop runs at half of it.
    const ingestRate = results.ingest.single?.events_per_s?.median;
    const deliverRate = results.throughput.w1?.delivered_per_s?.median;
    const both = ingestRate && deliverRate ? 1 / (1 / ingestRate + 1 / deliverRate) : (ingestRate ?? deliverRate);
    const rate = both ? Math.max(2, both / 2) : 10;
    log(`2b. end to end at load: ${round(rate)} events/s open loop (half of what this machine ingests and delivers at once), service and baseline`);
    const svcRounds = [];
    const baseRounds = [];
    const atLoad = async (prefix, count, send) => {
      const { results: res } = await openLoop(count, rate, (i) => send(`${prefix}-${Date.now().toString(36)}-${i}`));
      const accepted = new Map(res.filter((x) => x.status === 202).map((x) => [x.id, x]));
      await drained(prefix, accepted.size, 60_000);
      const got = prefix === "one" ? await rcv.takeMany(prefix) : await rcv.take(prefix);
      const a = [];
      const s = [];
      got.ids.forEach((key, k) => {
        const x = accepted.get(key.includes("/") ? key.split("/")[1] : key);
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
    const withId = (fn) => (id) => fn(id).then((r) => ({ ...r, id }));
    const count = Math.max(10, Math.round(rate * P.loadSeconds));
    for (let r = 0; r < P.heavyRounds && (r === 0 || left() > P.reserveBacklogMs + P.reserveCostMs + 2 * P.loadSeconds * 1000 + 5000); r++) {
      baseRounds.push(
        await atLoad(
          "lla",
          count,
          withId((id) => forward("lla", id, "?async")),
        ),
      );
      svcRounds.push(
        await atLoad(
          "one",
          count,
          withId((id) => ingestOne(acc.one.accountId, id)),
        ),
      );
      log(
        `   round ${r}: service p50 ${round(svcRounds.at(-1).p50)} p99 ${round(svcRounds.at(-1).p99)} ms | baseline p50 ${round(baseRounds.at(-1).p50)} p99 ${round(baseRounds.at(-1).p99)} ms`,
      );
    }
    const keys = ["p50", "p95", "p99", "sent_p50", "sent_p95", "sent_p99"];
    results.e2e.load = {
      events_per_s: round(rate),
      events_per_round: count,
      service: { ...foldRounds(svcRounds, keys), lost: svcRounds.reduce((s, x) => s + x.lost, 0) },
      baseline: foldRounds(baseRounds, keys),
    };
  }

  // ---------------------------------------------------------------- 4. backlog drain and memory
  if (phase("backlog")) {
    await detach();
    log(`4. backlog drain: receiver answering 503 while ${P.backlog.join(" and ")} events queue, then 200`);
    const pid = svc.workerd().user;
    // Control: as many events as the small backlog, ingested for a webhook that matches none of them, so no Durable
    // Object is involved. What this adds to the RSS is the cost of the local D1 and of garbage not yet collected.
    {
      const ctl = await accountWithWebhooks(svc.url, {
        name: "control",
        count: 1,
        receiverUrl: rcv.url,
        tag: "ctl",
        settings: { events: ["workflow.failed"] },
      });
      const m0 = memory(pid);
      const heap0 = await workerHeapMib(pid);
      await feedBatches(ctl.accountId, batchesOf("ctl", P.backlog[0]));
      const m1 = memory(pid);
      const heap1 = await workerHeapMib(pid);
      results.memory_control = {
        events: P.backlog[0],
        rss_growth_mib: round(m1.rss_mib - m0.rss_mib),
        anon_growth_mib: round(m1.anon_mib - m0.anon_mib),
        retained_heap_before_mib: round(heap0),
        retained_heap_after_mib: round(heap1),
      };
      log(
        `   control: ${P.backlog[0]} events for no webhook add ${round(m1.rss_mib - m0.rss_mib)} MiB of RSS; retained heap ${round(heap0)} → ${round(heap1)} MiB`,
      );
    }
    for (const size of P.backlog) {
      if (left() < P.reserveCostMs + 15_000) {
        results.notes.push(`backlog ${size}: skipped, out of time`);
        continue;
      }
      const tag = `bl${size}`;
      await rcv.answer(tag, 503);
      const canReset = resetPeak(pid);
      const queueSampler = rssSampler(pid);
      const rssBefore = memory(pid).rss_mib;
      const heapBefore = await workerHeapMib(pid);
      const feed = await feedBatches(acc[tag].accountId, batchesOf(tag, size));
      const feedErrors = feed.results.filter((x) => x.status !== 202).length;
      for (const x of feed.results.filter((y) => y.status !== 202).slice(0, 3))
        results.notes.push(`backlog ${size} feed: HTTP ${x.status} ${x.body.slice(0, 300)}`);
      // Make sure the head has failed at least twice: the queue is blocked, not merely slow.
      const t0 = Date.now();
      while (Date.now() - t0 < 15_000 && (await rcv.count(tag)).failed < 2) await sleep(100);
      const failedAttempts = (await rcv.count(tag)).failed;
      const queued = queueSampler.stop();
      const queuedPeak = Math.max(queued.rss, canReset ? memory(pid).hwm_mib : 0);
      // The isolate's retained heap with the whole backlog queued, halfway through the drain, and after it.
      const heapQueued = await workerHeapMib(pid);

      resetPeak(pid);
      const atFlip = memory(pid);
      const rssAtFlip = atFlip.rss_mib;
      const drainSampler = rssSampler(pid);
      const flip = now();
      await rcv.answer(tag, 200);
      const budget = Math.max(15_000, left() - P.reserveCostMs);
      // Where memory goes as the drain proceeds: [delivered so far, RSS, RssAnon, MiB of SQLite files], sampled along the way.
      const trajectory = [];
      const track = setInterval(
        async () => {
          const m = memory(pid);
          trajectory.push([(await rcv.count(tag)).delivered, round(m.rss_mib), round(m.anon_mib), round(svc.storageMib())]);
        },
        Math.max(250, Math.round(size / 25)),
      );
      const heapMidDrain = rcv.waitFor(() => rcv.count(tag), size / 2, budget).then((half) => (half ? workerHeapMib(pid) : null));
      const complete = await rcv.waitFor(() => rcv.count(tag), size, budget);
      clearInterval(track);
      const drained = drainSampler.stop();
      const drainPeak = Math.max(drained.rss, canReset ? memory(pid).hwm_mib : 0);
      const heapMid = await heapMidDrain;
      const heapDrained = await workerHeapMib(pid);
      const got = await rcv.take(tag);
      const times = Float64Array.from(got.times).sort();
      const unique = new Set(got.ids).size;
      if (!complete) {
        // What the service says about the ones that did not arrive.
        const seen = new Set(got.ids);
        const missing = batchesOf(tag, size)
          .flat()
          .filter((id) => !seen.has(id));
        const wh = acc[tag].webhooks[0].id;
        const counts = {};
        for (const status of ["pending", "failed", "delivered"]) {
          const page = await (
            await fetch(`${svc.url}/v1/webhooks/${wh}/deliveries?status=${status}&limit=5`, { headers: { authorization: `Bearer ${acc[tag].key}` } })
          ).json();
          counts[status] = page.data?.map((d) => `${d.event_id} attempts ${d.attempt_count} ${d.last_error ?? ""}`);
        }
        results.notes.push(
          `backlog ${size}: ${missing.length} did not arrive (first: ${missing.slice(0, 3).join(", ")}); service says ${JSON.stringify(counts).slice(0, 600)}`,
        );
      }
      // The rate over ten equal slices of the arrivals: median/min/max across slices.
      const slices = [];
      const step = Math.max(1, Math.floor(times.length / 10));
      for (let k = 0; k + step < times.length; k += step) {
        const span = times[Math.min(times.length - 1, k + step)] - times[k];
        if (span > 0) slices.push((step * 1000) / span);
      }
      const whole = times.length > 1 ? ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]) : null;
      results.backlog[size] = {
        queued: size,
        delivered: got.ids.length,
        unique_delivered: unique,
        complete,
        feed_errors: feedErrors,
        failed_attempts_while_down: failedAttempts,
        resume_after_ms: times.length ? round(times[0] - flip) : null,
        drain_per_s: round(whole),
        drain_per_s_slices: summary(slices),
        rss_before_mib: round(rssBefore),
        peak_rss_queueing_mib: round(queuedPeak),
        peak_rss_draining_mib: round(drainPeak),
        rss_at_flip_mib: round(rssAtFlip),
        drain_growth_mib: round(drainPeak - rssAtFlip),
        // The two parts of RSS, sampled: allocated memory, and file pages (the SQLite files, which grow with the log).
        drain_growth_anon_mib: round(drained.anon - atFlip.anon_mib),
        drain_growth_file_mib: round(drained.file - atFlip.file_mib),
        peak_rss_anon_queueing_mib: round(queued.anon),
        retained_heap_mib: { before: round(heapBefore), queued: round(heapQueued), mid_drain: round(heapMid), drained: round(heapDrained) },
        drain_trajectory: trajectory,
        peak_measure: canReset ? "VmHWM after clear_refs, and VmRSS sampled every 100 ms" : "VmRSS sampled every 100 ms",
      };
      log(
        `   ${size}: drained ${got.ids.length}/${size} at ${round(whole)}/s (resumed ${round(times[0] - flip)} ms after the flip), peak RSS ${round(queuedPeak)} MiB queueing, ${round(drainPeak)} MiB draining`,
      );
    }
  }

  results.meta.service_log_tail = svc.log().slice(-3000);
  await Promise.all([svc.stop(), base.stop()]);
  c.close();
  cb.close();

  // ---------------------------------------------------------------- 5. cost and profile (counting build)
  if (phase("cost")) {
    log("5. cost: billable operations per delivered event, counted by the counting build (bench/cost/entry.js)");
    results.cost = await measureCost({ rcv, sizes: P.costEvents, log, concurrency: 8, config: configs.cost });
  }
  await rcv.close();
  results.meta.load_average_after = loadAverage();
  results.meta.duration_s = round((Date.now() - started) / 1000);
}

/** Every target of the issue, met or missed, from the figures of this run. */
function judge() {
  const t = [];
  const add = (name, target, value, met, detail = "") => t.push({ name, target, value, met, detail });
  const b = results.baseline.forwarded_per_s?.median;
  for (const [k, label] of [
    ["w1", "1 webhook"],
    ["w10", "10 webhooks"],
  ]) {
    const r = results.throughput[k]?.ratio_to_baseline?.median;
    if (r !== undefined && r !== null)
      add(
        `delivered/s, ${label} ≥ 0.5 × baseline`,
        "≥ 0.5",
        round(r),
        r >= 0.5,
        `${results.throughput[k].delivered_per_s.median} vs ${b} req/s (median of per-round ratios)`,
      );
  }
  const l = results.e2e.light;
  if (l?.service?.p50?.median !== undefined && l.service.p50.median !== null) {
    const limit = l.baseline.p50.median + 25;
    add(
      "e2e p50 at light load ≤ baseline p50 + 25 ms",
      `≤ ${round(limit)} ms`,
      l.service.p50.median,
      l.service.p50.median <= limit,
      "accepted (202) → received",
    );
  }
  const cost = results.cost?.happy_path;
  if (cost) {
    add("rows written per delivered event (D1 + DO SQLite) ≤ 4", "≤ 4", cost.rows_written, cost.rows_written <= 4, cost.rows_written_detail);
    add("DO requests per event per webhook ≤ 1", "≤ 1", cost.do_requests, cost.do_requests <= 1, cost.do_requests_detail);
  }
  const steady = results.throughput.w1?.delivered_per_s?.median;
  const big = results.backlog[P.backlog[1]];
  const small = results.backlog[P.backlog[0]];
  if (big && steady) {
    const ratio = big.drain_per_s / steady;
    add(`backlog drain (${P.backlog[1]}) ≥ 0.5 × steady 1-webhook rate`, "≥ 0.5", round(ratio), ratio >= 0.5, `${big.drain_per_s}/s vs ${steady}/s`);
  }
  if (big && small) {
    // What the objects hold is judged on the Worker isolate's retained heap (the objects run in it), at the worst of
    // its two loaded moments: the whole backlog queued, and halfway through the drain. The workerd process's RSS is
    // reported beside it but not judged: it grows with every event written, delivered or not (memory_control).
    const peak = (x) => {
      const v = [x.retained_heap_mib?.queued, x.retained_heap_mib?.mid_drain].filter((y) => typeof y === "number");
      return v.length === 2 ? Math.max(...v) : null;
    };
    const [pb, ps] = [peak(big), peak(small)];
    const limit = ps === null ? null : round(ps * 1.1 + 1);
    add(
      `memory independent of backlog (${P.backlog[1]} vs ${P.backlog[0]})`,
      `retained heap, queued and mid-drain, ≤ 1.1 × +1 MiB${limit === null ? "" : ` (≤ ${limit} MiB)`}`,
      pb === null || ps === null ? "not measured (inspector did not answer)" : `${pb} vs ${ps} MiB`,
      pb !== null && ps !== null && pb <= limit,
      `workerd RSS, not judged: growth while draining +${big.drain_growth_mib} vs +${small.drain_growth_mib} MiB, peak ${big.peak_rss_draining_mib} vs ${small.peak_rss_draining_mib} MiB`,
    );
  }
  results.targets = t;
}

function save() {
  judge();
  results.prices = PRICES;
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${OUT}`);
  if ((!QUICK || argv.includes("--readme")) && !only && !VARIANT) {
    writeSvg(results, join(ROOT, "bench", "results", "latency.svg"));
    writeReadme(results, join(ROOT, "bench", "README.md"), OUT.split("/").pop());
    // The project's formatter lines up the tables, so `biome check` stays clean after a run.
    spawnSync(join(ROOT, "node_modules", ".bin", "biome"), ["format", "--write", "bench/README.md"], { cwd: ROOT, stdio: "ignore" });
    log("wrote bench/results/latency.svg and the results section of bench/README.md");
  } else {
    const svg = OUT.replace(/\.json$/, ".svg");
    writeSvg(results, svg);
    log(`wrote ${svg} (README is only rewritten by a full run)`);
  }
  for (const x of results.targets) log(`${x.met ? "MET   " : "MISSED"} ${x.name}: ${x.value} (target ${x.target}) ${x.detail}`);
}

main()
  .then(() => {
    save();
    process.exit(0);
  })
  .catch((err) => {
    console.error("bench failed:", err?.stack ?? err);
    results.error = String(err?.stack ?? err);
    try {
      if (existsSync(join(ROOT, "bench", "results"))) save();
    } catch {}
    process.exit(1);
  });
