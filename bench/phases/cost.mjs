// Phase "cost": billable operations per delivered event, counted by the counting build of the service
// (bench/cost/entry.js) on the happy path, priced by lib/prices.mjs, and what each single-ingest request did before
// its 202 (D1 round trips, object RPCs, their wall time).
import { startWrangler } from "../lib/instance.mjs";
import { client, pool } from "../lib/load.mjs";
import { before202, diff, perDelivery, sum } from "../lib/prices.mjs";
import { accountWithWebhooks, event, platformHeaders, SERVICE_VARS } from "../lib/service.mjs";

/** Starts the counting build on fresh state, runs the happy-path scenarios, and stops it. */
export async function measureCost({ rcv, sizes, log, concurrency, config }) {
  const inst = await startWrangler({ name: "cost", config, vars: SERVICE_VARS, migrate: true, readyPath: "/v1/event-types" });
  const c = client(inst.url);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  try {
    const counts = async (ids) => (await fetch(`${inst.url}/__bench/counts?webhooks=${ids.join(",")}`)).json();
    /** Counters once they stop moving (the last alarm's log flush lands just after the last delivery). */
    const settled = async (ids) => {
      let prev = JSON.stringify(await counts(ids));
      for (let i = 0; i < 20; i++) {
        await sleep(250);
        const next = await counts(ids);
        const s = JSON.stringify(next);
        if (s === prev) return next;
        prev = s;
      }
      return JSON.parse(prev);
    };
    const send = (accountId, id) => c.post("/v1/events", JSON.stringify(event(accountId, id)), platformHeaders);
    const scenarios = {
      light: {
        webhooks: 1,
        what: "one event at a time (each delivered before the next is sent), single ingest",
        async run(a, n) {
          for (let i = 0; i < n; i++) {
            await send(a.accountId, `cl-${i}`);
            await rcv.waitFor(() => rcv.countMany("c-light"), i + 1, 15_000);
            await sleep(20);
          }
        },
      },
      load: {
        webhooks: 1,
        what: `single ingest, ${concurrency} concurrent clients`,
        run: (a, n) => pool(n, concurrency, (i) => send(a.accountId, `cload-${i}`)),
      },
      batch: {
        webhooks: 1,
        what: "batch ingest, 100 events a request, 2 in flight",
        run: (a, n) =>
          pool(Math.ceil(n / 100), 2, (i) =>
            c.post(
              "/v1/events/batch",
              { events: Array.from({ length: Math.min(100, n - i * 100) }, (_, k) => event(a.accountId, `cb-${i}-${k}`)) },
              platformHeaders,
            ),
          ),
      },
      steady: {
        webhooks: 1,
        warm: true,
        what: `single ingest, ${concurrency} concurrent clients, counted after as many events again have warmed the webhook up (its queue has its spares)`,
        run: (a, n, round = "") => pool(n, concurrency, (i) => send(a.accountId, `csteady${round}-${i}`)),
      },
      fanout10: {
        webhooks: 10,
        what: "single ingest, 4 concurrent clients, 10 matching webhooks",
        run: (a, n) => pool(n, 4, (i) => send(a.accountId, `cf-${i}`)),
      },
    };
    const out = { scenarios: {} };
    for (const [name, s] of Object.entries(scenarios)) {
      const n = sizes[name];
      const prefix = `c-${name}`;
      const a = await accountWithWebhooks(inst.url, { name: `cost ${name}`, count: s.webhooks, receiverUrl: rcv.url, tag: prefix });
      const ids = a.webhooks.map((w) => w.id);
      if (s.warm) {
        await s.run(a, n, "-warm");
        await rcv.waitFor(() => rcv.countMany(prefix), n * s.webhooks, 120_000);
        await settled(ids);
        await rcv.takeMany(prefix);
      }
      const before = await settled(ids);
      await s.run(a, n);
      const complete = await rcv.waitFor(() => rcv.countMany(prefix), n * s.webhooks, 120_000);
      const after = await settled(ids);
      const got = await rcv.takeMany(prefix);
      const worker = diff(after.worker, before.worker);
      const queue = sum(after.queues.map((q, i) => diff(q, before.queues[i])));
      out.scenarios[name] = {
        what: s.what,
        webhooks: s.webhooks,
        complete,
        ...perDelivery(worker, queue, got.ids.length, n),
        before_202: before202(after.worker.before_202, before.worker.before_202, worker.worker_requests),
      };
      const p = out.scenarios[name].per_delivery;
      log(
        `   ${name}: ${got.ids.length} deliveries; per delivery ${p.rows_written} rows written (${p.rows_written_d1_ingest} ingest D1 + ${p.rows_written_d1_log} log D1 + ${p.rows_written_do_sqlite} DO SQLite + ${p.alarm_writes} alarm), ${p.do_requests} DO requests, $${out.scenarios[name].usd_per_million_deliveries.total} per million`,
      );
    }
    const single = ["light", "load", "fanout10"].map((k) => out.scenarios[k]).filter(Boolean);
    const worst = (key) => single.reduce((m, s) => Math.max(m, s.per_delivery[key]), 0);
    const detail = (key) => single.map((s) => `${Object.keys(out.scenarios).find((k) => out.scenarios[k] === s)} ${s.per_delivery[key]}`).join(", ");
    out.happy_path = {
      rows_written: worst("rows_written"),
      rows_written_detail: `worst of single-ingest scenarios: ${detail("rows_written")}; batch ${out.scenarios.batch?.per_delivery.rows_written}; steady (warm webhook) ${out.scenarios.steady?.per_delivery.rows_written}`,
      do_requests: worst("do_requests"),
      do_requests_detail: `worst of single-ingest scenarios: ${detail("do_requests")}; batch ${out.scenarios.batch?.per_delivery.do_requests}`,
    };
    return out;
  } finally {
    c.close();
    await inst.stop();
  }
}
