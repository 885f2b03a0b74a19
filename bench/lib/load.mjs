// The load generator: keep-alive HTTP/1.1 POSTs to 127.0.0.1, a bounded concurrent loop (N clients, a fixed
// count or a fixed time), an open-loop sender at a fixed rate, and the statistics the report uses.
import { Agent, request } from "node:http";

export const now = () => performance.timeOrigin + performance.now();

/**
 * A keep-alive client for one base URL. `post` resolves to {status, body, start, end} and never rejects. A request
 * that fails on a reused socket the server had just closed (ECONNRESET after an idle spell) is sent once more, as
 * Node's documentation advises; everything the benchmark posts is idempotent (events carry their own ids).
 */
export function client(baseUrl, { maxSockets = 64 } = {}) {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets });
  const once = (path, data, headers, start) =>
    new Promise((resolve) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers },
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8"), start, end: now() }));
          res.on("error", (err) => resolve({ status: 0, body: String(err), start, end: now() }));
        },
      );
      req.setTimeout(60_000, () => req.destroy(new Error("client timeout")));
      req.on("error", (err) =>
        resolve({ status: 0, body: String(err), start, end: now(), stale: req.reusedSocket && ["ECONNRESET", "EPIPE"].includes(err.code) }),
      );
      req.end(data);
    });
  const post = async (path, body, headers = {}) => {
    const data = typeof body === "string" ? body : JSON.stringify(body);
    const start = now();
    const first = await once(path, data, headers, start);
    return first.stale ? once(path, data, headers, start) : first;
  };
  return { post, close: () => agent.destroy() };
}

/** Runs task(i) for i in [0, count) with at most `concurrency` in flight; resolves to the results in order and the wall time. */
export async function pool(count, concurrency, task) {
  const results = new Array(count);
  let next = 0;
  const started = now();
  const lane = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { results, elapsedMs: now() - started };
}

/**
 * Closed loop for a fixed time: `concurrency` clients, each sending task(i) as soon as its last answer came, until
 * `durationMs` have passed (requests under way then are finished). Resolves to the results in send order.
 */
export async function closedLoop(durationMs, concurrency, task) {
  const results = [];
  const started = now();
  const lane = async () => {
    while (now() - started < durationMs) {
      const i = results.length;
      results.push(null);
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { results, elapsedMs: now() - started };
}

/** Starts task(i) at a fixed rate (open loop: a slow answer does not delay the next send), at most `maxInFlight` at once. */
export async function openLoop(count, perSecond, task, maxInFlight = 256) {
  const results = new Array(count);
  const started = now();
  const inFlight = new Set();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const p = task(i).then((r) => {
      results[i] = r;
      inFlight.delete(p);
    });
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  return { results, elapsedMs: now() - started };
}

/** The p-th percentile (0–100) of a list of numbers, nearest-rank on a sorted copy. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Median, min and max of the per-round figures (nulls left out). */
export function summary(values) {
  const v = values.filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  if (v.length === 0) return { median: null, min: null, max: null, rounds: values };
  const sorted = [...v].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median: round(median), min: round(sorted[0]), max: round(sorted[sorted.length - 1]), rounds: values.map(round) };
}

/** Rounds to 3 significant decimals for the report (keeps integers readable). */
export function round(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return x ?? null;
  if (Math.abs(x) >= 100) return Math.round(x * 10) / 10;
  if (Math.abs(x) >= 1) return Math.round(x * 100) / 100;
  return Math.round(x * 10000) / 10000;
}

/**
 * Steady rate from arrival times: the middle 80 % of the arrivals over the time they took, so the ramp-up at the
 * start and the stragglers at the end do not count. Falls back to all of them for small samples.
 */
export function steadyRate(times) {
  if (times.length < 2) return null;
  const sorted = Float64Array.from(times).sort();
  const n = sorted.length;
  const lo = n >= 50 ? Math.floor(n * 0.1) : 0;
  const hi = n >= 50 ? Math.ceil(n * 0.9) - 1 : n - 1;
  const span = sorted[hi] - sorted[lo];
  return span > 0 ? ((hi - lo) * 1000) / span : null;
}
