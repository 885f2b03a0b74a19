// The tables of the results section: the figures beside the single-event path (batch-fed delivery, ingest alone,
// the open loop, the backlog drain), and the cost per delivered event. lib.mjs holds the cell formatting.
import { fmt, mmm, row } from "./lib.mjs";

/** Every other figure, one row each: median, min and max over the rounds. */
export function figuresTable(r) {
  const lines = [row(["figure", "median", "min", "max", "unit"]), row(["---", "---:", "---:", "---:", "---"])];
  const add = (label, s, unit) => s && lines.push(row([label, ...mmm(s), unit]));
  const b = r.batchfed?.baseline ?? {};
  add(`Batch-fed round, baseline: forwarded requests/s (${b.concurrency ?? "?"} clients)`, b.forwarded_per_s, "req/s");
  for (const [k, label] of [
    ["w1", "1 webhook"],
    ["w10", "fan-out to 10 webhooks"],
    ["w100", "fan-out to 100 webhooks"],
  ]) {
    const t = r.batchfed?.[k];
    if (!t) continue;
    add(`Batch-fed delivered/s, ${label}`, t.delivered_per_s, "deliveries/s");
    add(`  ratio to baseline, ${label}`, t.ratio_to_baseline, "×");
    add(`  CPU per delivery (all service processes), ${label}`, t.cpu_ms_per_delivery, "ms");
    const bp = t.cpu_ms_per_delivery_by_process;
    if (bp)
      lines.push(
        row([
          "    split: Worker's workerd / proxy workerd / wrangler (Node), medians",
          `${fmt(bp.workerd.median)} / ${fmt(bp.proxy.median)} / ${fmt(bp.wrangler.median)}`,
          "",
          "",
          "ms",
        ]),
      );
  }
  add("Baseline CPU per forwarded request (all baseline processes)", b.cpu_ms_per_request, "ms");
  const bb = b.cpu_ms_per_request_by_process;
  if (bb)
    lines.push(
      row([
        "  split: Worker's workerd / proxy workerd / wrangler (Node), medians",
        `${fmt(bb.workerd.median)} / ${fmt(bb.proxy.median)} / ${fmt(bb.wrangler.median)}`,
        "",
        "",
        "ms",
      ]),
    );
  const i = r.ingest;
  if (i?.single) {
    add(`Ingest single (POST /v1/events, ${i.concurrency} clients): accepted`, i.single.events_per_s, "events/s");
    add("  ingest latency p50", i.single.p50_ms, "ms");
    add("  ingest latency p99", i.single.p99_ms, "ms");
    add("  CPU per accepted event (all service processes)", i.single.cpu_ms_per_event, "ms");
    add(`Ingest batch (${i.batch_size} events a request, ${i.batch_concurrency} clients): accepted`, i.batch.events_per_s, "events/s");
    add("  batch request latency p50", i.batch.p50_ms, "ms");
    add("  batch request latency p99", i.batch.p99_ms, "ms");
    add("  CPU per accepted event (all service processes)", i.batch.cpu_ms_per_event, "ms");
  }
  const ld = r.openloop;
  if (ld) {
    for (const p of ["p50", "p95", "p99"]) add(`E2E at ${ld.events_per_s} events/s, service, 202 → received ${p}`, ld.service[p], "ms");
    for (const p of ["p50", "p95", "p99"]) add(`E2E at ${ld.events_per_s} events/s, baseline (async), 202 → received ${p}`, ld.baseline[p], "ms");
    add(`E2E at ${ld.events_per_s} events/s, service, sent → received p50`, ld.service.sent_p50, "ms");
    add(`E2E at ${ld.events_per_s} events/s, service, sent → received p99`, ld.service.sent_p99, "ms");
  }
  for (const [size, x] of Object.entries(r.backlog ?? {})) {
    if (size === "memory_control") continue;
    add(`Backlog ${size}: drain rate over ten slices`, x.drain_per_s_slices, "deliveries/s");
    lines.push(row([`  backlog ${size}: whole drain rate / resumed after flip`, fmt(x.drain_per_s), "", "", `deliveries/s; ${fmt(x.resume_after_ms)} ms`]));
    lines.push(
      row([`  backlog ${size}: peak RSS of workerd, queueing / draining`, `${fmt(x.peak_rss_queueing_mib)} / ${fmt(x.peak_rss_draining_mib)}`, "", "", "MiB"]),
    );
    const h = x.retained_heap_mib;
    if (h)
      lines.push(
        row([
          `  backlog ${size}: Worker isolate's retained heap, before / queued / mid-drain / drained`,
          [h.before, h.queued, h.mid_drain, h.drained].map(fmt).join(" / "),
          "",
          "",
          "MiB",
        ]),
      );
  }
  const ctl = r.backlog?.memory_control;
  if (ctl)
    lines.push(
      row([
        `  control: ${ctl.events} events for no webhook (no object involved), RSS growth / retained heap before → after`,
        `${ctl.rss_growth_mib >= 0 ? "+" : ""}${fmt(ctl.rss_growth_mib)} / ${fmt(ctl.retained_heap_before_mib)} → ${fmt(ctl.retained_heap_after_mib)}`,
        "",
        "",
        "MiB",
      ]),
    );
  return lines.join("\n");
}

/** The counting build's tables: operations, USD and the time profile per delivered event, and the statements. */
export function costTables(cost) {
  if (!cost) return "_Cost phase not run._";
  const names = Object.keys(cost.scenarios);
  const head = [row(["per delivered event", ...names]), row(["---", ...names.map(() => "---:")])];
  const keys = [
    ["worker_requests", "Worker requests"],
    ["do_requests", "DO requests (RPC + alarms)"],
    ["do_rpc_calls", "  of which RPC calls"],
    ["do_alarms", "  of which alarm invocations"],
    ["do_alarms_still_set", "  of which alarms set, to fire later"],
    ["rows_written", "rows written, all"],
    ["rows_written_d1_ingest", "  D1, ingest (events + deliveries)"],
    ["rows_written_d1_log", "  D1, delivery log (attempts + status)"],
    ["rows_written_do_sqlite", "  DO SQLite (queue, meta)"],
    ["alarm_writes", "  alarm writes (setAlarm + deleteAlarm)"],
    ["rows_read", "rows read, all"],
    ["d1_round_trips_ingest", "D1 round trips, ingest"],
    ["d1_round_trips_delivery", "D1 round trips, delivery log"],
    ["do_sql_statements", "DO SQL statements"],
    ["alarm_get_calls", "getAlarm() calls"],
  ];
  const ops = [...head, ...keys.map(([k, label]) => row([label, ...names.map((n) => fmt(cost.scenarios[n].per_delivery[k]))]))];
  const usdKeys = Object.keys(cost.scenarios[names[0]].usd_per_million_deliveries);
  const usd = [
    row(["USD per million deliveries", ...names]),
    row(["---", ...names.map(() => "---:")]),
    ...usdKeys.map((k) => row([k.replaceAll("_", " "), ...names.map((n) => `$${fmt(cost.scenarios[n].usd_per_million_deliveries[k])}`)])),
  ];
  const profKeys = Object.keys(cost.scenarios[names[0]].profile);
  const prof = [
    row(["profile (counting build)", ...names]),
    row(["---", ...names.map(() => "---:")]),
    ...profKeys.map((k) => row([k.replaceAll("_", " "), ...names.map((n) => fmt(cost.scenarios[n].profile[k]))])),
  ];
  const load = cost.scenarios.load ?? cost.scenarios[names[0]];
  const top = Object.entries(load.by_sql)
    .filter(([, v]) => v.rows_written_per_delivery > 0)
    .sort((a, b) => b[1].rows_written_per_delivery - a[1].rows_written_per_delivery);
  const stmts = [
    row(["statement (load scenario)", "runs per delivery", "rows written per delivery"]),
    row(["---", "---:", "---:"]),
    ...top.map(([k, v]) => row([`\`${k.replaceAll("|", "\\|")}\``, fmt(v.per_delivery), fmt(v.rows_written_per_delivery)])),
  ];
  const scen = names.map((n) => `- **${n}**: ${cost.scenarios[n].what}; ${cost.scenarios[n].deliveries} deliveries of ${cost.scenarios[n].events} events.`);
  return [scen.join("\n"), ops.join("\n"), usd.join("\n"), prof.join("\n"), stmts.join("\n")].join("\n\n");
}

/** The broadcast fan-out (phase "fanout"): one row per size, as measured once each. */
export function fanoutTable(f) {
  if (!f?.sizes?.length) return "Not measured in this run.";
  const lines = [
    row(["webhooks (accounts)", "answer", "ingest ms", "ordinary event ingest ms", "first delivery ms", "all delivered ms", "delivered (unique)", "cron runs"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ];
  for (const s of f.sizes) {
    lines.push(
      row([
        `${s.webhooks} (${s.accounts})`,
        `${s.status} (${s.deliveries_answered ?? "–"})`,
        fmt(s.ingest_ms),
        fmt(s.ordinary_ingest_ms),
        fmt(s.first_ms),
        s.complete ? fmt(s.all_ms) : "incomplete",
        `${s.delivered} (${s.unique})`,
        String(s.crons_to_requeue ?? 0),
      ]),
    );
  }
  return lines.join("\n");
}
