import type { AttemptResult } from "./retry";

/** One HTTP request to a receiver, fully prepared (signed) by the queue. */
export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** What one attempt did, as the delivery log records it. */
export interface SentAttempt {
  result: AttemptResult;
  startedAt: number;
  durationMs: number;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
}

/** Response bodies are kept in the log up to this many bytes (the rest is cut, never read into memory). */
export const RESPONSE_BODY_LOG_BYTES = 4096;

/** Response headers are kept in the log up to this many characters of names and values in all, like bodies. */
export const RESPONSE_HEADERS_LOG_CHARS = 4096;

/**
 * Sends one attempt with the injected fetch. Redirects are never followed (`redirect: "manual"`): a 3xx is an
 * answer, and following it could lead a signed request somewhere the URL check never saw. The timeout covers
 * the whole exchange, headers and the part of the body we read.
 */
export async function sendRequest(req: OutgoingRequest, fetchFn: typeof fetch = (...a) => fetch(...a), clock: () => number = Date.now): Promise<SentAttempt> {
  const startedAt = clock();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timeout")), req.timeoutMs);
  try {
    const res = await fetchFn(req.url, { method: "POST", headers: req.headers, body: req.body, redirect: "manual", signal: controller.signal });
    const responseBody = await readLimited(res, RESPONSE_BODY_LOG_BYTES);
    return {
      result: { status: res.status, headers: res.headers },
      startedAt,
      durationMs: clock() - startedAt,
      responseHeaders: limitHeaders(res.headers, RESPONSE_HEADERS_LOG_CHARS),
      responseBody,
    };
  } catch (err) {
    const timedOut = controller.signal.aborted;
    return {
      result: timedOut ? { timedOut: true, error: `timed out after ${req.timeoutMs} ms` } : { error: describeNetworkError(err) },
      startedAt,
      durationMs: clock() - startedAt,
      responseHeaders: null,
      responseBody: null,
    };
  } finally {
    clearTimeout(timer);
  }
}

async function readLimited(res: Response, limit: number): Promise<string> {
  if (!res.body) return "";
  // A body whose declared length fits is read whole, with no stream to walk (most answers are a few bytes).
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared <= limit) return res.text();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Read until more than the limit has arrived (or the body ends): a body of exactly `limit` bytes is whole,
  // and only seeing a byte beyond it says something was cut.
  while (size <= limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  const truncated = size > limit;
  if (truncated) await reader.cancel().catch(() => {});
  const bytes = new Uint8Array(Math.min(size, limit));
  let offset = 0;
  for (const c of chunks) {
    const part = c.subarray(0, Math.min(c.byteLength, bytes.byteLength - offset));
    bytes.set(part, offset);
    offset += part.byteLength;
    if (offset >= bytes.byteLength) break;
  }
  // stream: true drops a multi-byte character cut in half at the limit instead of logging a replacement character.
  const text = new TextDecoder().decode(bytes, { stream: truncated });
  return truncated ? `${text}…[truncated]` : text;
}

/**
 * The response headers as the log keeps them: in name order (as Headers iterate them) while they fit in `limit` characters (names and
 * values); the first that does not fit is kept cut, ending in "…[truncated]" as a cut body does, and the rest are
 * dropped. A receiver (or anything between) can answer with hundreds of kilobytes of headers; the log is not the
 * place to store them every attempt for 30 days.
 */
export function limitHeaders(headers: Headers, limit: number): Record<string, string> {
  const kept: Record<string, string> = {};
  let size = 0;
  for (const [name, value] of headers) {
    if (size + name.length + value.length <= limit) {
      kept[name] = value;
      size += name.length + value.length;
      continue;
    }
    const room = Math.max(0, limit - size - name.length);
    kept[name.slice(0, Math.max(1, limit - size))] = `${value.slice(0, room)}…[truncated]`;
    break;
  }
  return kept;
}

function describeNetworkError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `network error: ${message}`.slice(0, 500);
}
