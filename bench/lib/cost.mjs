// Phase 5: billable operations per delivered event, counted by the counting build of the service
// (bench/cost/entry.js) on the happy path, priced at Cloudflare's Workers Paid rates, plus the time profile the
// same counters give (where a delivery's time goes).
import { client, percentile, pool, round } from "./load.mjs";
import { startWrangler } from "./proc.mjs";
import { accountWithWebhooks, event, platformHeaders, SERVICE_VARS } from "./service.mjs";

/**
 * Workers Paid list prices beyond the included monthly usage, USD. Read on developers.cloudflare.com (Workers,
 * Durable Objects and D1 pricing pages) on 2026-11-27. Included allowances (10 M Worker requests, 1 M DO requests,
 * 25 B rows read, 50 M rows written each for D1 and DO SQLite, 400,000 GB-s) are ignored: these are marginal prices
 * at scale.
 */
export const PRICES = {
  checked: "2026-11-27",
  source: [
    "https://developers.cloudflare.com/workers/platform/pricing/",
    "https://developers.cloudflare.com/durable-objects/platform/pricing/",
    "https://developers.cloudflare.com/d1/platform/pricing/",
  ],
  worker_request_per_million: 0.3,
  worker_cpu_ms_per_million: 0.02,
  do_request_per_million: 0.15,
  do_gb_s_per_million: 12.5,
  do_memory_gb: 0.125,
  rows_written_per_million: 1.0,
  rows_read_per_million: 0.001,
  notes: [
    "A Durable Object request is each RPC call and each alarm invocation (DO pricing page).",
    "setAlarm() is billed as one row written (DO pricing); deleteAlarm() is counted as one too (assumed, it deletes the alarm row).",
    "D1 and DO SQLite row prices are the same: $1.00 per million rows written, $0.001 per million rows read.",
    "DO duration is estimated from the wall time of alarm runs and RPC calls in the counting build (an upper bound: local I/O is slower and overlapping calls are added).",
  ],
};

const NUMERIC = [
  "worker_requests",
  "rpc_calls",
  "alarms",
  "d1_queries",
  "d1_batches",
  "d1_statements_in_batches",
  "d1_rows_read",
  "d1_rows_written",
  "d1_ms",
  "sql_execs",
  "sql_rows_read",
  "sql_rows_written",
  "alarm_sets",
  "alarm_deletes",
  "alarm_gets",
  "alarm_pending",
  "fetches",
  "fetch_ms",
  "alarm_ms",
  "rpc_ms",
];

function diff(after, before) {
  const out = {};
  for (const k of NUMERIC) out[k] = (after[k] ?? 0) - (before?.[k] ?? 0);
  out.alarm_lateness_ms = after.alarm_lateness_ms.slice(before?.alarm_lateness_ms?.length ?? 0);
  out.rpc_by_method = {};
  for (const [m, n] of Object.entries(after.rpc_by_method)) out.rpc_by_method[m] = n - (before?.rpc_by_method?.[m] ?? 0);
  out.by_sql = {};
  for (const [k, v] of Object.entries(after.by_sql)) {
    const b = before?.by_sql?.[k] ?? { count: 0, rows_read: 0, rows_written: 0 };
    const d = { count: v.count - b.count, rows_read: v.rows_read - b.rows_read, rows_written: v.rows_written - b.rows_written };
    if (d.count > 0) out.by_sql[k] = d;
  }
  return out;
}

function sum(list) {
  const out = { alarm_lateness_ms: [], rpc_by_method: {}, by_sql: {} };
  for (const k of NUMERIC) out[k] = 0;
  for (const x of list) {
    for (const k of NUMERIC) out[k] += x[k];
    out.alarm_lateness_ms.push(...x.alarm_lateness_ms);
    for (const [m, n] of Object.entries(x.rpc_by_method)) out.rpc_by_method[m] = (out.rpc_by_method[m] ?? 0) + n;
    for (const [k, v] of Object.entries(x.by_sql)) {
      const o = out.by_sql[k] ?? (out.by_sql[k] = { count: 0, rows_read: 0, rows_written: 0 });
      o.count += v.count;
      o.rows_read += v.rows_read;
      o.rows_written += v.rows_written;
    }
  }
  return out;
}

/** Per delivered event: the operations, their price, and the time profile. */
function perDelivery(worker, queue, deliveries, events) {
  const E = Math.max(1, deliveries);
  const alarmWrites = queue.alarm_sets + queue.alarm_deletes;
  const rowsWritten = worker.d1_rows_written + queue.d1_rows_written + queue.sql_rows_written + alarmWrites;
  const rowsRead = worker.d1_rows_read + queue.d1_rows_read + queue.sql_rows_read;
  // Alarms left set when the scenario settled fire later, each one more DO request: counted here.
  const doRequests = queue.rpc_calls + queue.alarms + Math.max(0, queue.alarm_pending);
  const activeS = (queue.alarm_ms + queue.rpc_ms) / 1000;
  const usd = {
    worker_requests: (worker.worker_requests / E) * PRICES.worker_request_per_million,
    do_requests: (doRequests / E) * PRICES.do_request_per_million,
    rows_written: (rowsWritten / E) * PRICES.rows_written_per_million,
    rows_read: (rowsRead / E) * PRICES.rows_read_per_million,
    do_duration_upper_bound: ((activeS * PRICES.do_memory_gb) / E) * PRICES.do_gb_s_per_million,
  };
  usd.total = Object.values(usd).reduce((a, b) => a + b, 0);
  const bySql = {};
  for (const [k, v] of Object.entries({ ...worker.by_sql, ...queue.by_sql })) {
    bySql[k] = { per_delivery: round(v.count / E), rows_written_per_delivery: round(v.rows_written / E), rows_read_per_delivery: round(v.rows_read / E) };
  }
  return {
    deliveries,
    events,
    per_delivery: {
      worker_requests: round(worker.worker_requests / E),
      // Four decimals whatever the size: these two are judged against targets (1.0033 must not read as 1).
      do_requests: Math.round((doRequests / E) * 10000) / 10000,
      do_rpc_calls: round(queue.rpc_calls / E),
      do_alarms: round(queue.alarms / E),
      do_alarms_still_set: round(Math.max(0, queue.alarm_pending) / E),
      rows_written: Math.round((rowsWritten / E) * 10000) / 10000,
      rows_written_d1_ingest: round(worker.d1_rows_written / E),
      rows_written_d1_log: round(queue.d1_rows_written / E),
      rows_written_do_sqlite: round(queue.sql_rows_written / E),
      alarm_writes: round(alarmWrites / E),
      rows_read: round(rowsRead / E),
      d1_round_trips_ingest: round(worker.d1_queries / E),
      d1_round_trips_delivery: round(queue.d1_queries / E),
      do_sql_statements: round(queue.sql_execs / E),
      alarm_get_calls: round(queue.alarm_gets / E),
    },
    usd_per_million_deliveries: Object.fromEntries(Object.entries(usd).map(([k, v]) => [k, round(v)])),
    profile: {
      ingest_d1_ms_per_query: round(worker.d1_ms / Math.max(1, worker.d1_queries)),
      ingest_d1_ms_per_event: round(worker.d1_ms / Math.max(1, events)),
      enqueue_rpc_ms_avg: round(queue.rpc_ms / Math.max(1, queue.rpc_calls)),
      deliveries_per_alarm: round(deliveries / Math.max(1, queue.alarms)),
      log_flushes_per_delivery: round(queue.d1_batches / E),
      alarm_ms_per_delivery: round(queue.alarm_ms / E),
      fetch_ms_per_delivery: round(queue.fetch_ms / E),
      d1_flush_ms_per_delivery: round(queue.d1_ms / E),
      other_ms_per_delivery: round((queue.alarm_ms - queue.fetch_ms - queue.d1_ms) / E),
      d1_ms_per_flush: round(queue.d1_ms / Math.max(1, queue.d1_batches)),
      alarm_lateness_ms_p50: round(percentile(queue.alarm_lateness_ms, 50)),
      alarm_lateness_ms_p95: round(percentile(queue.alarm_lateness_ms, 95)),
    },
    by_sql: bySql,
  };
}

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
      out.scenarios[name] = { what: s.what, webhooks: s.webhooks, complete, ...perDelivery(worker, queue, got.ids.length, n) };
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
