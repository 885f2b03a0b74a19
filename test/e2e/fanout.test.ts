import { afterAll, beforeAll, expect, test } from "vitest";
import { type DevServer, startDevServer } from "../support/dev-server";
import { apiOf, completedData, createWebhook, expectAnswer, newAccount, sleep, triggerCron } from "../support/e2e-kit";
import { Sink } from "../support/sink";

// A large broadcast through the FANOUT queue as `npm start` runs it (wrangler dev runs the queue locally): every
// webhook of every account gets it exactly once, and ingest answers within its usual time. FANOUT_ACCOUNTS accounts
// of 10 webhooks each: 100 (1,000 webhooks) in npm test, 300 (3,000) with `npm run test:fanout`.
//
// Known issue: the local queue broker of wrangler dev (miniflare) keeps its messages in memory, and with thousands of
// Durable Objects awake workerd can evict it with them: the pages still queued are gone (seen at 3,000 webhooks, after
// 1,000–2,500 had theirs). Their rows in D1 stay, and the cron queues such pages again, as it would lost messages in
// production: wrangler dev runs no cron, so the test runs it (FANOUT_REQUEUE_AFTER_S 15) whenever arrivals stall, and
// says how often it did. The wait is bounded, and its failure says where it stood.

const ACCOUNTS = Number(process.env.FANOUT_ACCOUNTS ?? 100);
const PER_ACCOUNT = 10;
const WEBHOOKS = ACCOUNTS * PER_ACCOUNT;
const MAINTENANCE = { window: { starts_at: "2026-12-05T02:00:00.000Z", ends_at: "2026-12-05T03:00:00.000Z" }, message: "Database upgrade" };

let server: DevServer;
let sink: Sink;

beforeAll(async () => {
  sink = await Sink.start();
  server = await startDevServer({ vars: { FANOUT_REQUEUE_AFTER_S: "15" } });
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  await sink?.down();
});

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/** The lines wrangler prints for each batch the local queue delivered ("QUEUE broxiai-webhooks-fanout 5/5 (812ms)"). */
const queueLines = (output: string) => output.split("\n").filter((l) => /QUEUE|fan-out/.test(l));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

test(`a broadcast to ${WEBHOOKS} webhooks across ${ACCOUNTS} accounts reaches each exactly once through the queue`, { timeout: 900_000 }, async () => {
  const started = Date.now();
  const accounts = await pool(Array.from({ length: ACCOUNTS }), 4, (_, i) => newAccount(server, `Fan-out ${i}`));
  const names = await pool(
    accounts.flatMap((a, i) => Array.from({ length: PER_ACCOUNT }, (_, k) => ({ a, name: `a${i}w${k}` }))),
    8,
    async ({ a, name }) => {
      await createWebhook(server, a.key, { url: sink.path(name), events: ["system.maintenance", "workflow.completed"] });
      return name;
    },
  );
  console.log(`set up ${ACCOUNTS} accounts and ${WEBHOOKS} webhooks in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const platform = apiOf(server);
  // An ordinary event's ingest, to compare with: one account, its 10 webhooks, the direct path (warm, then measured).
  const ordinary: number[] = [];
  for (let n = 0; n < 6; n++) {
    const { ms } = await timed(() =>
      expectAnswer(platform.POST("/v1/events", { body: { type: "workflow.completed", account_id: accounts[0].id, data: completedData(n) } }), 202),
    );
    if (n > 0) ordinary.push(ms);
  }
  const sent = Date.now();
  const { value: answer, ms: broadcastMs } = await timed(() =>
    expectAnswer(platform.POST("/v1/events", { body: { id: "mnt_fanout_e2e", type: "system.maintenance", data: MAINTENANCE } }), 202),
  );
  expect(answer).toEqual({ id: "mnt_fanout_e2e", deliveries: WEBHOOKS });

  const got = (name: string) => sink.received(name).filter((h) => h.id === "mnt_fanout_e2e");
  const reached = () => names.filter((n) => got(n).length > 0).length;
  const budgetMs = 60_000 + WEBHOOKS * 60;
  const deadline = Date.now() + budgetMs;
  let crons = 0;
  let last = 0;
  let lastChange = Date.now();
  while (reached() < WEBHOOKS && Date.now() < deadline) {
    await sleep(500);
    if (reached() !== last) {
      last = reached();
      lastChange = Date.now();
    } else if (Date.now() - lastChange > 20_000) {
      // Stalled: the broker lost what it held (above). The cron queues again the pages not done 15 s after queuing.
      await triggerCron(server);
      crons++;
      lastChange = Date.now();
    }
  }
  const allAt = Date.now();
  if (reached() < WEBHOOKS) {
    throw new Error(
      `${reached()} of ${WEBHOOKS} webhooks received the broadcast within ${budgetMs / 1000} s, the cron run ${crons} times on the way. ` +
        `The queue's last batches, as wrangler printed them:\n${queueLines(server.output()).slice(-8).join("\n")}`,
    );
  }
  // Nothing more arrives: each webhook got it once, under its one delivery id.
  await sleep(3000);
  for (const n of names) expect(got(n), n).toHaveLength(1);
  expect(new Set(names.map((n) => got(n)[0].delivery)).size).toBe(WEBHOOKS);
  const after = sink.received("a0w0").filter((h) => h.id !== "mnt_fanout_e2e");
  expect(after).toHaveLength(6);
  const batches = queueLines(server.output()).filter((l) => l.includes("QUEUE"));
  console.log(`${batches.length} consumer batches; the cron run ${crons} times to queue lost pages again`);
  console.log(
    `fan-out to ${WEBHOOKS}: broadcast ingest ${broadcastMs.toFixed(0)} ms, ordinary ingest median ${median(ordinary).toFixed(0)} ms; ` +
      `all delivered ${((allAt - sent) / 1000).toFixed(1)} s after the broadcast was sent`,
  );
  // Its usual latency: no more than an ordinary ingest's few round trips (generous for a shared machine).
  expect(broadcastMs).toBeLessThan(Math.max(1000, median(ordinary) * 20));
});
