// The targets, met or missed, from one run's figures: the single-event path first (issue 19), then the ones of
// issue 6 that stay (rows written, DO requests, backlog drain, memory). Each ratio is taken within the same run.
import { round } from "./lib/load.mjs";

/** Every target of the run: [{name, target, value, met, detail}]. */
export function judge(results, P) {
  const t = [];
  const add = (name, target, value, met, detail = "") => t.push({ name, target, value, met, detail });
  const med = (x) => x?.median ?? null;
  const s = results.single;
  if (s?.baseline) {
    const b = med(s.baseline.delivered_per_s);
    const none = med(s.none?.ratio_delivered);
    if (none !== null)
      add(
        "single-event delivered/s, 1 webhook (`none`) ≥ 0.8 × forward-only",
        "≥ 0.8",
        round(none),
        none >= 0.8,
        `${med(s.none.delivered_per_s)} vs ${b} per s, median of per-round ratios; strict: ${med(s.strict?.ratio_delivered)} (${med(s.strict?.delivered_per_s)}/s); the durable floor, no app code: ${med(s.floor?.ratio_delivered)} (${med(s.floor?.delivered_per_s)}/s), object only: ${med(s.floor_object?.ratio_delivered)}`,
      );
    const ten = med(s.ten?.ratio_delivered);
    if (ten !== null)
      add(
        "single-event deliveries/s, 10 strict webhooks ≥ 1.2 × forward-only",
        "≥ 1.2",
        round(ten),
        ten >= 1.2,
        `${med(s.ten.delivered_per_s)} deliveries/s vs ${b} forwards/s`,
      );
    const light = s.light;
    const sp = med(light?.service?.sent_p50);
    const bp = med(light?.baseline?.sent_p50);
    if (sp !== null && bp !== null)
      add(
        "light load, send → receipt p50 ≤ forward-only + 10 ms",
        `≤ ${round(bp + 10)} ms`,
        sp,
        sp <= bp + 10,
        `forward-only ${bp} ms (202 first: ${med(light.baseline_async?.sent_p50)} ms)`,
      );
    const ingest = med(s.none?.ratio_ingest_p50);
    if (ingest !== null)
      add(
        "ingest p50 under load ≤ 1.5 × forward-only",
        "≤ 1.5",
        round(ingest),
        ingest <= 1.5,
        `${med(s.none.ingest_p50_ms)} vs ${med(s.baseline.ingest_p50_ms)} ms, 16 clients (p99 ${med(s.none.ingest_p99_ms)} vs ${med(s.baseline.ingest_p99_ms)} ms); the durable floor: ${med(s.floor?.ratio_ingest_p50)}, object only: ${med(s.floor_object?.ratio_ingest_p50)}`,
      );
    const drain = med(s.ten?.drain_after_ms);
    if (drain !== null)
      add(
        "10 strict webhooks: deliveries keep up with single-event ingest",
        "last delivery ≤ 1 s after the last 202",
        `${round(drain)} ms`,
        drain <= 1000 && s.ten.complete,
        `backlog at the last 202: ${med(s.ten.backlog_at_end)} deliveries; e2e p50 ${med(s.ten.e2e_p50_ms)} ms, p99 ${med(s.ten.e2e_p99_ms)} ms`,
      );
  }
  const cost = results.cost?.happy_path;
  if (cost) {
    add("rows written per delivered event (D1 + DO SQLite) ≤ 4", "≤ 4", cost.rows_written, cost.rows_written <= 4, cost.rows_written_detail);
    add("DO requests per event per webhook ≤ 1", "≤ 1", cost.do_requests, cost.do_requests <= 1, cost.do_requests_detail);
  }
  const steady = med(results.batchfed?.w1?.delivered_per_s);
  const [smallSize, bigSize] = P.backlog;
  const big = results.backlog?.[bigSize];
  const small = results.backlog?.[smallSize];
  if (big && steady) {
    const ratio = big.drain_per_s / steady;
    add(`backlog drain (${bigSize}) ≥ 0.5 × steady 1-webhook rate`, "≥ 0.5", round(ratio), ratio >= 0.5, `${big.drain_per_s}/s vs ${steady}/s (batch-fed)`);
  }
  if (big && small) {
    // What the objects hold is judged on the Worker isolate's retained heap (the objects run in it), at the worse
    // of its two loaded moments: the whole backlog queued, and halfway through the drain. The workerd process's RSS
    // is reported beside it but not judged: it grows with every event written, delivered or not (memory_control).
    const peak = (x) => {
      const v = [x.retained_heap_mib?.queued, x.retained_heap_mib?.mid_drain].filter((y) => typeof y === "number");
      return v.length === 2 ? Math.max(...v) : null;
    };
    const [pb, ps] = [peak(big), peak(small)];
    const limit = ps === null ? null : round(ps * 1.1 + 1);
    add(
      `memory independent of backlog (${bigSize} vs ${smallSize})`,
      `retained heap, queued and mid-drain, ≤ 1.1 × +1 MiB${limit === null ? "" : ` (≤ ${limit} MiB)`}`,
      pb === null || ps === null ? "not measured (inspector did not answer)" : `${pb} vs ${ps} MiB`,
      pb !== null && ps !== null && pb <= limit,
      `workerd RSS, not judged: growth while draining +${big.drain_growth_mib} vs +${small.drain_growth_mib} MiB, peak ${big.peak_rss_draining_mib} vs ${small.peak_rss_draining_mib} MiB`,
    );
  }
  return t;
}
