import type { QueueConfig } from "../webhooks/types";
import type { Alerts } from "./alerts";
import { sendToDestination } from "./destination";
import type { Health } from "./health";
import type { Held } from "./held";
import type { Journal } from "./journal";
import type { Unit } from "./lines";
import type { AttemptLog } from "./log";
import { attemptLog, type Judgement, judge } from "./outcome";
import type { Pacing } from "./pacing";
import type { Requests } from "./request";
import type { Seams } from "./seams";
import type { SentAttempt } from "./send";
import type { QueueStore } from "./store";

/** The parts of a queue, as its shell builds them. */
export interface Parts {
  seams: Seams;
  store: QueueStore;
  journal: Journal;
  pacing: Pacing;
  requests: Requests;
  health: Health;
  alerts: Alerts;
  held: Held;
  /** The webhook's settings as this queue last heard them, or null before the first. */
  config(): QueueConfig | null;
  /** Stores settings the queue changed itself (a disable). */
  saveConfig(cfg: QueueConfig): void;
}

/** Sends one unit and settles it: never throws for a failure, which is an attempt like any other. */
export async function deliver(p: Parts, cfg: QueueConfig, unit: Unit): Promise<void> {
  const number = unit.rows[0].attempts + 1;
  let sent: SentAttempt;
  let headers: Record<string, string> = {};
  let body = "";
  try {
    const built = await p.requests.build(cfg, unit, p.seams.now());
    headers = built.logHeaders;
    body = built.logBody;
    // The destination is checked (URL rules, then its host's DNS) before every send; a refusal is a failed attempt.
    // A relay:// one goes down its relay session's socket instead.
    sent = await sendToDestination(p.seams, cfg, built.request);
  } catch (err) {
    // Something on our side (a key that cannot be decrypted, say): a failed attempt, retried like any other.
    const message = `could not send: ${err instanceof Error ? err.message : String(err)}`;
    console.error("webhook send failed before the request", cfg.webhook_id, message);
    sent = { result: { error: message }, startedAt: p.seams.now(), durationMs: 0, responseHeaders: null, responseBody: null };
  }
  const now = p.seams.now();
  const attempt = attemptLog(sent, number, headers, body);
  const judged = judge({
    cfg,
    rows: unit.rows,
    sent,
    attempt,
    now,
    failingSince: p.health.failingSince,
    disableAfterMs: p.seams.settings.disableAfterFailingMs,
    random: p.seams.random,
  });
  apply(p, cfg, unit, judged, attempt, now);
}

/** Applies a judgement in one synchronous stretch, so the state change, its log and the alerts it owes are committed together. */
function apply(p: Parts, cfg: QueueConfig, unit: Unit, j: Judgement, attempt: AttemptLog, now: number): void {
  // The health (failing clock and count) and the alerts they owe (src/delivery/alerts.ts).
  p.alerts.afterAttempt(cfg, unit.rows, j, attempt, () => p.store.owed().count, now);
  if (j.pauseUntil !== null) p.pacing.pause(j.pauseUntil);
  const { rows } = unit;
  switch (j.outcome.kind) {
    case "delivered":
      // The happy path writes nothing here: the rows are sent, their log waits for the next flush.
      p.journal.delivered(rows, j.statements);
      return;
    case "give-up":
      p.journal.record(j.statements);
      p.store.finish(rows.map((r) => r.seq));
      break;
    case "retry":
      p.store.retry(rows, now + j.outcome.delayMs, unit.batchId);
      p.journal.record(j.statements);
      break;
    case "disable":
      // Held, not dropped: the rows stay at the head and go out first when the webhook is enabled again.
      p.store.retry(rows, now, unit.batchId);
      p.saveConfig({ ...cfg, active: false });
      p.journal.record(j.statements);
      // From now on they are held, within the retention and the bound.
      p.held.wentOff(cfg, now);
      break;
  }
  p.journal.logged(rows);
}
