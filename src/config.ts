import { z } from "zod";
import type { QueueRpc } from "./delivery/contract";
import type { FanoutMessage } from "./events/fanout-contract";
import { ipRuleError } from "./ip-rules";
import type { RelayRpc } from "./relay/contract";

/** The Worker's bindings and variables as wrangler.toml and .dev.vars declare them. */
export interface Env {
  /** The main database: accounts, keys, webhooks, and log shard 0. */
  DB: D1Database;
  /** Log shards 1 … LOG_SHARDS − 1 (src/shards.ts). */
  [logShard: `LOG_DB_${number}`]: D1Database | undefined;
  WEBHOOK_QUEUE: DurableObjectNamespace<QueueRpc>;
  /** One relay session per `npm run listen` relay (src/relay/session.ts). */
  RELAY_SESSION: DurableObjectNamespace<RelayRpc>;
  /** The Cloudflare Queue of large broadcasts' fan-out pages (src/events/fanout.ts). */
  FANOUT: Queue<FanoutMessage>;
  PLATFORM_TOKEN: string;
  ENCRYPTION_KEY: string;
  PLATFORM_ALLOWED_IPS?: string;
  ALLOW_PRIVATE_DESTINATIONS?: string;
  LOG_RETENTION_DAYS?: string;
  DISABLE_AFTER_FAILING_HOURS?: string;
  SECRET_ROTATION_GRACE_HOURS?: string;
  DASHBOARD_URL?: string;
  DNS_RESOLVER_URL?: string;
  MAX_WEBHOOKS_PER_ACCOUNT?: string;
  LOG_SHARDS?: string;
  FAILING_ALERT_AFTER?: string;
  DEAD_LETTER_ALERT_WINDOW_S?: string;
  MAX_HELD_PER_WEBHOOK?: string;
  FANOUT_DIRECT_MAX?: string;
  FANOUT_REQUEUE_AFTER_S?: string;
}

const flag = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");
const list = z
  .string()
  .default("")
  .transform((v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );

const ConfigSchema = z.object({
  PLATFORM_TOKEN: z.string().min(16, "PLATFORM_TOKEN must be at least 16 characters (set it with `wrangler secret put`)"),
  ENCRYPTION_KEY: z.string().refine((v) => {
    try {
      return atob(v).length === 32;
    } catch {
      return false;
    }
  }, "ENCRYPTION_KEY must be base64 of 32 random bytes (openssl rand -base64 32)"),
  PLATFORM_ALLOWED_IPS: list.superRefine((rules, ctx) => {
    for (const rule of rules) {
      const err = ipRuleError(rule);
      if (err) ctx.addIssue({ code: "custom", message: err });
    }
  }),
  ALLOW_PRIVATE_DESTINATIONS: flag,
  LOG_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  // Fractions are allowed, so an end-to-end test can disable a webhook within seconds.
  DISABLE_AFTER_FAILING_HOURS: z.coerce.number().positive().default(120),
  SECRET_ROTATION_GRACE_HOURS: z.coerce.number().min(0).default(24),
  DASHBOARD_URL: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default(""),
  // Cloudflare's resolver is the one Workers' own fetch() uses, so our verdict and the connection see the same answer.
  DNS_RESOLVER_URL: z.url({ protocol: /^https?$/ }).default("https://cloudflare-dns.com/dns-query"),
  MAX_WEBHOOKS_PER_ACCOUNT: z.coerce.number().int().min(1).default(100),
  LOG_SHARDS: z.coerce.number().int().min(1).default(1),
  FAILING_ALERT_AFTER: z.coerce.number().int().min(1).default(4),
  DEAD_LETTER_ALERT_WINDOW_S: z.coerce.number().min(0).default(3600),
  MAX_HELD_PER_WEBHOOK: z.coerce.number().int().min(1).default(10_000),
  // Up to this many webhooks, a broadcast is handed off within its ingest call (one RPC each); past it, in pages
  // through the FANOUT queue, so that no invocation nears the 1,000-subrequest limit.
  FANOUT_DIRECT_MAX: z.coerce.number().int().min(0).max(500).default(100),
  // A fan-out page queued this long ago and not done is queued again by the cron (a lost or dropped message).
  FANOUT_REQUEUE_AFTER_S: z.coerce.number().int().min(1).default(600),
});

/** Configuration parsed once from `env`; every value documented in wrangler.toml and README.md. */
export type Config = z.output<typeof ConfigSchema>;

const cache = new WeakMap<object, Config>();

/** Parses (once per env object) and returns the configuration; a misconfiguration throws with every problem named. */
export function config(env: Env): Config {
  let parsed = cache.get(env);
  if (!parsed) {
    const result = ConfigSchema.safeParse(env);
    const problems = result.success ? missingShards(env, result.data.LOG_SHARDS) : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    if (!result.success || problems.length > 0) throw new Error(`Invalid configuration: ${problems.join("; ")}`);
    parsed = result.data;
    cache.set(env, parsed);
  }
  return parsed;
}

/** Each log shard past the main database needs its own D1 binding; a missing one is named, not found at its first write. */
function missingShards(env: Env, shards: number): string[] {
  const missing: string[] = [];
  for (let n = 1; n < shards; n++) if (!env[`LOG_DB_${n}`]) missing.push(`LOG_DB_${n}`);
  return missing.length === 0 ? [] : [`LOG_SHARDS: ${shards} needs the D1 bindings ${missing.join(", ")} (wrangler.toml [[d1_databases]])`];
}
