// Webhook to database: verify each BroxiAI delivery and store its events in SQLite exactly once, however many
// times the service sends it. Acknowledge only after the row is committed: a crash before the commit gets no
// 2xx, so the service retries and nothing is lost; a retry after the commit finds the id and stores nothing.
//
//   WEBHOOK_SECRET=whsec_… DATABASE_PATH=webhooks.db PORT=3000 node receiver.mjs
import { createServer } from "node:http";
// node:sqlite's API for Node 20, with SQLite prebuilt in the npm package (nothing to compile). On Node 24 or later,
// import { DatabaseSync } from "node:sqlite" instead: the same class.
import { DatabaseSync } from "@photostructure/sqlite";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const secret = process.env.WEBHOOK_SECRET;
if (!secret?.startsWith("whsec_")) {
  console.error("Set WEBHOOK_SECRET to the webhook's secret (whsec_…), as POST /v1/webhooks answered it.");
  process.exit(1);
}
const webhook = new Webhook(secret);
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? "127.0.0.1";
const MAX_BODY_BYTES = 1024 * 1024;

// timeout: a write waits up to 5 s for another process's write lock instead of failing at once.
const db = new DatabaseSync(process.env.DATABASE_PATH ?? "webhooks.db", { timeout: 5000 });
// WAL lets your other programs read the tables while this one writes.
db.exec("PRAGMA journal_mode = WAL");
db.exec(`
  -- One row per message the service sent (webhook-id: the event id, or the batch id for a batch).
  CREATE TABLE IF NOT EXISTS webhook_messages (
    webhook_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
  );
  -- One row per event, whichever message carried it.
  CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    account_id TEXT,
    data TEXT NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhook_messages(webhook_id),
    received_at TEXT NOT NULL
  );
`);

const insertMessage = db.prepare("INSERT OR IGNORE INTO webhook_messages (webhook_id, received_at) VALUES (?, ?)");
const insertEvent = db.prepare(
  "INSERT OR IGNORE INTO events (id, type, timestamp, account_id, data, webhook_id, received_at) VALUES (:id, :type, :timestamp, :account_id, :data, :webhook_id, :received_at)",
);

/**
 * Stores one verified message in one transaction. A webhook-id already here is a retry: nothing is written.
 * Events are keyed by their own id as well, because a manual redelivery may carry an event again in another batch.
 * BEGIN IMMEDIATE takes the write lock first, so a second process storing the same message waits, then finds it.
 */
function store(webhookId, payload) {
  db.exec("BEGIN IMMEDIATE");
  try {
    const receivedAt = new Date().toISOString();
    let result = { duplicate: true, stored: 0 };
    if (insertMessage.run(webhookId, receivedAt).changes > 0) {
      const events = payload.type === "batch" ? payload.data.events : [payload];
      let stored = 0;
      for (const e of events) {
        stored += insertEvent.run({
          id: e.id,
          type: e.type,
          timestamp: e.timestamp,
          account_id: e.account_id ?? null,
          data: JSON.stringify(e.data ?? {}),
          webhook_id: webhookId,
          received_at: receivedAt,
        }).changes;
      }
      result = { duplicate: false, stored };
    }
    db.exec("COMMIT");
    return result;
  } catch (err) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw err;
  }
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/webhooks/broxiai") return answer(res, 404, { error: "not found" });
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      answer(res, 413, { error: "body too large" });
      req.destroy();
    } else chunks.push(chunk);
  });
  req.on("end", () => {
    // The raw bytes, exactly as signed.
    const body = Buffer.concat(chunks);
    let payload;
    try {
      payload = webhook.verify(body, req.headers);
    } catch (err) {
      const status = err instanceof WebhookVerificationError ? 401 : 400;
      console.error(`rejected ${req.headers["webhook-id"] ?? "(no webhook-id)"}: ${err.message}`);
      return answer(res, status, { error: err.message });
    }
    const webhookId = req.headers["webhook-id"];
    let result;
    try {
      result = store(webhookId, payload);
    } catch (err) {
      // Not stored, so not acknowledged: the service will retry.
      console.error(`storing ${webhookId} failed: ${err.message}`);
      return answer(res, 500, { error: "could not store the event" });
    }
    console.log(JSON.stringify({ webhook_id: webhookId, ...result }));
    answer(res, 200, result);
  });
});

server.listen(port, host, () => console.error(`listening on http://${host}:${port}/webhooks/broxiai`));
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    db.close();
    process.exit(0);
  });
}
