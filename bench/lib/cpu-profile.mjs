// Where the Worker isolate's time goes: a DevTools CPU profile of the isolate (which in `wrangler dev` also runs the
// Durable Objects) over a round of traffic, summarised by source module, by function, and by side: the Worker up to
// its 202, or the object. The bundle is not minified and esbuild marks where each module starts (`// src/ingest.ts`),
// so a sample's line in the bundle names its module; a native function (sql.exec, JSON.parse, crypto) is booked to
// the nearest JavaScript frame that called it.
import { readFileSync } from "node:fs";
import { workerSession } from "./inspector.mjs";

/** Runs `work()` with the Profiler sampling the Worker isolate of workerd `pid`; the profile, or null. */
export async function profileWorker(pid, work, { intervalUs = 250, timeoutMs = 180_000 } = {}) {
  let ran = false;
  const once = async () => {
    // A session lost mid-round would run the round again on the next attempt: better no profile than a wrong one.
    if (ran) throw new Error("inspector session lost during the profiled round");
    ran = true;
    await work();
  };
  const steps = ["Profiler.enable", ["Profiler.setSamplingInterval", { interval: intervalUs }], "Profiler.start", once, "Profiler.stop"];
  const result = await workerSession(pid, steps, timeoutMs);
  return result?.profile ?? null;
}

/** Module start lines of a bundle: [[line (0-based), "src/ingest.ts"], …], ascending. */
function moduleMap(bundlePath) {
  const starts = [];
  if (!bundlePath) return starts;
  readFileSync(bundlePath, "utf8")
    .split("\n")
    .forEach((line, i) => {
      const m = /^\/\/ (?:\.\.\/)*((?:src|node_modules|bench)\/\S+)$/.exec(line);
      if (m) starts.push([i, m[1]]);
    });
  return starts;
}

function moduleAt(starts, line) {
  let lo = 0;
  let hi = starts.length - 1;
  let found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid][0] <= line) {
      found = starts[mid][1];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** A module as the tables name it: a file under src/, a package under node_modules, the runtime's own JS. */
function moduleName(path) {
  if (path.startsWith("src/")) return path;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return pkg ? pkg[1] : path;
}

/** Frames of the runtime's own JavaScript (the D1 client, tracing): on a stack alone they are not the app's. */
const RUNTIME_JS = /^(cloudflare-internal:|node:|D1 binding)/;

const NATIVE_GROUPS = [
  [/^parse$/, "JSON.parse"],
  [/^stringify$/, "JSON.stringify"],
  [/^(importKey|exportKey|generateKey|deriveBits|deriveKey)$/, "Web Crypto: key import (signing keys)"],
  [/^(sign|verify|digest|encrypt|decrypt|timingSafeEqual)$/, "Web Crypto: sign, verify, digest"],
  [/^(getRandomValues|randomUUID)$/, "random bytes"],
];

/**
 * Summarises a profile: `busy_ms` (samples that were not idle), and tables of self time by module, by function and
 * by side, each row in ms per `units` (events). The side of a sample is the outermost src/ frame on its stack:
 * src/delivery/* (but the stub ingest calls) is the object; anything else with JavaScript on the stack is the Worker.
 */
export function summarise(profile, bundlePath, units) {
  const starts = moduleMap(bundlePath);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frameModule = (n) => {
    const { url, lineNumber } = n.callFrame;
    if (!url) return null;
    if (url.startsWith("cloudflare-internal:") || url.startsWith("node:")) return url.startsWith("cloudflare-internal:d1") ? "D1 binding (runtime JS)" : url;
    const m = moduleAt(starts, lineNumber);
    // Above the first module comment are esbuild's own helpers (__name, __export).
    return m ? moduleName(m) : starts.length ? "esbuild helpers" : url;
  };
  const info = new Map();
  const describe = (id) => {
    if (info.has(id)) return info.get(id);
    const n = nodes.get(id);
    const name = n.callFrame.functionName || "(anonymous)";
    let module = frameModule(n);
    let fn = module ? `${name} (${module})` : name;
    let app = false;
    let outerSrc = null;
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const m = frameModule(nodes.get(p));
      if (m && module === null) module = m; // a native frame: booked to its nearest JavaScript caller
      if (m?.startsWith("src/")) outerSrc = m;
      if (m && !RUNTIME_JS.test(m)) app = true;
    }
    const side = outerSrc?.startsWith("src/delivery/") && outerSrc !== "src/delivery/queue-stub.ts" ? "object" : app ? "worker" : null;
    if (!frameModule(n)) {
      const group = NATIVE_GROUPS.find(([re]) => re.test(name))?.[1];
      if (group) module = group;
      else if (module) fn = `${name} (native, from ${module})`;
    }
    if (name === "(garbage collector)") module = "(garbage collector)";
    if (name === "(program)") module = "(program: the runtime outside JavaScript)";
    const out = { name, module: module ?? "(runtime, no JavaScript on the stack)", fn, side: side ?? "runtime", idle: name === "(idle)" };
    info.set(id, out);
    return out;
  };
  const byModule = new Map();
  const byFn = new Map();
  const bySide = new Map();
  let busyUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const d = describe(id);
    if (d.idle) {
      idleUs += us;
      return;
    }
    busyUs += us;
    const m = byModule.get(d.module) ?? { worker: 0, object: 0, runtime: 0 };
    m[d.side] += us;
    byModule.set(d.module, m);
    byFn.set(d.fn, (byFn.get(d.fn) ?? 0) + us);
    bySide.set(d.side, (bySide.get(d.side) ?? 0) + us);
  });
  const per = (us) => Math.round((us / 1000 / Math.max(1, units)) * 1000) / 1000;
  const share = (us) => Math.round((us / Math.max(1, busyUs)) * 1000) / 10;
  return {
    units,
    samples: profile.samples.length,
    span_ms: Math.round((profile.endTime - profile.startTime) / 1000),
    busy_ms: Math.round(busyUs / 1000),
    idle_ms: Math.round(idleUs / 1000),
    busy_ms_per_unit: per(busyUs),
    by_side: Object.fromEntries(["worker", "object", "runtime"].map((s) => [s, { ms_per_unit: per(bySide.get(s) ?? 0), percent: share(bySide.get(s) ?? 0) }])),
    by_module: [...byModule]
      .map(([module, s]) => ({
        module,
        ms_per_unit: per(s.worker + s.object + s.runtime),
        percent: share(s.worker + s.object + s.runtime),
        worker: per(s.worker),
        object: per(s.object),
      }))
      .sort((a, b) => b.ms_per_unit - a.ms_per_unit),
    top_functions: [...byFn]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([fn, us]) => ({ fn, ms_per_unit: per(us), percent: share(us) })),
  };
}
