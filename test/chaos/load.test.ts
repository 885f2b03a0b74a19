import { expect, test } from "vitest";
import { completedData, createWebhook, FAST_RETRY, listAll, newAccount, sleep, tally, waitFor } from "../support/e2e-kit";
import { record, serverAndSink } from "./kit";

// 50 platform clients ingesting at once for a bounded time (CHAOS_LOAD_SECONDS, default 30) into 5 accounts: single
// events, batches of 5, and repeats of ids already sent. No 5xx; every id answered 202 stored exactly once in D1,
// every repeat answered 200 with the first answer and nothing new; every accepted event delivered.

const FILE = "load";
const CLIENTS = 50;
const ACCOUNTS = 5;
const SECONDS = Number(process.env.CHAOS_LOAD_SECONDS ?? 30);

const scenario = serverAndSink(FILE);

test(`${CLIENTS} concurrent ingest clients for ${SECONDS} s: no 5xx, no event lost or stored twice`, async () => {
  const { server, sink } = scenario;
  const accounts: { id: string; key: string; webhookId: string; path: string }[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const account = await newAccount(server, `load-${a}`);
    const webhook = await createWebhook(server, account.key, {
      url: sink.path(`load${a}`),
      events: ["workflow.completed"],
      ordering: "none",
      retry: FAST_RETRY,
    });
    accounts.push({ ...account, webhookId: webhook.id, path: `load${a}` });
  }

  const statuses: Record<string, number> = {};
  const count = (k: string) => (statuses[k] = (statuses[k] ?? 0) + 1);
  const accepted = accounts.map(() => new Set<string>());
  const badRepeats: string[] = [];
  const serviceErrors = new Map<string, number>();
  let proxy503 = 0;
  let processedBeforeProxy503 = 0;
  const latencies: number[] = [];
  const until = Date.now() + SECONDS * 1000;

  /**
   * POSTs as the platform would. `wrangler dev` puts a ProxyWorker in front of the Worker, and under load it answers
   * some POSTs itself with 503 "Your worker restarted mid-request" (workers-sdk#14641: a dropped keep-alive between
   * the proxy and workerd; nothing restarted, and the Worker never saw the request). Those are counted apart and the
   * same request is sent again, as a platform client does with any 503. Every other 5xx is the service's own.
   */
  const post = async (path: string, json: unknown): Promise<{ status: number; text: string; retriedAfterProxy503: boolean }> => {
    let retried = false;
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      const res = await server.fetch(path, { method: "POST", bearer: server.token, json });
      const text = await res.text();
      latencies.push(Date.now() - started);
      if (res.status === 503 && text.startsWith("Your worker restarted mid-request") && attempt < 10) {
        proxy503++;
        retried = true;
        await sleep(100 * (attempt + 1));
        continue;
      }
      if (res.status >= 500) {
        let detail = text.slice(0, 200);
        try {
          detail = JSON.parse(text).detail ?? detail;
        } catch {}
        serviceErrors.set(`${res.status} ${detail}`, (serviceErrors.get(`${res.status} ${detail}`) ?? 0) + 1);
      }
      return { status: res.status, text, retriedAfterProxy503: retried };
    }
  };

  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    const a = c % ACCOUNTS;
    const account = accounts[a];
    const mine: { id: string; answer: string }[] = [];
    let n = 0;
    const event = () => {
      const id = `ld_${a}_${c}_${n++}`;
      return { id, type: "workflow.completed", account_id: account.id, data: completedData(n) };
    };
    while (Date.now() < until) {
      const roll = n % 20;
      try {
        if (roll === 7 && mine.length > 0) {
          // A repeat: the same id again must answer 200 with the first answer.
          const previous = mine[Math.floor(mine.length / 2)];
          const res = await post("/v1/events", { id: previous.id, type: "workflow.completed", account_id: account.id, data: completedData(0) });
          count(`repeat ${res.status}`);
          if (res.status !== 200 || res.text !== previous.answer) badRepeats.push(`${previous.id}: ${res.status} ${res.text}`);
          n++;
        } else if (roll === 13) {
          const events = Array.from({ length: 5 }, event);
          const res = await post("/v1/events/batch", { events });
          count(`batch ${res.status}`);
          if (res.status === 202) {
            const data = JSON.parse(res.text).data as { id: string; deliveries: number }[];
            data.forEach((d, i) => {
              accepted[a].add(events[i].id);
              mine.push({ id: events[i].id, answer: JSON.stringify(d) });
            });
          }
        } else {
          const e = event();
          const res = await post("/v1/events", e);
          // 200 for a new id is only possible when a request the proxy answered 503 had reached the Worker after all.
          const status = res.status === 200 && res.retriedAfterProxy503 ? 202 : res.status;
          if (res.status === 200 && res.retriedAfterProxy503) processedBeforeProxy503++;
          count(`single ${status}`);
          if (status === 202) {
            accepted[a].add(e.id);
            mine.push({ id: e.id, answer: res.text });
          }
        }
      } catch (err) {
        count(`network error: ${err instanceof Error ? err.message : String(err)}`);
      }
      await sleep(20);
    }
  });
  await Promise.all(clients);
  const ingestSeconds = SECONDS;

  // D1: each account's events, all pages.
  let stored = 0;
  let storedTwice = 0;
  let missing = 0;
  let unexpected = 0;
  for (let a = 0; a < ACCOUNTS; a++) {
    const ids = (await listAll(server, accounts[a].key, "/v1/events")).map((e) => e.id as string);
    stored += ids.length;
    storedTwice += ids.length - new Set(ids).size;
    missing += [...accepted[a]].filter((id) => !ids.includes(id)).length;
    unexpected += ids.filter((id) => !accepted[a].has(id)).length;
  }

  // Deliveries: every accepted event reaches its webhook.
  const sentPer = accepted.map((s) => [...s]);
  await waitFor(() => accounts.every((acc, a) => tally(sink.received(acc.path), sentPer[a], false).arrived === sentPer[a].length), 120_000, 500);
  const tallies = accounts.map((acc, a) => tally(sink.received(acc.path), sentPer[a], false));
  const sorted = [...latencies].sort((x, y) => x - y);
  const serviceFiveXx = [...serviceErrors.values()].reduce((t, v) => t + v, 0);
  const networkErrors = Object.entries(statuses)
    .filter(([k]) => k.startsWith("network error"))
    .reduce((t, [, v]) => t + v, 0);
  const total = sentPer.reduce((t, s) => t + s.length, 0);
  record(FILE, {
    scenario: `${CLIENTS} concurrent ingest clients, ${ingestSeconds} s`,
    sent: total,
    delivered: tallies.reduce((t, x) => t + x.arrived, 0),
    duplicated: tallies.reduce((t, x) => t + x.duplicated, 0),
    lost: tallies.reduce((t, x) => t + x.lost.length, 0),
    requests: latencies.length,
    statuses,
    serviceFiveXx,
    serviceErrors: Object.fromEntries(serviceErrors),
    networkErrors,
    devProxy503Retried: proxy503,
    processedBeforeProxy503,
    badRepeats: badRepeats.length,
    eventsStored: stored,
    storedTwice,
    acceptedButMissing: missing,
    storedButNotAccepted: unexpected,
    latencyMs: { p50: sorted[Math.floor(sorted.length * 0.5)], p95: sorted[Math.floor(sorted.length * 0.95)], max: sorted.at(-1) },
  });
  expect(serviceFiveXx).toBe(0);
  expect(networkErrors).toBe(0);
  expect(Object.keys(statuses).filter((k) => !["single 202", "batch 202", "repeat 200"].includes(k))).toEqual([]);
  expect(badRepeats).toEqual([]);
  expect(storedTwice).toBe(0);
  expect(missing).toBe(0);
  expect(unexpected).toBe(0);
  expect(stored).toBe(total);
  expect(tallies.every((t) => t.lost.length === 0)).toBe(true);
});
