// Signed deliveries for a receiver's unit tests, without the service: the payloads are the catalog's own examples
// (event-types.json, saved from GET /v1/event-types), signed by the standardwebhooks library exactly as the service
// signs them. Copy this file and event-types.json next to your tests.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";
import type { WebhookPayload } from "./handler";

/** One event type of the catalog. */
export interface CatalogEntry {
  type: string;
  category: string;
  description: string;
  /** JSON Schema of `data`. */
  schema: Record<string, unknown>;
  example: Record<string, unknown>;
}

/** The catalog as GET /v1/event-types answers it: {data: [{type, category, description, schema, example}]}. */
export const catalog: { data: CatalogEntry[] } = JSON.parse(readFileSync(new URL("./event-types.json", import.meta.url), "utf8"));

/** The payload a receiver gets for `type` (the base webhook structure), with the catalog's example as `data`. */
export function payloadFor(type: string, overrides: Partial<WebhookPayload> = {}): WebhookPayload {
  const entry = catalog.data.find((e) => e.type === type);
  if (!entry) throw new Error(`${type} is not in event-types.json; save GET /v1/event-types again`);
  return {
    id: `evt_fixture_${type.replaceAll(".", "_")}`,
    type,
    timestamp: "2026-11-27T09:00:00.000Z",
    account_id: "acc_fixture",
    data: structuredClone(entry.example),
    ...overrides,
  };
}

/**
 * A request as the service sends it: the JSON body, the webhook-* headers signed with `secret` at `at` (now by
 * default; ten minutes ago makes a replay), and the x-broxiai-* headers.
 */
export function signedRequest(
  payload: WebhookPayload,
  { secret, at = new Date(), url = "http://localhost/webhooks/broxiai", attempt = 1 }: { secret: string; at?: Date; url?: string; attempt?: number },
): Request {
  const body = JSON.stringify(payload);
  return new Request(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "BroxiAI-Webhooks/0.1.0",
      "webhook-id": payload.id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign(payload.id, at, body),
      "x-broxiai-event": payload.type,
      "x-broxiai-delivery": `dlv_fixture_${payload.id}`,
      "x-broxiai-attempt": String(attempt),
      "x-broxiai-sequence": "1",
    },
    body,
  });
}
