// The first tables of the results section: the single-event path beside the forward-only Worker, and where its time
// goes (the counting build's counts before the 202, and the CPU profile of the Worker isolate).
import { fmt, spread, table } from "./lib.mjs";

const pair = (a, b) => `${spread(a)} / ${spread(b)}`;

/** The single-event path under load and at light load: one column per side, medians (min–max) over the rounds. */
export function singleTable(s) {
  if (!s?.baseline) return "_Single-event phase not run._";
  const names = {
    baseline: "forward-only Worker",
    floor: "its durable floor (D1 + object, no app)",
    floor_object: "the floor, object only (no D1)",
    none: "service, 1 webhook `none`",
    strict: "1 webhook strict",
    ten: "10 strict webhooks",
  };
  const sides = Object.keys(names).filter((k) => s[k]);
  const head = ["", ...sides.map((k) => names[k])];
  const each = (f) => sides.map((k) => f(s[k], k));
  const ratio = (x, k) => (k === "baseline" ? "" : ` (${fmt(x.ratio_delivered?.median)}×)`);
  const cpu = (x, key) => fmt(x.cpu_ms_per_event_by_process?.[key]?.median);
  const rows = [
    [`delivered/s (${s.concurrency} clients, ${s.seconds} s a side)`, ...each((x, k) => `${spread(x.delivered_per_s)}${ratio(x, k)}`)],
    ["accepted/s (answers 202)", ...each((x) => spread(x.accepted_per_s))],
    [
      "ingest p50 / p99 under that load, ms",
      ...each((x, k) => pair(x.ingest_p50_ms, x.ingest_p99_ms) + (k === "baseline" ? "" : ` (${fmt(x.ratio_ingest_p50?.median)}×)`)),
    ],
    ["send → receipt p50 / p99, ms", ...each((x) => pair(x.e2e_p50_ms, x.e2e_p99_ms))],
    ["deliveries owed at the last 202 / last one after it, ms", ...each((x) => `${fmt(x.backlog_at_end?.median)} / ${fmt(x.drain_after_ms?.median)}`)],
    ["delivered/s while ingest runs / after it stops", ...each((x) => `${spread(x.delivered_during_ingest_per_s)} / ${spread(x.drain_per_s)}`)],
    ["the Worker's workerd: busiest thread, share of a core", ...each((x) => spread(x.main_thread_core_share))],
    [
      "CPU ms per event: all / Worker's workerd / proxy workerd / wrangler",
      ...each((x) => ["total", "workerd", "proxy", "wrangler"].map((p) => cpu(x, p)).join(" / ")),
    ],
    ["CPU ms per delivery, all processes", ...each((x) => fmt(x.cpu_ms_per_delivery?.median))],
    ["events per round", ...each((x) => (x.events_per_round ?? []).join(", "))],
  ];
  const l = s.light;
  const lightRows = l
    ? [
        ["light load: send → receipt p50 / p95 / p99, ms", l.baseline, l.service],
        ["light load: answer → receipt p50, ms (negative: the request arrived first)", null, null],
      ]
    : [];
  const light = l
    ? table(
        ["one event at a time", "forward-only Worker", "forward-only, 202 first (`?async`)", "service, 1 webhook `none`"],
        [
          [
            lightRows[0][0],
            ...[l.baseline, l.baseline_async, l.service].map((x) => ["sent_p50", "sent_p95", "sent_p99"].map((p) => fmt(x?.[p]?.median)).join(" / ")),
          ],
          [lightRows[1][0], ...[l.baseline, l.baseline_async, l.service].map((x) => fmt(x?.p50?.median))],
          ["rounds × events", ...[l.baseline, l.baseline_async, l.service].map((x) => `${x?.sent_p50?.rounds?.length ?? 0} × ${l.events_per_round}`)],
        ],
      )
    : "";
  return [table(head, rows), light].filter(Boolean).join("\n\n");
}

/** Counts before the 202 (counting build) and the CPU profile: by side, by module, and the top functions. */
export function profileTables(r) {
  const out = [];
  const scen = r.cost?.scenarios;
  if (scen?.light?.before_202) {
    const cols = ["light", "load"].filter((k) => scen[k]?.before_202);
    const v = (key) => cols.map((k) => fmt(scen[k].before_202[key]));
    out.push(
      table(
        ["per event, before the 202 (counting build)", ...cols.map((k) => `${k} (${k === "light" ? "one at a time" : "8 clients"})`)],
        [
          ["D1 round trips", ...v("d1_round_trips")],
          ["D1 statements", ...v("d1_statements")],
          ["object RPCs", ...v("object_rpcs")],
          ["wall ms: the whole handler", ...v("handler_ms")],
          ["wall ms: waiting on D1", ...v("d1_ms")],
          ["wall ms: waiting on the RPC (the object's enqueue)", ...v("rpc_ms")],
          ["wall ms: the rest (CPU, scheduling)", ...v("other_ms")],
        ],
      ),
    );
    const light = scen.light.before_202.statements ?? [];
    out.push(
      table(
        ["D1 statements before the 202 (light)", "runs per event"],
        light.map((x) => [`\`${x.sql.replaceAll("|", "\\|")}\``, fmt(x.per_request)]),
      ),
    );
  }
  const p = r.profile;
  if (p?.service) {
    const sides = [p.service, p.ten_strict, p.baseline];
    const cell = (x, f) => (x ? fmt(f(x)) : "–");
    out.push(
      table(
        [
          `CPU ms per event (${p.concurrency} clients, ${p.seconds} s, sampled every ${p.interval_us} µs)`,
          "service, 1 webhook `none`",
          "service, 10 strict webhooks",
          "forward-only Worker",
        ],
        [
          [
            "the Worker isolate, not idle (it runs the objects too; wall time, above CPU time on a busy machine)",
            ...sides.map((x) => cell(x, (y) => y.busy_ms_per_unit)),
          ],
          ["… the Worker: request until its 202", ...sides.map((x) => cell(x, (y) => y.by_side.worker.ms_per_unit))],
          ["… the Durable Object: hand-off, send, log", ...sides.map((x) => cell(x, (y) => y.by_side.object.ms_per_unit))],
          ["… no app frame on the stack (runtime, D1 client callbacks, GC)", ...sides.map((x) => cell(x, (y) => y.by_side.runtime.ms_per_unit))],
          ["the Worker's workerd process (/proc: every isolate, the local D1, HTTP)", ...sides.map((x) => cell(x, (y) => y.process_cpu_ms_per_event?.workerd))],
          ["every process of the instance (with wrangler and its proxy)", ...sides.map((x) => cell(x, (y) => y.process_cpu_ms_per_event?.total))],
          ["events in the profiled round", ...sides.map((x) => (x ? String(x.events) : "–"))],
        ],
      ),
    );
    const mods = p.service.by_module.filter((m) => m.percent >= 0.5).slice(0, 18);
    out.push(
      table(
        ["service: module (self time; natives booked to their caller)", "ms per event", "% of busy", "in the Worker", "in the object"],
        mods.map((m) => [m.module, fmt(m.ms_per_unit), fmt(m.percent), fmt(m.worker), fmt(m.object)]),
      ),
    );
    out.push(
      table(
        ["service: function (self time)", "ms per event", "% of busy"],
        p.service.top_functions.slice(0, 12).map((f) => [`\`${f.fn.replaceAll("|", "\\|")}\``, fmt(f.ms_per_unit), fmt(f.percent)]),
      ),
    );
    const ten = p.ten_strict;
    if (ten) {
      // Per event, so ten deliveries each: divide by ten for a delivery's share.
      out.push(
        table(
          ["service, 10 strict webhooks: module (self time)", "ms per event", "% of busy", "in the Worker", "in the object"],
          ten.by_module
            .filter((m) => m.percent >= 1)
            .slice(0, 12)
            .map((m) => [m.module, fmt(m.ms_per_unit), fmt(m.percent), fmt(m.worker), fmt(m.object)]),
        ),
      );
    }
  }
  return out.length ? out.join("\n\n") : "_Profile not run._";
}
