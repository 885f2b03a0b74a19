import type { Env } from "../config";

/** The Durable Object stub of one webhook's queue (one object per webhook, named by its id). */
export function queueOf(env: Env, webhookId: string) {
  return env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(webhookId));
}
