import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "@photostructure/sqlite";
import { afterAll, beforeAll, expect, test } from "vitest";
import { deliver, eventPayload, newSecret, type Receiver, startReceiver } from "../test-support";

const secret = newSecret();
const dir = mkdtempSync(join(tmpdir(), "broxiai-webhook-to-db-"));
const databasePath = join(dir, "webhooks.db");
const cwd = fileURLToPath(new URL(".", import.meta.url));
let receiver: Receiver;
let endpoint: string;

const start = async () => {
  receiver = await startReceiver(process.execPath, ["receiver.mjs"], { cwd, env: { WEBHOOK_SECRET: secret, DATABASE_PATH: databasePath } });
  endpoint = `${receiver.url}/webhooks/broxiai`;
};

/** Reads the receiver's database the way another program of the customer's would, while it runs. */
function rows(sql: string, ...params: string[]): Record<string, unknown>[] {
  const db = new DatabaseSync(databasePath, { readOnly: true });
  try {
    return db.prepare(sql).all(...params) as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

function batch(id: string, eventIds: string[]): string {
  const events = eventIds.map((e) => JSON.parse(eventPayload(e)));
  return JSON.stringify({ id, type: "batch", timestamp: new Date().toISOString(), account_id: "acc_example", data: { events } });
}

beforeAll(start);
afterAll(async () => {
  await receiver?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("an event is stored with its payload", async () => {
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_db_1", body: eventPayload("evt_db_1", "workflow.completed", { duration_ms: 777 }) });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ duplicate: false, stored: 1 });
  const [row] = rows("SELECT * FROM events WHERE id = ?", "evt_db_1");
  expect(row).toMatchObject({ type: "workflow.completed", account_id: "acc_example", webhook_id: "evt_db_1" });
  expect(JSON.parse(row.data as string)).toMatchObject({ workflow_id: "wf_1", duration_ms: 777 });
});

test("the same webhook-id twice (a retry) stores one row and is acknowledged both times", async () => {
  const body = eventPayload("evt_db_twice");
  const first = await deliver(endpoint, { secrets: [secret], id: "evt_db_twice", body });
  const second = await deliver(endpoint, { secrets: [secret], id: "evt_db_twice", body, timestamp: Math.floor(Date.now() / 1000) + 3 });
  expect([first.status, second.status]).toEqual([200, 200]);
  expect(await second.json()).toEqual({ duplicate: true, stored: 0 });
  expect(rows("SELECT id FROM events WHERE id = ?", "evt_db_twice")).toHaveLength(1);
});

test("concurrent copies of one delivery still store one row", async () => {
  const body = eventPayload("evt_db_race");
  const answers = await Promise.all(Array.from({ length: 8 }, () => deliver(endpoint, { secrets: [secret], id: "evt_db_race", body })));
  expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
  expect(rows("SELECT id FROM events WHERE id = ?", "evt_db_race")).toHaveLength(1);
});

test("two receiver processes on one database store copies sent to both once", async () => {
  const second = await startReceiver(process.execPath, ["receiver.mjs"], { cwd, env: { WEBHOOK_SECRET: secret, DATABASE_PATH: databasePath } });
  try {
    const body = eventPayload("evt_db_two_procs");
    const urls = [endpoint, `${second.url}/webhooks/broxiai`];
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => deliver(urls[i % 2], { secrets: [secret], id: "evt_db_two_procs", body })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const stored = await Promise.all(answers.map((a) => a.json() as Promise<{ stored: number }>));
    expect(stored.reduce((n, a) => n + a.stored, 0)).toBe(1);
    expect(rows("SELECT id FROM events WHERE id = ?", "evt_db_two_procs")).toHaveLength(1);
  } finally {
    await second.stop();
  }
});

test("a batch envelope stores each of its events", async () => {
  const res = await deliver(endpoint, { secrets: [secret], id: "bat_db_1", body: batch("bat_db_1", ["evt_db_b1", "evt_db_b2", "evt_db_b3"]) });
  expect(await res.json()).toEqual({ duplicate: false, stored: 3 });
  const stored = rows("SELECT id, webhook_id FROM events WHERE webhook_id = ? ORDER BY id", "bat_db_1");
  expect(stored.map((r) => r.id)).toEqual(["evt_db_b1", "evt_db_b2", "evt_db_b3"]);
});

test("an event that arrives again in another batch (a manual redelivery) is not stored twice", async () => {
  const res = await deliver(endpoint, { secrets: [secret], id: "bat_db_2", body: batch("bat_db_2", ["evt_db_b3", "evt_db_b4"]) });
  expect(await res.json()).toEqual({ duplicate: false, stored: 1 });
  expect(rows("SELECT id FROM events WHERE id IN ('evt_db_b3', 'evt_db_b4')")).toHaveLength(2);
});

test("a delivery that fails verification stores nothing", async () => {
  const tampered = await deliver(endpoint, { secrets: [secret], id: "evt_db_bad", body: eventPayload("evt_db_bad"), tamper: (b) => b.replace("wf_1", "wf_2") });
  const stale = await deliver(endpoint, {
    secrets: [secret],
    id: "evt_db_old",
    body: eventPayload("evt_db_old"),
    timestamp: Math.floor(Date.now() / 1000) - 600,
  });
  expect([tampered.status, stale.status]).toEqual([401, 401]);
  expect(rows("SELECT id FROM events WHERE id IN ('evt_db_bad', 'evt_db_old')")).toHaveLength(0);
  expect(rows("SELECT webhook_id FROM webhook_messages WHERE webhook_id IN ('evt_db_bad', 'evt_db_old')")).toHaveLength(0);
});

test("idempotency survives a restart of the receiver", async () => {
  await receiver.stop();
  await start();
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_db_twice", body: eventPayload("evt_db_twice") });
  expect(await res.json()).toEqual({ duplicate: true, stored: 0 });
  expect(rows("SELECT count(*) AS n FROM events")).toEqual([{ n: 8 }]);
});
