// The real receiver, driven from the main thread (see receiver-thread.mjs for the server itself).
import { Worker } from "node:worker_threads";

/** Starts the receiver thread; resolves once it listens on 127.0.0.1. */
export async function startReceiver() {
  const worker = new Worker(new URL("./receiver-thread.mjs", import.meta.url));
  worker.unref();
  const pending = new Map();
  const listeners = new Set();
  let nextId = 0;
  const port = await new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.on("message", (m) => {
      if (m.type === "ready") resolve(m.port);
      else if (m.type === "arrival") for (const l of listeners) l(m);
      else {
        const p = pending.get(m.reqId);
        pending.delete(m.reqId);
        if (m.error) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      }
    });
  });
  const call = (op, args = {}) =>
    new Promise((resolve, reject) => {
      const reqId = nextId++;
      pending.set(reqId, { resolve, reject });
      worker.postMessage({ op, reqId, ...args });
    });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    answer: (tag, status, headers) => call("answer", { tag, status, headers }),
    notify: (tag, on = true) => call("notify", { tag, on }),
    count: (tag) => call("count", { tag }),
    take: (tag) => call("take", { tag }),
    countMany: (prefix) => call("countMany", { prefix }),
    takeMany: (prefix) => call("takeMany", { prefix }),
    /** Calls back on each successful arrival of the tags put in notify mode. */
    onArrival(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    /** Waits until `get()` reports at least `n` deliveries; false on timeout. */
    async waitFor(get, n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { delivered } = await get();
        if (delivered >= n) return true;
        if (Date.now() > deadline) return false;
        await sleep(50);
      }
    },
    async close() {
      await call("close");
      await worker.terminate();
    },
  };
}
