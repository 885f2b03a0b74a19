import type { OperationalType } from "../events/operational";
import { newId } from "../ids";
import type { QueueConfig } from "../webhooks/types";
import type { Health } from "./health";
import type { AttemptLog } from "./log";
import { readMeta, writeMeta } from "./meta";
import type { Judgement } from "./outcome";
import type { Row } from "./rows";
import type { OperationalEvent, QueueSettings } from "./seams";

/**
 * Alerts: the operational events a webhook's queue owes about its own webhook (webhook.failing, webhook.disabled,
 * webhook.recovered, delivery.exhausted). The queue sees every attempt, so it decides; an alert is a row of the
 * `alerts` table written in the same commit as the state change that caused it, so a crash cannot lose it. A run
 * ends by emitting the alerts that are due — ingested for the webhook's account through the same code as the
 * platform's events (matching keeps them from the webhook they are about) — and deletes each once ingest took it.
 * Each row keeps the event id it was given when written, so an emission retried after a failure is a repeat there,
 * not a second alert.
 *
 * They cannot storm: webhook.failing goes out once when the failures in a row reach FAILING_ALERT_AFTER, then at
 * most once a day while they go on; webhook.disabled once per disable; webhook.recovered once per reported spell;
 * delivery.exhausted at most once per DEAD_LETTER_ALERT_WINDOW_S (the rule is in README, and at gatherDeadLetters).
 */

/** A failing webhook is reminded of at most this often. */
const FAILING_REPEAT_MS = 86_400_000;
/** An emission ingest did not take is tried again this much later. */
const EMIT_RETRY_MS = 30_000;
/** Alerts emitted per ingest call. */
const EMIT_PAGE = 20;
/** Dead letters a delivery.exhausted lists (its count says how many there were). */
const LISTED = 10;

const SCHEMA = `CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at INTEGER NOT NULL,
  due_at INTEGER NOT NULL
)`;

interface AlertRow extends Record<string, SqlStorageValue> {
  id: string;
  type: string;
  data: string;
  at: number;
  due_at: number;
}

type Data = Record<string, unknown>;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class Alerts {
  readonly #sql: SqlStorage;
  readonly #health: Health;
  readonly #settings: QueueSettings;
  readonly #emit: (events: OperationalEvent[]) => Promise<number[]>;
  #emitting: Promise<void> | null = null;
  /** Alerts owed, kept in memory so that a queue that owes none (the usual case) asks its storage nothing. */
  #owed: number;

  constructor(sql: SqlStorage, health: Health, settings: QueueSettings, emit: (events: OperationalEvent[]) => Promise<number[]>) {
    this.#sql = sql;
    this.#health = health;
    this.#settings = settings;
    this.#emit = emit;
    sql.exec(SCHEMA);
    this.#owed = sql.exec<{ n: number }>("SELECT count(*) AS n FROM alerts").one().n;
  }

  /**
   * Takes one attempt's judgement into the webhook's health and records the alerts it owes. Called in the synchronous
   * stretch that applies the judgement, so both are committed together. `held` counts the deliveries still owed.
   */
  afterAttempt(cfg: QueueConfig, rows: Row[], j: Judgement, attempt: AttemptLog, held: () => number, now: number): void {
    const h = this.#health;
    if (j.outcome.kind === "delivered") {
      const spell = h.state.reported;
      if (spell) {
        this.#record(cfg, "webhook.recovered", now, now, {
          failing_since: iso(spell.since),
          recovered_at: iso(attempt.startedAt + attempt.durationMs),
          failed_attempts: spell.failures,
        });
      }
      h.succeeded();
      return;
    }
    const error = "reason" in j.outcome ? j.outcome.reason : attempt.error;
    h.failed(j.failingSince ?? now, attempt.statusCode, error);
    const s = h.state;
    const last = { last_status_code: s.lastStatusCode, last_error: s.lastError };
    if (j.outcome.kind === "disable") {
      this.#record(cfg, "webhook.disabled", now, now, {
        reason: attempt.statusCode === 410 ? "gone" : "failing",
        message: j.outcome.reason,
        consecutive_failures: s.failures,
        failing_since: iso(s.since),
        ...last,
        held: held(),
      });
      h.alerted();
      return;
    }
    if (j.outcome.kind === "give-up") this.#gatherDeadLetters(cfg, rows, attempt, error, now);
    const due = s.failures >= this.#settings.failingAlertAfter && (s.failingAlertAt === null || now - s.failingAlertAt >= FAILING_REPEAT_MS);
    if (due && s.since !== null) {
      const disablesAt = s.since + this.#settings.disableAfterFailingMs;
      this.#record(cfg, "webhook.failing", now, now, {
        consecutive_failures: s.failures,
        failing_since: iso(s.since),
        ...last,
        disables_at: iso(disablesAt),
        disables_in_s: Math.max(0, Math.round((disablesAt - now) / 1000)),
      });
      h.alerted(now);
    }
  }

  /** A person turned the webhook off (the route's PATCH reached the queue): webhook.disabled, reason manual. */
  disabledByPerson(cfg: QueueConfig, held: number, now: number): void {
    const s = this.#health.state;
    this.#record(cfg, "webhook.disabled", now, now, {
      reason: "manual",
      message: "deactivated by a person (active: false)",
      consecutive_failures: s.failures,
      failing_since: iso(s.since),
      last_status_code: s.lastStatusCode,
      last_error: s.lastError,
      held,
    });
  }

  /** When the earliest alert is due (ms), or null: the scheduler's alarm wakes for it. */
  nextWake(): number | null {
    if (this.#owed === 0) return null;
    return this.#sql.exec<{ t: number | null }>("SELECT min(due_at) AS t FROM alerts").one().t;
  }

  /** Emits every alert that is due, oldest first, one call at a time; what ingest did not take is tried again later. */
  emit(accountId: string, now: number): Promise<void> {
    if (this.#owed === 0) return Promise.resolve();
    this.#emitting ??= this.#emitDue(accountId, now).finally(() => {
      this.#emitting = null;
    });
    return this.#emitting;
  }

  async #emitDue(accountId: string, now: number): Promise<void> {
    for (;;) {
      const rows = this.#sql.exec<AlertRow>("SELECT * FROM alerts WHERE due_at <= ? ORDER BY due_at, id LIMIT ?", now, EMIT_PAGE).toArray();
      if (rows.length === 0) return;
      let statuses: number[];
      try {
        statuses = await this.#emit(
          rows.map((r) => ({ id: r.id, type: r.type, account_id: accountId, timestamp: new Date(r.at).toISOString(), data: JSON.parse(r.data) })),
        );
      } catch (err) {
        console.error("operational events could not be ingested; tried again later", err instanceof Error ? err.message : String(err));
        statuses = rows.map(() => 503);
      }
      let retry = false;
      for (const [i, r] of rows.entries()) {
        const status = statuses[i] ?? 503;
        if (status >= 500) {
          retry = true;
          this.#sql.exec("UPDATE alerts SET due_at = ? WHERE id = ?", now + EMIT_RETRY_MS, r.id);
          continue;
        }
        // A refusal will not change on a retry (the account is gone, say): said in the log, and let go.
        if (status >= 300) console.error("an operational event was refused", r.type, r.id, status);
        this.#sql.exec("DELETE FROM alerts WHERE id = ?", r.id);
        this.#owed--;
      }
      if (retry) return;
    }
  }

  /**
   * Dead letters are reported at most once per window W (DEAD_LETTER_ALERT_WINDOW_S). The first after a quiet spell
   * is reported at once and opens a window; those that follow before it closes are gathered into one report, sent
   * when it closes, which opens the next window. So a burst is two events (the first, then the rest with their
   * count), and a steady stream of dead letters one event per window.
   */
  #gatherDeadLetters(cfg: QueueConfig, rows: Row[], attempt: AttemptLog, error: string | null, now: number): void {
    const listed = rows.map((r) => ({
      id: r.delivery_id,
      event_id: r.event_id,
      event_type: r.event_type,
      attempt_count: attempt.number,
      last_status_code: attempt.statusCode,
      last_error: error,
    }));
    const last = { last_status_code: attempt.statusCode, last_error: error };
    const open = this.#sql.exec<AlertRow>("SELECT * FROM alerts WHERE type = 'delivery.exhausted' AND due_at > ? LIMIT 1", now).toArray()[0];
    if (open) {
      const data = JSON.parse(open.data) as Data & { count: number; deliveries: unknown[] };
      const next = { ...data, ...last, count: data.count + rows.length, last_at: iso(now), deliveries: [...data.deliveries, ...listed].slice(0, LISTED) };
      this.#sql.exec("UPDATE alerts SET data = ? WHERE id = ?", JSON.stringify(next), open.id);
      return;
    }
    const windowEnd = readMeta<number>(this.#sql, "dead_letter_window") ?? 0;
    const report = { count: rows.length, first_at: iso(now), last_at: iso(now), deliveries: listed.slice(0, LISTED), ...last };
    const w = this.#settings.deadLetterWindowMs;
    if (now >= windowEnd) {
      this.#record(cfg, "delivery.exhausted", now, now, report);
      writeMeta(this.#sql, "dead_letter_window", now + w);
    } else {
      this.#record(cfg, "delivery.exhausted", now, windowEnd, report);
      writeMeta(this.#sql, "dead_letter_window", windowEnd + w);
    }
  }

  #record(cfg: QueueConfig, type: OperationalType, at: number, dueAt: number, data: Data): void {
    const dashboard = this.#settings.dashboardUrl;
    const full: Data = {
      webhook: { id: cfg.webhook_id, url: cfg.url, description: cfg.description ?? "" },
      ...data,
      ...(dashboard ? { dashboard_url: `${dashboard.replace(/\/+$/, "")}/webhooks/${cfg.webhook_id}` } : {}),
    };
    this.#sql.exec("INSERT INTO alerts (id, type, data, at, due_at) VALUES (?, ?, ?, ?, ?)", newId("evt", at), type, JSON.stringify(full), at, dueAt);
    this.#owed++;
  }
}
