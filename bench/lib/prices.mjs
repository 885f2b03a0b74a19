// Billable operations per delivered event, from the counting build's counters, priced at Cloudflare's Workers Paid
// rates, with the time profile the same counters give (where a delivery's time goes, and a request's before its 202).
import { percentile, round } from "./load.mjs";

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
  "handler_ms",
  "rpc_wall_ms",
];

/** What the counters moved between two readings. */
export function diff(after, before) {
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

/** The counters of several objects added up. */
export function sum(list) {
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
export function perDelivery(worker, queue, deliveries, events) {
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

/**
 * What one Worker request did before its answer was ready, per request (for single ingest, per event): D1 round
 * trips and statements, object RPCs, and where its wall time went (D1, the RPC, the rest: CPU and scheduling).
 */
export function before202(now, before, requests) {
  const d = diff(now, before);
  const n = Math.max(1, requests);
  const statements = d.d1_queries - d.d1_batches + d.d1_statements_in_batches;
  return {
    requests,
    d1_round_trips: round(d.d1_queries / n),
    d1_statements: round(statements / n),
    object_rpcs: round(d.rpc_calls / n),
    rpc_by_method: Object.fromEntries(Object.entries(d.rpc_by_method).map(([m, x]) => [m, round(x / n)])),
    handler_ms: round(d.handler_ms / n),
    d1_ms: round(d.d1_ms / n),
    rpc_ms: round(d.rpc_wall_ms / n),
    other_ms: round((d.handler_ms - d.d1_ms - d.rpc_wall_ms) / n),
    // Which D1 statements those are (the repeat check, the account check, the match query, the event's insert…).
    statements: Object.entries(d.by_sql).map(([sql, v]) => ({ sql, per_request: round(v.count / n) })),
  };
}
