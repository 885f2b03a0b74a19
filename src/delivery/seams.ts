import { config, type Env } from "../config";
import { ingest } from "../ingest";
import type { RelayRpc } from "../relay/contract";
import { relayOf } from "../relay/stub";
import { batches, logDb } from "../shards";
import { inLists } from "../sql";
import { type DestinationOptions, destinationOptions } from "../webhooks/resolve";
import { type LogStatement, prepared } from "./log";

/**
 * What the outside world decides for a queue, passed in so that every part of it runs the same in production, in
 * workerd tests (with a clock and an alarm the test drives) and in plain Node (the store's property test).
 */

/** The object's alarm: at most one, at an absolute time in ms. */
export interface Alarm {
  get(): Promise<number | null>;
  set(at: number): Promise<void>;
  clear(): Promise<void>;
}

/** Where the delivery log goes: D1. Both methods throw when D1 cannot answer. */
export interface LogSink {
  /** Runs the statements as one D1 batch (a transaction). */
  write(statements: LogStatement[]): Promise<void>;
  /** Which of these deliveries of the webhook D1 shows finished (not pending). */
  finished(webhookId: string, deliveryIds: string[]): Promise<string[]>;
}

/** The deployment's settings a queue needs, from the parsed configuration. */
export interface QueueSettings {
  /** Opens sealed signing keys (AES-GCM, base64 of 32 bytes). */
  encryptionKey: string;
  /** This service's public address, for the dashboard links in Slack messages; "" for none. */
  dashboardUrl: string;
  /** A webhook failing without a success this long is disabled. */
  disableAfterFailingMs: number;
  /** How a destination is checked before each send (ALLOW_PRIVATE_DESTINATIONS, the DNS resolver). */
  destinations: DestinationOptions;
  /** Failed attempts in a row that make a webhook.failing alert (FAILING_ALERT_AFTER). */
  failingAlertAfter: number;
  /** At most one delivery.exhausted per this window (DEAD_LETTER_ALERT_WINDOW_S, in ms). */
  deadLetterWindowMs: number;
  /** Deliveries a webhook that is off keeps at most; past it the oldest expire (MAX_HELD_PER_WEBHOOK). */
  maxHeld: number;
  /** A delivery held while its webhook is off expires this long after its event arrived (LOG_RETENTION_DAYS). */
  retentionMs: number;
}

/** An operational event a queue emits about its own webhook (src/delivery/alerts.ts). */
export interface OperationalEvent {
  id: string;
  type: string;
  account_id: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export interface Seams {
  sql: SqlStorage;
  now: () => number;
  random: () => number;
  alarm: Alarm;
  fetch: typeof fetch;
  /** A relay session (src/relay/session.ts), for a webhook whose destination is relay://. */
  relay: (relayId: string) => Pick<RelayRpc, "send">;
  /** The log of a log shard (src/shards.ts); a queue writes to its webhook's. */
  log: (shard: number) => LogSink;
  settings: QueueSettings;
  /** Keeps the invocation alive for work that goes on after an RPC has answered (a run started by a hand-off). */
  waitUntil: (work: Promise<unknown>) => void;
  /** Ingests operational events for the webhook's account, as the platform's go; answers each one's HTTP status. */
  emit: (events: OperationalEvent[]) => Promise<number[]>;
}

/** The seams of a deployed queue: its own storage and alarm, the real clock and network, D1. */
export function productionSeams(ctx: DurableObjectState, env: Env): Seams {
  const cfg = config(env);
  return {
    sql: ctx.storage.sql,
    now: Date.now,
    random: Math.random,
    alarm: {
      get: () => ctx.storage.getAlarm(),
      set: (at) => ctx.storage.setAlarm(at),
      clear: () => ctx.storage.deleteAlarm(),
    },
    fetch: (input, init) => fetch(input, init),
    relay: (relayId) => relayOf(env, relayId),
    log: (shard) => d1Sink(logDb(env, shard), env.DB),
    settings: {
      encryptionKey: cfg.ENCRYPTION_KEY,
      dashboardUrl: cfg.DASHBOARD_URL,
      disableAfterFailingMs: cfg.DISABLE_AFTER_FAILING_HOURS * 3_600_000,
      destinations: destinationOptions(cfg),
      failingAlertAfter: cfg.FAILING_ALERT_AFTER,
      deadLetterWindowMs: cfg.DEAD_LETTER_ALERT_WINDOW_S * 1000,
      maxHeld: cfg.MAX_HELD_PER_WEBHOOK,
      retentionMs: cfg.LOG_RETENTION_DAYS * 86_400_000,
    },
    waitUntil: (work) => ctx.waitUntil(work),
    emit: async (events) => (await ingest(env, events, Date.now(), { operational: true })).map((r) => r.status),
  };
}

/**
 * The delivery log in one log shard's D1 database; a statement on the webhook's own row goes to the main database
 * (in the same batch while they are one database). Across two databases the writes are not one transaction, but
 * every log statement is idempotent, so a write that failed halfway is replayed whole.
 */
export function d1Sink(db: D1Database, main: D1Database): LogSink {
  return {
    async write(statements) {
      const on = (target: D1Database, where: (s: LogStatement) => boolean) => ({
        db: target,
        statements: statements.filter(where).map((s) => prepared(target, s)),
      });
      await batches([on(db, (s) => s.db !== "main"), on(main, (s) => s.db === "main")]);
    },
    async finished(webhookId, deliveryIds) {
      const done: string[] = [];
      for (const { items, marks } of inLists(deliveryIds)) {
        const rows = await db
          .prepare(`SELECT id FROM deliveries WHERE webhook_id = ? AND id IN (${marks}) AND status <> 'pending'`)
          .bind(webhookId, ...items)
          .all<{ id: string }>();
        for (const r of rows.results) done.push(r.id);
      }
      return done;
    },
  };
}

/** A sink that writes to whichever shard `shard()` names when it writes: the queue's webhook's, once it is configured. */
export function shardSink(log: (shard: number) => LogSink, shard: () => number): LogSink {
  return {
    write: (statements) => log(shard()).write(statements),
    finished: (webhookId, deliveryIds) => log(shard()).finished(webhookId, deliveryIds),
  };
}
