// The service's public API as the benchmark uses it: accounts, keys, webhooks, and events to ingest.

export const PLATFORM_TOKEN = "bench-platform-token-0123456789abcdef";
export const ENCRYPTION_KEY = Buffer.alloc(32, 9).toString("base64");
/** The variables every service instance of the run gets. */
// FANOUT_REQUEUE_AFTER_S: the local queue broker can lose the pages it holds (phase "fanout"); the phase then runs the
// cron, which wrangler dev does not, and it queues them again after this many seconds instead of ten minutes.
export const SERVICE_VARS = { PLATFORM_TOKEN, ENCRYPTION_KEY, ALLOW_PRIVATE_DESTINATIONS: "true", ALARM_MIN_DELAY_MS: "0", FANOUT_REQUEUE_AFTER_S: "15" };

const PLATFORM = { authorization: `Bearer ${PLATFORM_TOKEN}` };

async function call(base, method, path, token, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A new account with one API key and `count` webhooks to the receiver at `${receiverUrl}/r/${tag}-<i>` (or `/r/${tag}` for one). */
export async function accountWithWebhooks(base, { name, count, receiverUrl, tag, settings = {} }) {
  const account = await call(base, "POST", "/v1/accounts", PLATFORM_TOKEN, { name });
  const key = await call(base, "POST", `/v1/accounts/${account.id}/api-keys`, PLATFORM_TOKEN, { name: "bench" });
  const webhooks = [];
  // A few at a time: each create also configures the webhook's Durable Object.
  for (let i = 0; i < count; i += 10) {
    const made = await Promise.all(
      Array.from({ length: Math.min(10, count - i) }, (_, k) => {
        const path = count === 1 ? tag : `${tag}-${i + k}`;
        return call(base, "POST", "/v1/webhooks", key.key, { url: `${receiverUrl}/r/${path}`, events: ["workflow.completed"], ...settings });
      }),
    );
    webhooks.push(...made);
  }
  return { accountId: account.id, key: key.key, webhooks };
}

/** One workflow.completed event with a caller-chosen id (the receiver sees it as webhook-id). */
export function event(accountId, id) {
  return {
    id,
    type: "workflow.completed",
    account_id: accountId,
    data: {
      workflow_id: "wf_bench",
      execution_id: `exe_${id}`,
      duration_ms: 5230,
      outputs: { answer: "42" },
      started_at: "2026-11-27T08:59:00.000Z",
      completed_at: "2026-11-27T09:00:00.000Z",
    },
  };
}

export const platformHeaders = PLATFORM;
