import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { idAtTime } from "../ids";
import { logDb } from "../shards";
import type { AppEnv } from "./app-env";
import { bearer, errors, IdParam, json } from "./openapi";
import { loadWebhook } from "./webhooks";

const WINDOWS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 };

/** A webhook's delivery statistics over a window. */
export const stats = new OpenAPIHono<AppEnv>();

stats.openapi(
  createRoute({
    method: "get",
    path: "/v1/webhooks/{webhook_id}/stats",
    tags: ["Deliveries"],
    summary: "Delivery statistics over a window",
    description:
      "Counts by status of the deliveries created in the window, success rate (delivered ÷ finished), and end-to-end latency p50/p95 of the delivered ones.",
    security: bearer,
    request: { params: IdParam("webhook_id", "wh_01JD3S4K2M0000000000000000"), query: z.object({ window: z.enum(["1h", "24h", "7d", "30d"]).default("24h") }) },
    responses: {
      200: json(
        z
          .object({
            window: z.string(),
            total: z.number().int(),
            delivered: z.number().int(),
            failed: z.number().int(),
            pending: z.number().int(),
            cancelled: z.number().int(),
            expired: z.number().int(),
            success_rate: z.number().nullable(),
            latency_ms: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
          })
          .openapi("Stats"),
        "Statistics",
      ),
      401: errors[401],
      404: errors[404],
    },
  }),
  async (c) => {
    const webhook = await loadWebhook(c, c.req.valid("param").webhook_id);
    const { window } = c.req.valid("query");
    return c.json(await webhookStats(logDb(c.env, webhook.log_shard), webhook.id, window, Date.now()), 200);
  },
);

/** Counts, success rate and latency percentiles of one webhook's deliveries created within the window. */
export async function webhookStats(db: D1Database, webhookId: string, window: string, now: number) {
  const since = now - (WINDOWS[window] ?? WINDOWS["24h"]);
  // The window is a range of the key (webhook_id, id): delivery ids begin with their creation millisecond.
  const from = idAtTime("dlv", since);
  const counts = await db
    .prepare("SELECT status, count(*) AS n FROM deliveries WHERE webhook_id = ? AND id >= ? AND created_at >= ? GROUP BY status")
    .bind(webhookId, from, since)
    .all<{ status: string; n: number }>();
  const by = Object.fromEntries(counts.results.map((r) => [r.status, r.n])) as Record<string, number>;
  const n = (s: string) => by[s] ?? 0;
  const delivered = n("delivered");
  const failed = n("failed");
  const percentile = async (p: number) => {
    if (delivered === 0) return null;
    const offset = Math.min(delivered - 1, Math.max(0, Math.ceil((p / 100) * delivered) - 1));
    const row = await db
      .prepare(
        "SELECT latency_ms FROM deliveries WHERE webhook_id = ? AND id >= ? AND created_at >= ? AND status = 'delivered' ORDER BY latency_ms LIMIT 1 OFFSET ?",
      )
      .bind(webhookId, from, since, offset)
      .first<{ latency_ms: number }>();
    return row?.latency_ms ?? null;
  };
  return {
    window,
    total: Object.values(by).reduce((a, b) => a + b, 0),
    delivered,
    failed,
    pending: n("pending"),
    cancelled: n("cancelled"),
    expired: n("expired"),
    success_rate: delivered + failed > 0 ? delivered / (delivered + failed) : null,
    latency_ms: { p50: await percentile(50), p95: await percentile(95) },
  };
}
