import type { Env } from "./config";
import { runMaintenance } from "./cron";
import type { FanoutMessage } from "./events/fanout-contract";
import { consumeFanout } from "./events/fanout-page";
import { buildApp } from "./http/app";

export { WebhookQueue } from "./delivery/queue";
export { RelaySession } from "./relay/session";

const app = buildApp();

export default {
  fetch: app.fetch,
  scheduled(controller, env, ctx) {
    ctx.waitUntil(runMaintenance(env, controller.scheduledTime));
  },
  // Large broadcasts' fan-out pages (src/events/fanout.ts).
  queue(batch, env) {
    return consumeFanout(batch, env);
  },
} satisfies ExportedHandler<Env, FanoutMessage>;
