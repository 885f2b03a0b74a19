import type { DeliveryView } from "./api";

/** One hour of deliveries: how many finished each way, and their median end-to-end latency. */
export interface HourBucket {
  /** Start of the hour (ms). */
  start: number;
  delivered: number;
  failed: number;
  /** delivered ÷ (delivered + failed), or null when nothing finished that hour. */
  successRate: number | null;
  /** Median of delivered_at − created_at over the delivered ones, or null. */
  p50: number | null;
}

const HOUR = 3_600_000;

/**
 * Buckets deliveries created in the 24 hours before `now` by hour of creation (oldest first), the way the stats
 * route counts them: success rate over finished deliveries, latency end to end from acceptance to the 2xx.
 */
export function hourlyBuckets(deliveries: readonly DeliveryView[], now: number): HourBucket[] {
  const first = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
  const acc = Array.from({ length: 24 }, (_, i) => ({ start: first + i * HOUR, delivered: 0, failed: 0, latencies: [] as number[] }));
  for (const d of deliveries) {
    const created = Date.parse(d.created_at);
    const i = Math.floor((created - first) / HOUR);
    if (i < 0 || i >= 24) continue;
    if (d.status === "delivered") {
      acc[i].delivered++;
      if (d.delivered_at) acc[i].latencies.push(Math.max(0, Date.parse(d.delivered_at) - created));
    } else if (d.status === "failed") acc[i].failed++;
  }
  return acc.map(({ start, delivered, failed, latencies }) => {
    const sorted = latencies.sort((a, b) => a - b);
    return {
      start,
      delivered,
      failed,
      successRate: delivered + failed > 0 ? delivered / (delivered + failed) : null,
      p50: sorted.length > 0 ? sorted[Math.ceil(sorted.length / 2) - 1] : null,
    };
  });
}
