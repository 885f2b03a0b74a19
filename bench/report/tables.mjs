// The report: the results section of bench/README.md (between its markers) and a hand-built SVG chart.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const START = "<!-- results:start -->";
const END = "<!-- results:end -->";

const fmt = (x, digits = 1) => {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toFixed(Math.abs(x) >= 10 ? 1 : digits + 1).replace(/\.?0+$/, "") || "0";
};
const mmm = (s) => (s ? [fmt(s.median), fmt(s.min), fmt(s.max)] : ["–", "–", "–"]);
const row = (cells) => `| ${cells.join(" | ")} |`;

function figuresTable(r) {
  const lines = [row(["figure", "median", "min", "max", "unit"]), row(["---", "---:", "---:", "---:", "---"])];
  const add = (label, s, unit) => s && lines.push(row([label, ...mmm(s), unit]));
  const b = r.baseline;
  add(`Baseline: forwarded requests/s (${b.concurrency ?? "?"} clients)`, b.forwarded_per_s, "req/s");
  for (const [k, label] of [
    ["w1", "1 webhook"],
    ["w10", "fan-out to 10 webhooks"],
    ["w100", "fan-out to 100 webhooks"],
  ]) {
    const t = r.throughput[k];
    if (!t) continue;
    add(`Sustained delivered/s, ${label}`, t.delivered_per_s, "deliveries/s");
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
  if (i.single) {
    add(`Ingest single (POST /v1/events, ${i.concurrency} clients): accepted`, i.single.events_per_s, "events/s");
    add("  ingest latency p50", i.single.p50_ms, "ms");
    add("  ingest latency p99", i.single.p99_ms, "ms");
    add("  CPU per accepted event (all service processes)", i.single.cpu_ms_per_event, "ms");
    add(`Ingest batch (${i.batch_size} events a request, ${i.batch_concurrency} clients): accepted`, i.batch.events_per_s, "events/s");
    add("  batch request latency p50", i.batch.p50_ms, "ms");
    add("  batch request latency p99", i.batch.p99_ms, "ms");
    add("  CPU per accepted event (all service processes)", i.batch.cpu_ms_per_event, "ms");
  }
  const l = r.e2e.light;
  if (l) {
    for (const p of ["p50", "p95", "p99"]) add(`E2E light load, service, 202 → received ${p}`, l.service[p], "ms");
    for (const p of ["p50", "p95", "p99"]) add(`E2E light load, baseline (async), 202 → received ${p}`, l.baseline[p], "ms");
    for (const p of ["p50", "p95", "p99"]) add(`E2E light load, service, sent → received ${p}`, l.service[`sent_${p}`], "ms");
    for (const p of ["p50", "p95", "p99"]) add(`E2E light load, baseline (async), sent → received ${p}`, l.baseline[`sent_${p}`], "ms");
    add("E2E light load, baseline (sync) round trip p50", l.baseline_sync.sent_p50, "ms");
  }
  const ld = r.e2e.load;
  if (ld) {
    for (const p of ["p50", "p95", "p99"]) add(`E2E at ${ld.events_per_s} events/s, service, 202 → received ${p}`, ld.service[p], "ms");
    for (const p of ["p50", "p95", "p99"]) add(`E2E at ${ld.events_per_s} events/s, baseline (async), 202 → received ${p}`, ld.baseline[p], "ms");
    add(`E2E at ${ld.events_per_s} events/s, service, sent → received p50`, ld.service.sent_p50, "ms");
    add(`E2E at ${ld.events_per_s} events/s, service, sent → received p99`, ld.service.sent_p99, "ms");
  }
  for (const [size, x] of Object.entries(r.backlog)) {
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
  const ctl = r.memory_control;
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

function costTables(cost) {
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

/** Rewrites the results section of bench/README.md (everything else in it is kept as written). */
export function writeReadme(r, file, jsonName = "latest.json") {
  const m = r.meta;
  const v = m.versions ?? {};
  const targets = [
    row(["target", "required", "this run", ""]),
    row(["---", "---", "---", "---"]),
    ...r.targets.map((t) => row([t.name, t.target, `${t.value}${t.detail ? ` (${t.detail})` : ""}`, t.met ? "**met**" : "**missed**"])),
  ].join("\n");
  const p = r.prices;
  const section = [
    START,
    "",
    `Run of ${m.date} (${m.quick ? "quick" : "full"}, ${m.duration_s} s): ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memory_gib} GiB, ${m.machine.os}; load average ${m.machine.load_average_before?.join(" ")} before, ${m.load_average_after?.join(" ")} after. Node ${v.node}, wrangler ${v.wrangler}, workerd ${v.workerd}, compatibility date ${v.compatibility_date}, commit ${v.commit}, measured src/ sha256 ${m.source?.src_sha256 ?? "?"}${m.source?.uncommitted_changes_in_src ? " (with uncommitted changes)" : ""}. Raw figures: [results/${jsonName}](results/${jsonName}).${m.quick ? " **A quick run (small counts, fewer rounds): a smoke test, not the reference figures.**" : ""}`,
    "",
    "![latency percentiles and throughput against the baseline](results/latency.svg)",
    "",
    "### Targets",
    "",
    targets,
    "",
    "### Every figure (median, min and max over the rounds)",
    "",
    figuresTable(r),
    "",
    "### Cost per delivered event (happy path, counting build)",
    "",
    costTables(r.cost),
    "",
    `Prices (Workers Paid, USD, beyond the included usage; read ${p.checked} on ${p.source.join(", ")}): Worker requests $${p.worker_request_per_million}/M, Worker CPU $${p.worker_cpu_ms_per_million}/M ms, DO requests $${p.do_request_per_million}/M, DO duration $${p.do_gb_s_per_million}/M GB-s at ${p.do_memory_gb} GB, rows written $${p.rows_written_per_million}/M, rows read $${p.rows_read_per_million}/M (D1 and DO SQLite alike). ${p.notes.join(" ")}`,
    "",
    r.notes.length ? `Notes from the run: ${r.notes.join("; ")}.` : "",
    "",
    END,
  ].join("\n");
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark\n\n";
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  text = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + END.length) : `${text.trimEnd()}\n\n## Results\n\n${section}\n`;
  writeFileSync(file, text);
}

// ---------------------------------------------------------------- SVG

const esc = (s) => String(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
const COLORS = { service: "#f38020", baseline: "#4a5568", service2: "#fbad41", baseline2: "#a0aec0" };

/** One panel of grouped bars with optional min–max whiskers and a dashed reference line. */
function panel({ x, y, w, h, title, unit, groups, series, ref }) {
  const out = [];
  const values = groups.flatMap((g) => g.bars.flatMap((b) => [b.value ?? 0, b.max ?? 0]));
  if (ref) values.push(ref.value);
  const top = niceMax(Math.max(1, ...values));
  const plotX = x + 46;
  const plotW = w - 56;
  const plotY = y + 40;
  const plotH = h - 100;
  const sy = (v) => plotY + plotH - (Math.max(0, v) / top) * plotH;
  out.push(`<text x="${x + w / 2}" y="${y + 18}" text-anchor="middle" font-size="14" font-weight="600">${esc(title)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    const yy = sy(v);
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${yy}" y2="${yy}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${plotX - 6}" y="${yy + 4}" text-anchor="end" font-size="10" fill="#4a5568">${fmt(v)}</text>`);
  }
  out.push(`<text x="${x + 10}" y="${plotY - 8}" font-size="10" fill="#4a5568">${esc(unit)}</text>`);
  const gw = plotW / groups.length;
  groups.forEach((g, gi) => {
    const bw = Math.min(28, (gw - 14) / g.bars.length);
    const gx = plotX + gi * gw + (gw - bw * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      if (b.value === null || b.value === undefined) return;
      const bx = gx + bi * bw;
      const yy = sy(b.value);
      out.push(
        `<rect x="${bx + 1}" y="${yy}" width="${bw - 2}" height="${plotY + plotH - yy}" fill="${b.color}"><title>${esc(`${b.name}: ${fmt(b.value)} ${unit}`)}</title></rect>`,
      );
      if (b.min !== undefined && b.max !== undefined && b.min !== null && b.max !== null) {
        const cx = bx + bw / 2;
        out.push(`<line x1="${cx}" x2="${cx}" y1="${sy(b.min)}" y2="${sy(b.max)}" stroke="#1a202c" stroke-width="1"/>`);
        out.push(`<line x1="${cx - 3}" x2="${cx + 3}" y1="${sy(b.max)}" y2="${sy(b.max)}" stroke="#1a202c"/>`);
        out.push(`<line x1="${cx - 3}" x2="${cx + 3}" y1="${sy(b.min)}" y2="${sy(b.min)}" stroke="#1a202c"/>`);
      }
      out.push(`<text x="${bx + bw / 2}" y="${yy - 3}" text-anchor="middle" font-size="8" fill="#1a202c">${fmt(b.value)}</text>`);
    });
    out.push(`<text x="${plotX + gi * gw + gw / 2}" y="${plotY + plotH + 14}" text-anchor="middle" font-size="11">${esc(g.label)}</text>`);
  });
  if (ref) {
    const yy = sy(ref.value);
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${yy}" y2="${yy}" stroke="#c53030" stroke-dasharray="5 4"/>`);
    const ly = plotY + plotH + 38 + Math.ceil(series.length / 2) * 15;
    out.push(`<line x1="${x + 10}" x2="${x + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="#c53030" stroke-dasharray="3 2"/>`);
    out.push(`<text x="${x + 24}" y="${ly}" font-size="10" fill="#c53030">${esc(ref.label)}</text>`);
  }
  series.forEach((s, k) => {
    const lx = x + 10 + (k % 2) * (w / 2);
    const ly = plotY + plotH + 38 + Math.floor(k / 2) * 15;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 14}" y="${ly}" font-size="10">${esc(s.name)}</text>`);
  });
  return out.join("\n");
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** The chart: latency percentiles (light load and at load) and delivered/s against the baseline. */
export function writeSvg(r, file) {
  const W = 1080;
  const H = 440;
  const parts = [];
  const lat = (block, label) => {
    if (!block) return null;
    const s = [
      ["service, 202 → received", COLORS.service, block.service, ""],
      ["baseline, 202 → received", COLORS.baseline, block.baseline, ""],
      ["service, sent → received", COLORS.service2, block.service, "sent_"],
      ["baseline, sent → received", COLORS.baseline2, block.baseline, "sent_"],
    ];
    return {
      title: label,
      unit: "ms",
      series: s.map(([name, color]) => ({ name, color })),
      groups: ["p50", "p95", "p99"].map((p) => ({
        label: p,
        bars: s.map(([name, color, src, pre]) => {
          const v = src?.[`${pre}${p}`];
          return { name, color, value: v?.median ?? null, min: v?.min, max: v?.max };
        }),
      })),
    };
  };
  const light = lat(r.e2e.light, "End-to-end latency, light load");
  const load = lat(r.e2e.load, `End-to-end latency at ${r.e2e.load?.events_per_s ?? "?"} events/s`);
  const b = r.baseline.forwarded_per_s;
  const tp = {
    title: "Deliveries/s (1, 10, 100 webhooks)",
    unit: "per second",
    series: [
      { name: "baseline: forwarded requests/s", color: COLORS.baseline },
      { name: "service: deliveries/s", color: COLORS.service },
    ],
    groups: [
      { label: "baseline", bars: [{ name: "baseline", color: COLORS.baseline, value: b?.median ?? null, min: b?.min, max: b?.max }] },
      ...[
        ["w1", "1 webhook"],
        ["w10", "10"],
        ["w100", "100"],
      ].map(([k, label]) => {
        const s = r.throughput[k]?.delivered_per_s;
        return { label, bars: [{ name: label, color: COLORS.service, value: s?.median ?? null, min: s?.min, max: s?.max }] };
      }),
    ],
    ref: b?.median ? { value: b.median / 2, label: `target: 0.5 × baseline (${fmt(b.median / 2)}/s)` } : null,
  };
  const panels = [light, load, tp].filter(Boolean);
  const pw = W / panels.length;
  panels.forEach((p, k) => {
    parts.push(panel({ ...p, x: k * pw, y: 30, w: pw, h: H - 40 }));
  });
  const m = r.meta;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">
<rect width="${W}" height="${H}" fill="#ffffff"/>
<text x="12" y="20" font-size="12" fill="#4a5568">${esc(`BroxiAI Webhooks benchmark, ${m.date?.slice(0, 16).replace("T", " ")} UTC, ${m.machine?.cores} cores, load avg ${m.machine?.load_average_before?.[0]}; bars are medians over rounds, whiskers min–max`)}</text>
${parts.join("\n")}
</svg>
`;
  writeFileSync(file, svg);
}
