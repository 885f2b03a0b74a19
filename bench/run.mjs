#!/usr/bin/env node
// `npm run bench`: the service under `wrangler dev` against a forward-only Worker in the same runtime, in one
// bounded run. The single-event path comes first (how workflow events arrive), then its CPU profile, ingest alone,
// batch-fed delivery, an open loop, the backlog drain with memory, a broadcast's fan-out to 1,000 and 3,000 webhooks,
// and the cost per delivery (counting build).
// Flags: --quick (a smoke run with small counts), --phases=a,b (some phases only), --variant=NAME, --out=FILE,
// --readme (with --quick: write the results section anyway). 127.0.0.1 only; every child dies with the run.
// bench/README.md says what each figure means.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { judge } from "./judge.mjs";
import { removeOnExit } from "./lib/cleanup.mjs";
import { detachDevtools } from "./lib/inspector.mjs";
import { startWrangler } from "./lib/instance.mjs";
import { round } from "./lib/load.mjs";
import { runMeta, sourceDirty } from "./lib/meta.mjs";
import { PRICES } from "./lib/prices.mjs";
import { loadAverage } from "./lib/proc.mjs";
import { startReceiver } from "./lib/receiver.mjs";
import { SERVICE_VARS } from "./lib/service.mjs";
import { bundleSnapshot, snapshotSource } from "./lib/snapshot.mjs";
import { traffic } from "./lib/traffic.mjs";
import { ROOT } from "./lib/wrangler.mjs";
import { backlog } from "./phases/backlog.mjs";
import { batchfed } from "./phases/batchfed.mjs";
import { measureCost } from "./phases/cost.mjs";
import { fanout } from "./phases/fanout.mjs";
import { ingest } from "./phases/ingest.mjs";
import { openloop } from "./phases/openloop.mjs";
import { profile } from "./phases/profile.mjs";
import { single } from "./phases/single.mjs";
import { writeReadme } from "./report/readme.mjs";
import { writeSvg } from "./report/svg.mjs";
import { PHASES, sizes } from "./sizes.mjs";
import { applyVariants } from "./variants.mjs";

const argv = process.argv.slice(2);
const flag = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = argv.includes("--quick");
const only = flag("phases")?.split(",").filter(Boolean);
const VARIANT = flag("variant")?.split(",").filter(Boolean);
for (const p of only ?? []) if (!PHASES.includes(p)) throw new Error(`unknown phase "${p}"; known: ${PHASES.join(", ")}`);
const variantName = VARIANT ? `variant-${VARIANT.join("+")}${QUICK ? "-quick" : ""}.json` : null;
const OUT = flag("out") ?? join(ROOT, "bench", "results", variantName ?? (only ? "partial.json" : QUICK ? "quick.json" : "latest.json"));
const selected = (name) => !only || only.includes(name);
const P = sizes(QUICK);

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s]`, ...a);
const results = {
  meta: {},
  config: P,
  single: null,
  profile: null,
  ingest: null,
  batchfed: null,
  openloop: null,
  backlog: null,
  fanout: null,
  cost: null,
  targets: [],
  notes: [],
};

/** Time left in the budget once the selected phases after `phase` have had their expected share. */
const spare = (phase) => {
  const later = PHASES.slice(PHASES.indexOf(phase) + 1).filter(selected);
  return P.budgetMs - (Date.now() - started) - later.reduce((s, p) => s + P.estimateMs[p], 0);
};

// The run stops by itself whatever happens: past the hard limit it saves what it has and exits (and the exit
// handler of lib/cleanup.mjs kills every child).
setTimeout(() => {
  console.error(`bench: hard limit of ${P.hardLimitMs / 1000} s reached; saving what was measured and stopping`);
  results.notes.push(`stopped at the hard limit of ${P.hardLimitMs / 1000} s`);
  results.stopped = true;
  try {
    save();
  } catch {}
  process.exit(2);
}, P.hardLimitMs).unref();

// wrangler keeps its bundles in .wrangler/ beside each config; the ones this run creates go when it ends.
for (const dir of ["bench/baseline/.wrangler", "bench/cost/.wrangler"]) if (!existsSync(join(ROOT, dir))) removeOnExit(join(ROOT, dir));

async function main() {
  results.meta = runMeta(QUICK);
  const load0 = results.meta.machine.load_average_before;
  log(`machine: ${results.meta.machine.cores} cores, load average ${load0.join(" ")}${load0[0] >= 1 ? "  (busy: figures will be noisy)" : ""}`);

  const source = snapshotSource();
  if (VARIANT) {
    results.meta.variants = await applyVariants(VARIANT, source.dir, { readFileSync, writeFileSync, join });
    for (const v of results.meta.variants) log(`variant ${v.name}: ${v.description}`);
  }
  const built = bundleSnapshot(source.dir);
  const dirty = sourceDirty();
  results.meta.source = { commit: results.meta.versions.commit, uncommitted_changes_in_src: dirty, src_sha256: source.src_sha256 };
  const rcv = await startReceiver();
  log(
    `receiver on ${rcv.url}; measuring src/ as of now (sha256 ${source.src_sha256}${dirty ? ", with uncommitted changes" : ""}); starting the service and the baseline`,
  );
  const [svc, base] = await Promise.all([
    startWrangler({ name: "service", config: built.service, vars: SERVICE_VARS, migrate: true, readyPath: "/v1/event-types" }),
    startWrangler({ name: "baseline", config: "bench/baseline/wrangler.toml", vars: { RECEIVER: rcv.url }, readyPath: "/?noop" }),
  ]);
  log(`service ${svc.url} (workerd ${JSON.stringify(svc.workerd())}), baseline ${base.url} (workerd ${JSON.stringify(base.workerd())})`);
  results.meta.devtools_detached = { service: svc.devtoolsDetached, baseline: base.devtoolsDetached };
  if (!svc.devtoolsDetached || !base.devtoolsDetached)
    log("warning: wrangler's DevTools session could not be detached from both runtimes; figures carry its cost");

  const t = traffic({ svc, base, rcv, batchSize: P.batchSize });
  const ctx = {
    P,
    log,
    rcv,
    svc,
    base,
    t,
    spare,
    bundles: built.bundles,
    note: (text) => results.notes.push(text),
    // wrangler opens a new DevTools session when it restarts a runtime (it does under load: workers-sdk#14641),
    // so each phase starts by taking it away again from both (see detachDevtools in lib/inspector.mjs).
    detach: () => Promise.all([detachDevtools(svc.workerd().user), detachDevtools(base.workerd().user)]),
  };
  try {
    if (selected("single")) results.single = await single(ctx);
    if (selected("profile")) results.profile = await profile(ctx);
    if (selected("ingest")) results.ingest = await ingest(ctx);
    if (selected("batchfed")) results.batchfed = await batchfed(ctx);
    if (selected("openloop") && spare("openloop") > 10_000) {
      const ingestRate = results.ingest?.single?.events_per_s?.median ?? results.single?.none?.accepted_per_s?.median;
      results.openloop = await openloop(ctx, { ingestRate, deliverRate: results.batchfed?.w1?.delivered_per_s?.median });
    }
    if (selected("backlog")) results.backlog = await backlog(ctx);
    if (selected("fanout")) results.fanout = await fanout(ctx);
  } catch (err) {
    err.message += `\n--- service log (tail) ---\n${svc.log().slice(-4000)}`;
    throw err;
  }
  results.meta.service_log_tail = svc.log().slice(-3000);
  await Promise.all([svc.stop(), base.stop()]);
  t.close();

  if (selected("cost")) {
    log("cost: billable operations per delivered event, counted by the counting build (bench/cost/entry.js)");
    results.cost = await measureCost({ rcv, sizes: P.costEvents, log, concurrency: 8, config: built.cost });
  }
  await rcv.close();
  results.meta.load_average_after = loadAverage();
  results.meta.duration_s = round((Date.now() - started) / 1000);
}

function save() {
  results.targets = judge(results, P);
  results.prices = PRICES;
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${OUT}`);
  // A run that failed or hit its hard limit keeps its figures in the JSON only: the README shows whole runs.
  if ((!QUICK || argv.includes("--readme")) && !only && !VARIANT && !results.error && !results.stopped) {
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
      save();
    } catch {}
    process.exit(1);
  });
