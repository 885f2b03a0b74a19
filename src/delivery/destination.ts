import type { RelayAnswer } from "../relay/contract";
import { relayIdOf } from "../relay/contract";
import { sendChecked } from "../webhooks/resolve";
import type { QueueConfig } from "../webhooks/types";
import { truncateForLog } from "./request";
import type { Seams } from "./seams";
import { limitHeaders, type OutgoingRequest, RESPONSE_BODY_LOG_BYTES, RESPONSE_HEADERS_LOG_CHARS, type SentAttempt } from "./send";

/**
 * Where one attempt goes: a relay:// destination through its relay session (the developer's `npm run listen`), any
 * other through the destination check and fetch. Either way the answer is a SentAttempt, judged like any other, so
 * retries, ordering and the log are the same for a laptop as for a server.
 */
export async function sendToDestination(seams: Seams, cfg: QueueConfig, req: OutgoingRequest): Promise<SentAttempt> {
  if (!req.url.startsWith("relay://")) return sendChecked(req, seams.settings.destinations, seams.fetch, seams.now);
  const relayId = relayIdOf(req.url);
  const startedAt = seams.now();
  if (!relayId) return failed("relay refused: the URL names no relay; nothing was sent", startedAt);
  let answer: RelayAnswer;
  try {
    answer = await seams.relay(relayId).send(cfg.account_id, { headers: req.headers, body: req.body, timeoutMs: req.timeoutMs });
  } catch (err) {
    return failed(`relay unavailable: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500), startedAt);
  }
  return fromRelay(answer, startedAt);
}

/** The CLI's report of the local answer as an attempt: its status, headers and body (cut as fetch's are), its duration. */
export function fromRelay(answer: RelayAnswer, startedAt: number): SentAttempt {
  if ("error" in answer) {
    return {
      result: answer.timed_out ? { timedOut: true, error: answer.error } : { error: answer.error },
      startedAt,
      durationMs: answer.duration_ms,
      responseHeaders: null,
      responseBody: null,
    };
  }
  let headers: Headers;
  try {
    headers = new Headers(answer.headers);
  } catch {
    headers = new Headers();
  }
  return {
    result: { status: answer.status, headers },
    startedAt,
    durationMs: answer.duration_ms,
    responseHeaders: limitHeaders(headers, RESPONSE_HEADERS_LOG_CHARS),
    responseBody: truncateForLog(answer.body, RESPONSE_BODY_LOG_BYTES),
  };
}

function failed(error: string, startedAt: number): SentAttempt {
  return { result: { error }, startedAt, durationMs: 0, responseHeaders: null, responseBody: null };
}
