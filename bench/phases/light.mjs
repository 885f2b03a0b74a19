// Light load: one event at a time, the next sent once the last has arrived, so each figure is the path's own
// latency with nothing queued in front of it.
import { percentile } from "../lib/load.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends `n` events one at a time with `send(id)` and times each from the client's send, and from its answer, to the
 * receiver's arrival under `tag`. Percentiles (ms): `sent_p50`… (sent → received), `p50`… (answer → received; it can
 * be negative: the service sends from the hand-off, and the request reaches the receiver while the 202 travels back).
 */
export async function oneAtATime(rcv, tag, n, send) {
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
  return {
    lost: n - rows.length,
    p50: percentile(a, 50),
    p95: percentile(a, 95),
    p99: percentile(a, 99),
    sent_p50: percentile(s, 50),
    sent_p95: percentile(s, 95),
    sent_p99: percentile(s, 99),
    answer_p50: percentile(
      rows.map((x) => x.answer),
      50,
    ),
  };
}
