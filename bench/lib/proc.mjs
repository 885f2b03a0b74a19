// /proc readings of the benchmark's children: the process tree under a wrangler, RSS and its peak, CPU time, and
// the load average. Linux only, like the rest of the benchmark.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

/** Every process below `rootPid`, from /proc. */
export function descendants(rootPid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push({ pid: Number(entry), comm });
      children.set(ppid, list);
    } catch {}
  }
  const out = [];
  const walk = (pid) => {
    for (const c of children.get(pid) ?? []) {
      let cmdline = "";
      try {
        cmdline = readFileSync(`/proc/${c.pid}/cmdline`, "utf8").replaceAll("\0", " ");
      } catch {}
      out.push({ ...c, cmdline });
      walk(c.pid);
    }
  };
  walk(rootPid);
  return out;
}

/** VmRSS and VmHWM (peak RSS) of a process, in MiB. */
export function memory(pid) {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {}
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN);
  // RssAnon is what the process allocated (V8 heaps, SQLite caches, buffers); RssFile is file pages mapped into it,
  // which includes the SQLite database files of the local D1 and of the Durable Objects as they grow.
  return { rss_mib: kb("VmRSS") / 1024, hwm_mib: kb("VmHWM") / 1024, anon_mib: kb("RssAnon") / 1024, file_mib: kb("RssFile") / 1024 };
}

/** Resets VmHWM to the current RSS (Linux: "5" > /proc/<pid>/clear_refs); false where that is not allowed. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

const TICK_MS = 1000 / (Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100);

/** User + system CPU time of a process so far, in ms. */
export function cpuMs(pid) {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/**
 * CPU ms of each thread of a process so far, by thread id. workerd runs every isolate on its main thread (the Worker,
 * its Durable Objects and the local D1 alike), so that thread's share of a core says whether the runtime is saturated.
 */
export function threadCpuMs(pid) {
  const out = new Map();
  if (!pid) return out;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, (Number(fields[11]) + Number(fields[12])) * TICK_MS);
    }
  } catch {}
  return out;
}

/** The busiest thread's share of one core between two threadCpuMs readings `ms` apart (0.85: 85 % of a core). */
export function busiestThread(before, after, ms) {
  let top = 0;
  for (const [tid, t] of after) top = Math.max(top, t - (before.get(tid) ?? 0));
  return ms > 0 ? top / ms : null;
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak seen. */
export function rssSampler(pid, everyMs = 100) {
  let peak = 0;
  let peakAnon = 0;
  let peakFile = 0;
  const take = () => {
    try {
      const m = memory(pid);
      peak = Math.max(peak, m.rss_mib);
      peakAnon = Math.max(peakAnon, m.anon_mib);
      peakFile = Math.max(peakFile, m.file_mib);
    } catch {}
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    /** Peak VmRSS; `anon` and `file` are the peaks of its two parts. */
    stop() {
      clearInterval(timer);
      take();
      return { rss: peak, anon: peakAnon, file: peakFile };
    },
  };
}

/** The 1-, 5- and 15-minute load averages. */
export function loadAverage() {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
}
