import type { Env } from "./config";
import { runMaintenance } from "./cron";
import { buildApp } from "./http/app";

export { WebhookQueue } from "./delivery/queue";
export { RelaySession } from "./relay/session";

const app = buildApp();

export default {
  fetch: app.fetch,
  scheduled(controller, env, ctx) {
    ctx.waitUntil(runMaintenance(env, controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;
