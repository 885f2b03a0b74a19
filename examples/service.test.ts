// The examples as a reader of their READMEs runs them: the service started with `npm start` (wrangler dev), a
// webhook created over the API, its secret given to the receiver, and real deliveries going out to it.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "@photostructure/sqlite";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type DevServer, startDevServer } from "../test/support/dev-server";
import { freePort, type Receiver, startReceiver } from "./test-support";

const here = (dir: string) => fileURLToPath(new URL(`./${dir}/`, import.meta.url));
const dbDir = mkdtempSync(join(tmpdir(), "broxiai-examples-"));

let server: DevServer;
let apiKey: string;
let accountId: string;
const receivers: Receiver[] = [];
const slackMessages: { text: string; blocks: unknown[] }[] = [];
let slack: Server;
let express: Receiver;
let python: Receiver;
let toDb: Receiver;
const webhookIds: Record<string, string> = {};

async function api(path: string, bearer: string, json?: unknown): Promise<any> {
  const res = await server.fetch(path, { method: json === undefined ? "GET" : "POST", bearer, json });
  const body = await res.json();
  if (!res.ok) throw new Error(`${path} → ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** Creates a webhook for a receiver that will listen on `port`, and starts the receiver with the secret the API answered. */
async function receiverFor(name: string, port: number, body: Record<string, unknown>, launch: (secret: string) => Promise<Receiver>): Promise<Receiver> {
  const created = await api("/v1/webhooks", apiKey, { url: `http://127.0.0.1:${port}/webhooks/broxiai`, ...body });
  webhookIds[name] = created.id;
  const receiver = await launch(created.secret);
  receivers.push(receiver);
  return receiver;
}

async function ingest(id: string, type: string, data: Record<string, unknown>): Promise<Response> {
  return server.fetch("/v1/events", { method: "POST", bearer: server.token, json: { id, type, account_id: accountId, data } });
}

function storedEvents(): string[] {
  const db = new DatabaseSync(join(dbDir, "webhooks.db"), { readOnly: true });
  try {
    return (db.prepare("SELECT id FROM events ORDER BY id").all() as { id: string }[]).map((r) => r.id);
  } finally {
    db.close();
  }
}

async function eventually<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > until) throw new Error(`timed out; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  // A stand-in for Slack's incoming-webhook endpoint: it answers "ok" as Slack does.
  slack = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      slackMessages.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(200, { "content-type": "text/html" }).end("ok");
    });
  });
  await new Promise<void>((resolve) => slack.listen(0, "127.0.0.1", resolve));

  server = await startDevServer();
  accountId = (await api("/v1/accounts", server.token, { name: "Examples" })).id;
  apiKey = (await api(`/v1/accounts/${accountId}/api-keys`, server.token, { name: "examples" })).key;

  const [pExpress, pPython, pDb] = await Promise.all([freePort(), freePort(), freePort()]);
  express = await receiverFor("express", pExpress, { events: ["workflow.*"] }, (secret) =>
    startReceiver(process.execPath, ["server.mjs"], { cwd: here("node-express"), port: pExpress, env: { WEBHOOK_SECRET: secret } }),
  );
  python = await receiverFor("python", pPython, { events: ["workflow.*"] }, (secret) =>
    startReceiver("python3", ["receiver.py"], { cwd: here("python"), port: pPython, env: { WEBHOOK_SECRET: secret } }),
  );
  toDb = await receiverFor("db", pDb, { events: ["workflow.*"], batch: { max_size: 2, max_wait_ms: 500 } }, (secret) =>
    startReceiver(process.execPath, ["receiver.mjs"], {
      cwd: here("webhook-to-db"),
      port: pDb,
      env: { WEBHOOK_SECRET: secret, DATABASE_PATH: join(dbDir, "webhooks.db") },
    }),
  );
  const { port: slackPort } = slack.address() as AddressInfo;
  webhookIds.slack = (
    await api("/v1/webhooks", apiKey, { url: `http://127.0.0.1:${slackPort}/services/T000/B000/XXXX`, events: ["workflow.failed"], format: "slack" })
  ).id;
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  if (slack) {
    slack.closeAllConnections();
    await new Promise<void>((resolve) => slack.close(() => resolve()));
  }
  await server?.stop();
  server?.cleanup();
  rmSync(dbDir, { recursive: true, force: true });
});

const completed = { workflow_id: "wf_ex", execution_id: "exe_ex_1", workflow_name: "Triage", duration_ms: 5230, outputs: {} };
const failed = {
  workflow_id: "wf_ex",
  execution_id: "exe_ex_2",
  workflow_name: "Triage",
  duration_ms: 1200,
  error: { code: "llm_rate_limited", message: "429 from the model" },
};

test("the test route reaches every example receiver and each verifies it", async () => {
  for (const name of ["express", "python", "db"]) {
    const result = await api(`/v1/webhooks/${webhookIds[name]}/test`, apiKey, { type: "workflow.completed" });
    expect(result, name).toMatchObject({ ok: true });
  }
  const slackTest = await api(`/v1/webhooks/${webhookIds.slack}/test`, apiKey, {});
  expect(slackTest).toMatchObject({ ok: true, status_code: 200, response_body: "ok" });
});

test("ingested events reach the receivers once each, a repeated ingest changes nothing", async () => {
  expect((await ingest("evt_examples_1", "workflow.completed", completed)).status).toBe(202);
  expect((await ingest("evt_examples_2", "workflow.failed", failed)).status).toBe(202);
  expect((await ingest("evt_examples_1", "workflow.completed", completed)).status).toBe(200);

  for (const r of [express, python]) {
    await r.waitFor((rec) => ["evt_examples_1", "evt_examples_2"].every((id) => rec.some((x) => x.handled === id)), 20_000);
  }
  // The database example's webhook batches two events into one request; both rows appear, once each.
  await eventually(storedEvents, (ids) => ids.includes("evt_examples_1") && ids.includes("evt_examples_2"));
  expect(storedEvents().filter((id) => id.startsWith("evt_examples_"))).toEqual(["evt_examples_1", "evt_examples_2"]);
  expect(toDb.records().some((x) => typeof x.webhook_id === "string" && (x.webhook_id as string).startsWith("bat_"))).toBe(true);

  const toSlack = await eventually(
    () => slackMessages,
    (m) => m.some((x) => x.text.includes("429 from the model")),
  );
  expect(toSlack.find((x) => x.text.includes("429 from the model"))!.text).toMatch(/^:x: Workflow Triage \(wf_ex\) failed/);
  for (const r of [express, python]) expect(r.records().filter((x) => x.handled === "evt_examples_1")).toHaveLength(1);
});

test("after a secret rotation the receivers, still holding the old secret, keep verifying", async () => {
  const rotated = await api(`/v1/webhooks/${webhookIds.python}/rotate-secret`, apiKey, {});
  expect(rotated.secret).toMatch(/^whsec_/);
  expect((await ingest("evt_examples_3", "workflow.completed", { ...completed, execution_id: "exe_ex_3" })).status).toBe(202);
  await python.waitFor((rec) => rec.some((x) => x.handled === "evt_examples_3"), 20_000);
  // The delivery log is written just after the receiver answers: wait for it to say delivered.
  const deliveries = await eventually(
    () => api(`/v1/webhooks/${webhookIds.python}/deliveries?status=delivered`, apiKey),
    (page) => page.data.some((d: { event_id: string }) => d.event_id === "evt_examples_3"),
  );
  const delivery = deliveries.data.find((d: { event_id: string }) => d.event_id === "evt_examples_3");
  const detail = await api(`/v1/deliveries/${delivery.id}`, apiKey);
  // Two signatures on the wire, the new secret's first.
  expect(detail.attempts[0].request_headers["webhook-signature"].split(" ")).toHaveLength(2);
});
