// Phase "single": the single-event path (issue 19), the way workflow events arrive: a run finishes and the platform
// POSTs one event. First at light load (one event at a time), then under load: 16 clients, each POSTing single
// events as fast as answers come, for a fixed time, against the forward-only baseline and against the service with
// one webhook (`ordering: "none"`, then the default strict) and with ten strict webhooks, and against the baseline's
// durable floor (a D1 insert and an object's row before the 202, no app code), in the same round so that
// every side sees the same machine. bench/README.md says what each figure means and why the ratios are fair.
import { cpuPer } from "../lib/instance.mjs";
import { closedLoop, now, percentile, summary } from "../lib/load.mjs";
import { busiestThread, threadCpuMs } from "../lib/proc.mjs";
import { oneAtATime } from "./light.mjs";

/** The sides of a round under load, in order: the receiver's tag prefix and the deliveries each event owes. */
const SIDES = [
  { key: "baseline", prefix: "sb", webhooks: 1 },
  // The baseline Worker's durable floor: a D1 insert and an object's stored row before the 202, nothing else.
  { key: "floor", prefix: "sf", webhooks: 1 },
  // …and the same with the object as the one durable hop (no D1 insert).
  { key: "floor_object", prefix: "so", webhooks: 1 },
  { key: "none", prefix: "sn", webhooks: 1 },
  { key: "strict", prefix: "ss", webhooks: 1 },
  { key: "ten", prefix: "st-", webhooks: 10 },
];

export async function single(ctx) {
  const { P, rcv, t, log, svc, base } = ctx;
  const acc = {
    none: await t.account("single, ordering none", 1, "sn", { ordering: "none" }),
    strict: await t.account("single, strict", 1, "ss"),
    ten: await t.account("single, ten strict", 10, "st"),
  };
  await ctx.detach();

  log(
    `single-event path, light load: one event at a time, ${P.lightEvents} a round; forward-only baseline (answer after forwarding, and 202 first) and service`,
  );
  const light = { service: [], baseline: [], baseline_async: [] };
  for (let r = 0; r < P.rounds && (r < 2 || ctx.spare("single") > 60_000); r++) {
    await ctx.detach();
    light.baseline.push(await oneAtATime(rcv, "lbs", P.lightEvents, (id) => t.forward("lbs", id)));
    light.baseline_async.push(await oneAtATime(rcv, "lba", P.lightEvents, (id) => t.forward("lba", id, "?async")));
    light.service.push(await oneAtATime(rcv, "sn", P.lightEvents, (id) => t.ingestOne(acc.none.accountId, id)));
    log(`   round ${r}: send → receipt p50 service ${ms(light.service.at(-1).sent_p50)} | forward-only ${ms(light.baseline.at(-1).sent_p50)}`);
  }
  const lightKeys = ["p50", "p95", "p99", "sent_p50", "sent_p95", "sent_p99", "answer_p50"];
  const lightOut = { events_per_round: P.lightEvents };
  for (const [k, list] of Object.entries(light)) lightOut[k] = { ...fold(list, lightKeys), lost: list.reduce((s, x) => s + x.lost, 0) };

  log(
    `single-event path under load: ${P.concurrency} clients for ${P.singleSeconds} s per side (forward-only, its durable floor with and without D1, 1 webhook none, 1 strict, 10 strict)`,
  );
  const rounds = Object.fromEntries(SIDES.map((s) => [s.key, []]));
  const roundMs = SIDES.length * (P.singleSeconds * 1000 + 4000);
  for (let r = 0; r < P.singleRounds && (r === 0 || ctx.spare("single") > roundMs); r++) {
    for (const side of SIDES) {
      const onBaseline = side.key === "baseline" || side.key.startsWith("floor");
      const send =
        side.key === "baseline"
          ? (id) => t.forward("sb", id)
          : side.key === "floor"
            ? (id) => t.floor("sf", id)
            : side.key === "floor_object"
              ? (id) => t.floor("so", id, "?object-only")
              : (id) => t.ingestOne(acc[side.key].accountId, id);
      const x = await underLoad(ctx, { ...side, round: r, send, inst: onBaseline ? base : svc });
      const b = rounds.baseline.at(-1);
      if (side.key !== "baseline") {
        x.ratio_delivered = x.delivered_per_s && b?.delivered_per_s ? x.delivered_per_s / b.delivered_per_s : null;
        x.ratio_ingest_p50 = x.ingest_p50_ms && b?.ingest_p50_ms ? x.ingest_p50_ms / b.ingest_p50_ms : null;
      }
      rounds[side.key].push(x);
      if (!x.complete) ctx.note(`single ${side.key} round ${r}: ${x.delivered}/${x.owed} delivered within ${P.singleDrainMs / 1000} s of the end of ingest`);
      if (x.first_error) ctx.note(`single ${side.key} round ${r}: ${x.errors} refused, first: ${x.first_error}`);
    }
    const line = SIDES.map(({ key }) => {
      const x = rounds[key].at(-1);
      return `${key} ${Math.round(x.delivered_per_s ?? 0)}/s (ingest p50 ${ms(x.ingest_p50_ms)}, e2e p50 ${ms(x.e2e_p50_ms)}, backlog ${x.backlog_at_end})`;
    });
    log(`   round ${r}: ${line.join(" | ")}`);
  }
  const keys = [
    "delivered_per_s",
    "accepted_per_s",
    "ingest_p50_ms",
    "ingest_p99_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "backlog_at_end",
    "drain_after_ms",
    "delivered_during_ingest_per_s",
    "drain_per_s",
    "main_thread_core_share",
    "cpu_ms_per_delivery",
    "ratio_delivered",
    "ratio_ingest_p50",
  ];
  const out = { concurrency: P.concurrency, seconds: P.singleSeconds, light: lightOut };
  for (const { key, webhooks } of SIDES) {
    const list = rounds[key];
    out[key] = {
      webhooks,
      ...fold(list, keys),
      cpu_ms_per_event_by_process: Object.fromEntries(["total", "workerd", "proxy", "wrangler"].map((k) => [k, summary(list.map((x) => x.cpu[k]))])),
      events_per_round: list.map((x) => x.accepted),
      complete: list.every((x) => x.complete),
      errors: list.reduce((s, x) => s + x.errors, 0),
    };
  }
  return out;
}

/** One side of a round: the closed loop, then the wait for every delivery owed, then the figures. */
async function underLoad(ctx, { prefix, webhooks, round, send, inst }) {
  const { P, rcv, t } = ctx;
  // Should wrangler have reopened its DevTools session since the last side (it does when it restarts a runtime),
  // this side would pay for it and the ratio would mislead: take it away again, which costs a few milliseconds.
  await ctx.detach();
  const cpu0 = inst.cpu();
  const threads0 = threadCpuMs(inst.workerd().user);
  const { results, elapsedMs } = await closedLoop(P.singleSeconds * 1000, P.concurrency, (i) => {
    const id = `${prefix}${round}-${i}`;
    return send(id).then((x) => ({ ...x, id }));
  });
  const ingestEnd = now();
  const mainThread = busiestThread(threads0, threadCpuMs(inst.workerd().user), elapsedMs);
  const ok = results.filter((x) => x.status === 202);
  const owed = ok.length * webhooks;
  // Deliveries owed but not yet made when the last answer came: what the queue still had to send.
  const atEnd = (await rcv.countMany(prefix)).delivered;
  const complete = await t.drained(prefix, owed, Math.max(5000, Math.min(P.singleDrainMs, ctx.spare("single"))));
  const cpu = cpuPer(cpu0, inst.cpu(), ok.length);
  const got = await rcv.takeMany(prefix);
  const sentAt = new Map(ok.map((x) => [x.id, x.start]));
  const e2e = [];
  let last = 0;
  got.ids.forEach((key, k) => {
    const start = sentAt.get(key.slice(key.indexOf("/") + 1));
    if (start === undefined) return;
    e2e.push(got.times[k] - start);
    last = Math.max(last, got.times[k]);
  });
  const first = Math.min(...results.map((x) => x.start));
  const bad = results.find((x) => x.status !== 202);
  return {
    accepted: ok.length,
    owed,
    delivered: e2e.length,
    complete,
    // Deliveries over the time from the first send to the last arrival: a side that accepts fast and delivers later
    // gains nothing, and one that keeps up is not charged for its ramp.
    delivered_per_s: e2e.length > 1 ? (e2e.length * 1000) / (last - first) : null,
    accepted_per_s: (ok.length * 1000) / elapsedMs,
    ingest_p50_ms: percentile(
      ok.map((x) => x.end - x.start),
      50,
    ),
    ingest_p99_ms: percentile(
      ok.map((x) => x.end - x.start),
      99,
    ),
    e2e_p50_ms: percentile(e2e, 50),
    e2e_p99_ms: percentile(e2e, 99),
    backlog_at_end: Math.max(0, owed - atEnd),
    drain_after_ms: e2e.length ? Math.max(0, last - ingestEnd) : null,
    // The queues' rate while ingest runs beside them, and once it has stopped: on one runtime thread a strict
    // queue's sends wait their turn behind every client's request (bench/README.md, Findings).
    delivered_during_ingest_per_s: (atEnd * 1000) / elapsedMs,
    drain_per_s: owed - atEnd > 0 && last > ingestEnd ? ((owed - atEnd) * 1000) / (last - ingestEnd) : null,
    main_thread_core_share: mainThread,
    cpu,
    cpu_ms_per_delivery: (cpu.total * ok.length) / Math.max(1, e2e.length),
    errors: results.length - ok.length,
    first_error: bad ? `HTTP ${bad.status} ${bad.body.slice(0, 200)}` : null,
  };
}

function fold(list, keys) {
  return Object.fromEntries(keys.map((k) => [k, summary(list.map((x) => x?.[k] ?? null))]));
}

const ms = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 10) / 10} ms`);
