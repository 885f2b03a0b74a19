// A BroxiAI Webhooks receiver in Express: verify the signature on the raw body, drop duplicates by webhook-id,
// answer 2xx at once, and do the real work after the answer.
//
//   WEBHOOK_SECRET=whsec_… PORT=3000 node server.mjs
import express from "express";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const secret = process.env.WEBHOOK_SECRET;
if (!secret?.startsWith("whsec_")) {
  console.error("Set WEBHOOK_SECRET to the webhook's secret (whsec_…), as POST /v1/webhooks answered it.");
  process.exit(1);
}
const webhook = new Webhook(secret);
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? "127.0.0.1";

// The ids seen lately. A retry carries the same webhook-id, so one that is here has been handled already. The
// service retries for about a day and a half by default; keep ids at least that long. In memory for the example:
// with several processes or restarts, use a shared store (a unique key in your database, Redis SET NX EX).
const SEEN_FOR_MS = 3 * 24 * 3600 * 1000;
const seen = new Map();

function firstTime(id) {
  const now = Date.now();
  for (const [old, at] of seen) {
    if (now - at < SEEN_FOR_MS) break; // a Map iterates in insertion order: the rest are younger
    seen.delete(old);
  }
  if (seen.has(id)) return false;
  seen.set(id, now);
  return true;
}

/** Your business logic. It runs after the answer, so a slow step never makes the service time out and retry. */
async function handle(event) {
  const events = event.type === "batch" ? event.data.events : [event];
  for (const e of events) {
    console.log(JSON.stringify({ handled: e.id, type: e.type }));
  }
}

const app = express();

// express.raw, not express.json: the signature covers the exact bytes sent, and a parsed-and-reserialized body
// would not match it.
app.post("/webhooks/broxiai", express.raw({ type: "*/*", limit: "1mb" }), (req, res) => {
  let event;
  try {
    // Checks the signature (any of several, during a secret rotation) and that webhook-timestamp is within
    // five minutes, which stops an old captured request from being replayed.
    event = webhook.verify(req.body, req.headers);
  } catch (err) {
    if (err instanceof WebhookVerificationError) {
      console.error(`rejected ${req.get("webhook-id") ?? "(no webhook-id)"}: ${err.message}`);
      return res.status(401).json({ error: err.message });
    }
    return res.status(400).json({ error: "malformed request" });
  }
  // Deduplicate only after verifying, so a forged request cannot mark a real id as seen.
  const id = req.get("webhook-id");
  if (!firstTime(id)) {
    console.log(JSON.stringify({ duplicate: id }));
    return res.status(200).json({ duplicate: true });
  }
  res.status(204).end();
  setImmediate(() => handle(event).catch((err) => console.error(`handling ${id} failed:`, err)));
});

app.listen(port, host, () => console.error(`listening on http://${host}:${port}/webhooks/broxiai`));
