// Phase "backlog": a webhook whose receiver is down while 1,000 (then 10,000) events queue, then up: how fast the
// queue drains, and whether what the Worker isolate retains grows with the backlog (it runs the Durable Objects in
// `wrangler dev`). A control first ingests events no webhook matches, to show what that alone does to the RSS.
import { workerHeapMib } from "../lib/inspector.mjs";
import { now, round, summary } from "../lib/load.mjs";
import { memory, resetPeak, rssSampler } from "../lib/proc.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Retries every few seconds at most, and 30 attempts last over two minutes, so no queued event is dead-lettered
// while the 10,000 are being ingested on a slow machine; the flip is seen within 6 s.
const RETRY = { max_attempts: 30, base_delay_ms: 500, multiplier: 2, max_delay_ms: 5000 };

export async function backlog(ctx) {
  const { P, rcv, t, log, svc } = ctx;
  const out = {};
  const acc = {};
  for (const size of P.backlog) acc[`bl${size}`] = await t.account(`backlog ${size}`, 1, `bl${size}`, { retry: RETRY });
  await ctx.detach();
  log(`backlog drain: receiver answering 503 while ${P.backlog.join(" and ")} events queue, then 200`);
  const pid = svc.workerd().user;
  // Control: as many events as the small backlog, ingested for a webhook that matches none of them, so no Durable
  // Object is involved. What this adds to the RSS is the cost of the local D1 and of garbage not yet collected.
  {
    const ctl = await t.account("control", 1, "ctl", { events: ["workflow.failed"] });
    const m0 = memory(pid);
    const heap0 = await workerHeapMib(pid);
    await t.feedBatches(ctl.accountId, t.batchesOf("ctl", P.backlog[0]));
    const m1 = memory(pid);
    const heap1 = await workerHeapMib(pid);
    out.memory_control = {
      events: P.backlog[0],
      rss_growth_mib: round(m1.rss_mib - m0.rss_mib),
      anon_growth_mib: round(m1.anon_mib - m0.anon_mib),
      retained_heap_before_mib: round(heap0),
      retained_heap_after_mib: round(heap1),
    };
    log(
      `   control: ${P.backlog[0]} events for no webhook add ${round(m1.rss_mib - m0.rss_mib)} MiB of RSS; retained heap ${round(heap0)} → ${round(heap1)} MiB`,
    );
  }
  for (const size of P.backlog) {
    if (ctx.spare("backlog") < 15_000) {
      ctx.note(`backlog ${size}: skipped, out of time`);
      continue;
    }
    const tag = `bl${size}`;
    await rcv.answer(tag, 503);
    const canReset = resetPeak(pid);
    const queueSampler = rssSampler(pid);
    const rssBefore = memory(pid).rss_mib;
    const heapBefore = await workerHeapMib(pid);
    const feed = await t.feedBatches(acc[tag].accountId, t.batchesOf(tag, size));
    const feedErrors = feed.results.filter((x) => x.status !== 202).length;
    for (const x of feed.results.filter((y) => y.status !== 202).slice(0, 3)) ctx.note(`backlog ${size} feed: HTTP ${x.status} ${x.body.slice(0, 300)}`);
    // Make sure the head has failed at least twice: the queue is blocked, not merely slow.
    const t0 = Date.now();
    while (Date.now() - t0 < 15_000 && (await rcv.count(tag)).failed < 2) await sleep(100);
    const failedAttempts = (await rcv.count(tag)).failed;
    const queued = queueSampler.stop();
    const queuedPeak = Math.max(queued.rss, canReset ? memory(pid).hwm_mib : 0);
    // The isolate's retained heap with the whole backlog queued, halfway through the drain, and after it.
    const heapQueued = await workerHeapMib(pid);

    resetPeak(pid);
    const atFlip = memory(pid);
    const rssAtFlip = atFlip.rss_mib;
    const drainSampler = rssSampler(pid);
    const flip = now();
    await rcv.answer(tag, 200);
    const budget = Math.max(15_000, ctx.spare("backlog"));
    // Where memory goes as the drain proceeds: [delivered so far, RSS, RssAnon, MiB of SQLite files], sampled along the way.
    const trajectory = [];
    const track = setInterval(
      async () => {
        const m = memory(pid);
        trajectory.push([(await rcv.count(tag)).delivered, round(m.rss_mib), round(m.anon_mib), round(svc.storageMib())]);
      },
      Math.max(250, Math.round(size / 25)),
    );
    const heapMidDrain = rcv.waitFor(() => rcv.count(tag), size / 2, budget).then((half) => (half ? workerHeapMib(pid) : null));
    const complete = await rcv.waitFor(() => rcv.count(tag), size, budget);
    clearInterval(track);
    const drained = drainSampler.stop();
    const drainPeak = Math.max(drained.rss, canReset ? memory(pid).hwm_mib : 0);
    const heapMid = await heapMidDrain;
    const heapDrained = await workerHeapMib(pid);
    const got = await rcv.take(tag);
    const times = Float64Array.from(got.times).sort();
    const unique = new Set(got.ids).size;
    if (!complete) {
      // What the service says about the ones that did not arrive.
      const seen = new Set(got.ids);
      const missing = t
        .batchesOf(tag, size)
        .flat()
        .filter((id) => !seen.has(id));
      const wh = acc[tag].webhooks[0].id;
      const counts = {};
      for (const status of ["pending", "failed", "delivered"]) {
        const page = await (
          await fetch(`${svc.url}/v1/webhooks/${wh}/deliveries?status=${status}&limit=5`, { headers: { authorization: `Bearer ${acc[tag].key}` } })
        ).json();
        counts[status] = page.data?.map((d) => `${d.event_id} attempts ${d.attempt_count} ${d.last_error ?? ""}`);
      }
      ctx.note(
        `backlog ${size}: ${missing.length} did not arrive (first: ${missing.slice(0, 3).join(", ")}); service says ${JSON.stringify(counts).slice(0, 600)}`,
      );
    }
    // The rate over ten equal slices of the arrivals: median/min/max across slices.
    const slices = [];
    const step = Math.max(1, Math.floor(times.length / 10));
    for (let k = 0; k + step < times.length; k += step) {
      const span = times[Math.min(times.length - 1, k + step)] - times[k];
      if (span > 0) slices.push((step * 1000) / span);
    }
    const whole = times.length > 1 ? ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]) : null;
    out[size] = {
      queued: size,
      delivered: got.ids.length,
      unique_delivered: unique,
      complete,
      feed_errors: feedErrors,
      failed_attempts_while_down: failedAttempts,
      resume_after_ms: times.length ? round(times[0] - flip) : null,
      drain_per_s: round(whole),
      drain_per_s_slices: summary(slices),
      rss_before_mib: round(rssBefore),
      peak_rss_queueing_mib: round(queuedPeak),
      peak_rss_draining_mib: round(drainPeak),
      rss_at_flip_mib: round(rssAtFlip),
      drain_growth_mib: round(drainPeak - rssAtFlip),
      // The two parts of RSS, sampled: allocated memory, and file pages (the SQLite files, which grow with the log).
      drain_growth_anon_mib: round(drained.anon - atFlip.anon_mib),
      drain_growth_file_mib: round(drained.file - atFlip.file_mib),
      peak_rss_anon_queueing_mib: round(queued.anon),
      retained_heap_mib: { before: round(heapBefore), queued: round(heapQueued), mid_drain: round(heapMid), drained: round(heapDrained) },
      drain_trajectory: trajectory,
      peak_measure: canReset ? "VmHWM after clear_refs, and VmRSS sampled every 100 ms" : "VmRSS sampled every 100 ms",
    };
    log(
      `   ${size}: drained ${got.ids.length}/${size} at ${round(whole)}/s (resumed ${round(times[0] - flip)} ms after the flip), peak RSS ${round(queuedPeak)} MiB queueing, ${round(drainPeak)} MiB draining`,
    );
  }
  return out;
}
