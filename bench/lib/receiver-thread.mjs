// The receiver's own thread: a bare Node HTTP server on 127.0.0.1 that records when each request arrived and
// answers at once. It runs beside the load generator in a worker thread so that a busy client loop does not delay
// the arrival timestamps. Paths are /<kind>/<tag>; each tag keeps its own record and its own answer.
import { createServer } from "node:http";
import { parentPort } from "node:worker_threads";

const now = () => performance.timeOrigin + performance.now();
const tags = new Map();

function tagOf(name) {
  let t = tags.get(name);
  if (!t) tags.set(name, (t = { ids: [], times: [], attempts: 0, failed: 0, status: 200, headers: {}, notify: false }));
  return t;
}

const server = createServer((req, res) => {
  const at = now();
  const name = req.url.split("/")[2]?.split("?")[0] ?? "";
  const t = tagOf(name);
  t.attempts++;
  const id = req.headers["webhook-id"] ?? "";
  const ok = t.status >= 200 && t.status < 300;
  if (ok) {
    t.ids.push(id);
    t.times.push(at);
    if (t.notify) parentPort.postMessage({ type: "arrival", tag: name, id, at });
  } else {
    t.failed++;
  }
  req.resume();
  req.on("end", () => {
    res.writeHead(t.status, { "content-type": "text/plain", ...t.headers });
    res.end(ok ? "ok" : "down");
  });
});
server.keepAliveTimeout = 30_000;
server.headersTimeout = 31_000;

const ops = {
  /** What a tag answers from now on. */
  answer: ({ tag, status, headers = {} }) => {
    const t = tagOf(tag);
    t.status = status;
    t.headers = headers;
  },
  /** Post every successful arrival of a tag to the main thread as it happens. */
  notify: ({ tag, on }) => {
    tagOf(tag).notify = on;
  },
  count: ({ tag }) => {
    const t = tagOf(tag);
    return { delivered: t.ids.length, attempts: t.attempts, failed: t.failed };
  },
  /** Hands over and forgets what a tag recorded. */
  take: ({ tag }) => {
    const t = tagOf(tag);
    const out = { ids: t.ids, times: t.times, attempts: t.attempts, failed: t.failed };
    t.ids = [];
    t.times = [];
    t.attempts = 0;
    t.failed = 0;
    return out;
  },
  countMany: ({ prefix }) => {
    let delivered = 0;
    let attempts = 0;
    for (const [name, t] of tags) {
      if (!name.startsWith(prefix)) continue;
      delivered += t.ids.length;
      attempts += t.attempts;
    }
    return { delivered, attempts };
  },
  takeMany: ({ prefix }) => {
    const ids = [];
    const times = [];
    for (const [name, t] of tags) {
      if (!name.startsWith(prefix)) continue;
      for (let i = 0; i < t.ids.length; i++) {
        ids.push(`${name}/${t.ids[i]}`);
        times.push(t.times[i]);
      }
      t.ids = [];
      t.times = [];
      t.attempts = 0;
      t.failed = 0;
    }
    return { ids, times };
  },
  close: () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve(null));
    }),
};

parentPort.on("message", async ({ op, reqId, ...args }) => {
  try {
    parentPort.postMessage({ reqId, result: await ops[op](args) });
  } catch (err) {
    parentPort.postMessage({ reqId, error: String(err) });
  }
});

server.listen(0, "127.0.0.1", () => parentPort.postMessage({ type: "ready", port: server.address().port }));
