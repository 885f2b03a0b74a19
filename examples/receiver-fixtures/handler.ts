// A receiver's webhook handler, written against the Fetch API's Request and Response so that it runs as it is in
// a Worker, Hono, Deno, Bun or Next.js route, and in a unit test with no server at all (handler.test.ts).
import { Webhook } from "standardwebhooks";

/** What every delivery's body is: the base webhook structure (a batch's `data` is `{events: [...]}`). */
export interface WebhookPayload {
  id: string;
  type: string;
  timestamp: string;
  account_id: string;
  data: Record<string, any>;
}

/**
 * The handler for `POST /webhooks/broxiai`: verifies the Standard Webhooks signature (a bad one, or a timestamp more
 * than five minutes off, is answered 401 and nothing runs), acknowledges a webhook-id it has handled already
 * without handling it again (delivery is at least once), splits a batch into its events, and gives each to
 * `onEvent`. `seen` is where handled ids are kept: a Set here, a table with a unique key in production.
 */
export function createHandler({
  secret,
  onEvent,
  seen = new Set(),
}: {
  secret: string;
  onEvent: (event: WebhookPayload) => void | Promise<void>;
  seen?: Set<string>;
}): (request: Request) => Promise<Response> {
  const webhook = new Webhook(secret);
  return async function handle(request) {
    if (request.method !== "POST") return new Response(null, { status: 405 });
    // The signature covers the raw bytes: verify them before any JSON parsing.
    const body = await request.text();
    let payload: WebhookPayload;
    try {
      payload = webhook.verify(body, Object.fromEntries(request.headers)) as WebhookPayload;
    } catch (err) {
      return Response.json({ error: (err as Error).message }, { status: 401 });
    }
    const id = request.headers.get("webhook-id")!;
    if (seen.has(id)) return new Response(null, { status: 200 });
    const events: WebhookPayload[] = payload.type === "batch" ? payload.data.events : [payload];
    for (const event of events) await onEvent(event);
    seen.add(id);
    return new Response(null, { status: 204 });
  };
}

/** What this receiver does with an event: a line for the team's channel, or null for the events it ignores. */
export function alertFor(event: WebhookPayload): string | null {
  const d = event.data;
  switch (event.type) {
    case "workflow.failed":
      return `Workflow ${d.workflow_name ?? d.workflow_id} failed: ${d.error.message} (run ${d.execution_id})`;
    case "component.failed":
      return `${d.component_name ?? d.component_id} failed in run ${d.execution_id}: ${d.error.message}`;
    case "workflow.timeout":
    case "component.timeout":
      return `${d.component_name ?? d.workflow_name ?? d.workflow_id} timed out after ${d.duration_ms / 1000} s (run ${d.execution_id})`;
    case "api.quota.warning":
    case "api.quota.exceeded":
      return `Quota ${d.quota.name}: ${d.quota.used} of ${d.quota.limit} used this ${d.quota.period}`;
    case "system.maintenance":
      return `Maintenance from ${d.window.starts_at} to ${d.window.ends_at}: ${d.message}`;
    default:
      return null;
  }
}
