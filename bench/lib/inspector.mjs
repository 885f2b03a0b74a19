// What the Worker's isolate retains, read through workerd's own inspector (the DevTools protocol; `wrangler dev`
// starts the runtime with `--inspector-addr=localhost:0`; wrangler's own proxy on --inspector-port stopped answering
// here after heavy load). The workerd process's RSS is no substitute: it holds every isolate (the Worker, which in
// `wrangler dev` also runs its Durable Objects, and the local simulators, D1 among them), and V8 keeps garbage in
// each heap until it decides to collect it.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import WebSocket from "ws";

/** The TCP ports a process listens on, from /proc (no tool needed). */
function listeningPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {}
  }
  const ports = [];
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {}
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT, st 0A is LISTEN, inode is the tenth field.
      if (f[3] === "0A" && inodes.has(f[9])) ports.push(Number.parseInt(f[1].split(":")[1], 16));
    }
  }
  return ports;
}

/** workerd's inspector targets, one per Worker and simulator: [{id, webSocketDebuggerUrl}]; [] when there is none. */
async function inspectorTargets(pid) {
  for (const port of listeningPorts(pid)) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(2000) });
      const list = res.ok ? await res.json().catch(() => null) : null;
      if (Array.isArray(list) && list.some((t) => typeof t.webSocketDebuggerUrl === "string")) return list;
    } catch {}
  }
  return [];
}

/**
 * Opens an inspector session on `webSocketUrl` and runs `steps` in order: a method name, a [method, params] pair,
 * or an async function to run while the session is open (a CPU profile's round, say). Resolves to the last method's
 * result; null when the session closes first (another one took the isolate) or `timeoutMs` passes.
 */
async function session(webSocketUrl, steps, timeoutMs) {
  const ws = new WebSocket(webSocketUrl, { maxPayload: 512 * 1024 * 1024 });
  const replies = new Map();
  let closed = false;
  ws.on("message", (data) => {
    const m = JSON.parse(String(data));
    if (m.id !== undefined) replies.get(m.id)?.(m);
  });
  const call = (id, method, params = {}) =>
    new Promise((resolve) => {
      if (closed) return resolve({});
      replies.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  const work = (async () => {
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
      ws.once("close", () => reject(new Error("closed")));
    });
    // Closed early: every pending call answers empty, so the result is null.
    ws.once("close", () => {
      closed = true;
      for (const resolve of replies.values()) resolve({});
    });
    let reply = {};
    for (const [i, step] of steps.entries()) {
      if (typeof step === "function") await step();
      else reply = await (typeof step === "string" ? call(i + 1, step) : call(i + 1, step[0], step[1]));
    }
    return closed ? null : (reply.result ?? null);
  })();
  let timer;
  try {
    return await Promise.race([work, new Promise((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)))]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
    ws.terminate();
  }
}

/**
 * A session on the Worker's isolate (target `core:user:<name>`), which in `wrangler dev` also runs its Durable
 * Objects. workerd takes one session per isolate and wrangler's inspector proxy may hold it: the first attempt then
 * displaces that session and is closed, and the next one gets the isolate. Null after three misses. A step that is a
 * function runs once per attempt: call this for one that sends traffic only after detachDevtools.
 */
export async function workerSession(pid, steps, timeoutMs) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const target = (await inspectorTargets(pid)).find((t) => t.id.startsWith("core:user:"));
    if (!target) return null;
    const result = await session(target.webSocketDebuggerUrl, steps, timeoutMs);
    if (result !== null) return result;
  }
  return null;
}

/**
 * The Worker isolate's retained heap in MiB: `Runtime.getHeapUsage` right after a heap snapshot, which V8 takes only
 * after a full garbage collection (`HeapProfiler.collectGarbage` goes unanswered here; the snapshot's chunks are
 * not kept). The isolate pauses while the snapshot is taken (well under a second at these sizes). Null if unanswered.
 */
export async function workerHeapMib(pid) {
  const usage = await workerSession(pid, ["HeapProfiler.enable", "HeapProfiler.takeHeapSnapshot", "Runtime.getHeapUsage"], 10_000);
  return usage ? usage.usedSize / 1048576 : null;
}

/**
 * Takes the Worker isolate's inspector session away from `wrangler dev` and closes it. Wrangler's inspector proxy
 * holds that session with `Runtime.enable` and `Network.enable` to forward console output and a network log to
 * DevTools, so every subrequest and console call is reported over it. That halved the delivery rate here (a 10,000
 * backlog drained at ~200/s with it, ~500/s without), a cost no deployed Worker pays. Wrangler does not reconnect a
 * runtime session that closes (its proxy's own rule) until it restarts the runtime; from then on it no longer
 * prints the Worker's console output. True once the session was taken.
 */
export async function detachDevtools(pid) {
  return (await workerSession(pid, ["Runtime.getHeapUsage"], 5000)) !== null;
}
