import { decryptSecret, type SigningKey, signatureHeader } from "../signing";
import { maskHeaders, openHeaders } from "../webhooks/headers";
import type { QueueConfig } from "../webhooks/types";
import type { Unit } from "./lines";
import type { OutgoingRequest } from "./send";
import { toSlackMessage } from "./slack";

export const VERSION = "0.1.0";
export const USER_AGENT = `BroxiAI-Webhooks/${VERSION}`;
/** Request bodies are logged up to this size (a batch's body is logged once per delivery, so each gets a share). */
export const REQUEST_BODY_LOG_BYTES = 256 * 1024;

/** One signed request, and what the delivery log keeps of it. */
export interface BuiltRequest {
  request: OutgoingRequest;
  attemptNumber: number;
  /** The request headers as logged: custom header values masked, ours as sent. */
  logHeaders: Record<string, string>;
  /** The body as logged (cut to its share of REQUEST_BODY_LOG_BYTES). */
  logBody: string;
}

/**
 * Request building: the body (the payload, a batch envelope, or a Slack message), the headers, and the signature.
 * Holds the webhook's signing keys opened, so a queue signing thousands of requests decrypts them once.
 */
export class Requests {
  readonly #encryptionKey: string;
  readonly #dashboardUrl: string;
  #keys: { sealed: string; keys: SigningKey[] } | null = null;

  constructor(settings: { encryptionKey: string; dashboardUrl: string }) {
    this.#encryptionKey = settings.encryptionKey;
    this.#dashboardUrl = settings.dashboardUrl;
  }

  /** Builds and signs the request for one unit, at `now`. */
  async build(cfg: QueueConfig, unit: Unit, now: number): Promise<BuiltRequest> {
    const first = unit.rows[0];
    const attemptNumber = first.attempts + 1;
    const timestamp = Math.floor(now / 1000);
    const msgId = unit.batchId ?? first.event_id;
    const body = unit.batchId
      ? `{"id":${JSON.stringify(unit.batchId)},"type":"batch","timestamp":${JSON.stringify(new Date(now).toISOString())},"account_id":${JSON.stringify(cfg.account_id)},"data":{"events":[${unit.rows.map((r) => r.payload).join(",")}]}}`
      : cfg.format === "slack"
        ? JSON.stringify(toSlackMessage(JSON.parse(first.payload), { dashboardUrl: deliveryPageUrl(this.#dashboardUrl, first.delivery_id) }))
        : first.payload;
    const headers: Record<string, string> = {
      // Custom header values are stored sealed; they are opened only here, to go on the wire.
      ...(await openHeaders(this.#encryptionKey, cfg.headers)),
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      "webhook-id": msgId,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": await signatureHeader(await this.#signingKeys(cfg, now), msgId, timestamp, body),
      "x-broxiai-event": unit.batchId ? "batch" : first.event_type,
      "x-broxiai-delivery": unit.batchId ?? first.delivery_id,
      "x-broxiai-attempt": String(attemptNumber),
      "x-broxiai-sequence": unit.batchId ? `${first.seq}-${unit.rows[unit.rows.length - 1].seq}` : String(first.seq),
    };
    return {
      request: { url: cfg.url, headers, body, timeoutMs: cfg.timeout_ms },
      attemptNumber,
      logHeaders: maskHeaders(headers, Object.keys(cfg.headers)),
      logBody: truncateForLog(body, Math.max(4096, Math.floor(REQUEST_BODY_LOG_BYTES / unit.rows.length))),
    };
  }

  /** The keys that sign now (newest first; a rotated-out key until its grace period ends), opened once per change. */
  async #signingKeys(cfg: QueueConfig, now: number): Promise<SigningKey[]> {
    const live = cfg.keys.filter((k) => k.expires_at === null || k.expires_at > now);
    const sealed = live.map((k) => k.sealed).join(" ");
    if (this.#keys?.sealed !== sealed) {
      const keys = await Promise.all(
        live.map(async (k): Promise<SigningKey> => {
          const plain = await decryptSecret(this.#encryptionKey, k.sealed);
          return k.scheme === "hmac" ? { scheme: "hmac", secret: plain } : { scheme: "ed25519", privateKey: plain };
        }),
      );
      this.#keys = { sealed, keys };
    }
    return this.#keys.keys;
  }
}

/** A body as the log keeps it: cut at `limit` characters, ending in "…[truncated]" when it was cut. */
export function truncateForLog(body: string, limit: number): string {
  return body.length > limit ? `${body.slice(0, limit)}…[truncated]` : body;
}

/** The dashboard page of a delivery, for the link in a Slack message; none when DASHBOARD_URL is not set. */
function deliveryPageUrl(base: string, deliveryId: string): string | undefined {
  return base ? `${base.replace(/\/+$/, "")}/deliveries/${encodeURIComponent(deliveryId)}` : undefined;
}
