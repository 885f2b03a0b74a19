// Phase "profile": where the single-event path's time goes. The same load as phase "single" (16 clients POSTing
// single events, one webhook with `ordering: "none"`, then ten strict webhooks), with the DevTools profiler sampling the Worker isolate, then
// the same against the forward-only baseline. Sampling slows the isolate somewhat, so these rounds are not the ones
// the targets judge; the shares and the CPU ms per event are what they are for. The counts before the 202 (D1 round
// trips, object RPCs) come from the counting build, in phase "cost".
import { profileWorker, summarise } from "../lib/cpu-profile.mjs";
import { cpuPer } from "../lib/instance.mjs";
import { closedLoop } from "../lib/load.mjs";

const INTERVAL_US = 250;

export async function profile(ctx) {
  const { P, rcv, t, log, svc, base } = ctx;
  const acc = await t.account("profile", 1, "pf", { ordering: "none" });
  // Ten strict webhooks, every event matching all ten: the case whose deliveries fall behind ingest.
  const ten = await t.account("profile-ten", 10, "pt", { ordering: "strict" });
  await ctx.detach();

  const run = async (inst, prefix, send, bundle, perEvent = 1) => {
    let accepted = 0;
    let cpu = null;
    const work = async () => {
      const cpu0 = inst.cpu();
      const { results } = await closedLoop(P.profileSeconds * 1000, P.concurrency, (i) => send(`${prefix}-${i}`));
      accepted = results.filter((x) => x.status === 202).length;
      await t.drained(prefix, accepted * perEvent, 60_000);
      cpu = cpuPer(cpu0, inst.cpu(), accepted);
    };
    const prof = await profileWorker(inst.workerd().user, work, { intervalUs: INTERVAL_US });
    const got = await rcv.takeMany(prefix);
    if (!prof) {
      ctx.note(`profile ${inst.name}: the inspector did not give a CPU profile`);
      return null;
    }
    return { events: accepted, delivered: got.ids.length, process_cpu_ms_per_event: cpu, ...summarise(prof, bundle, accepted) };
  };

  log(`profile: ${P.concurrency} clients for ${P.profileSeconds} s with the CPU profiler on the Worker isolate, service then forward-only baseline`);
  const service = await run(svc, "pf", (id) => t.ingestOne(acc.accountId, id), ctx.bundles.service);
  const tenStrict = await run(svc, "pt", (id) => t.ingestOne(ten.accountId, id), ctx.bundles.service, 10);
  const baseline = await run(base, "pb", (id) => t.forward("pb", id), null);
  for (const [name, p] of [
    ["service", service],
    ["service, 10 strict", tenStrict],
    ["baseline", baseline],
  ]) {
    if (p)
      log(
        `   ${name}: ${p.events} events, isolate busy ${p.busy_ms_per_unit} ms per event (worker ${p.by_side.worker.ms_per_unit}, object ${p.by_side.object.ms_per_unit})`,
      );
  }
  return { interval_us: INTERVAL_US, concurrency: P.concurrency, seconds: P.profileSeconds, service, ten_strict: tenStrict, baseline };
}
