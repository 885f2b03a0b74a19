import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { signatureHeader } from "../../src/signing";
import { deliver, eventPayload, newSecret, type Receiver, startReceiver } from "../test-support";

// Debian's python3 is the one with python3-flask; a pyenv or venv python3 earlier on PATH would not have it.
const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const secret = newSecret();
let receiver: Receiver;
let endpoint: string;

beforeAll(async () => {
  receiver = await startReceiver(python, ["receiver.py"], { cwd: fileURLToPath(new URL(".", import.meta.url)), env: { WEBHOOK_SECRET: secret } });
  endpoint = `${receiver.url}/webhooks/broxiai`;
});
afterAll(async () => {
  await receiver?.stop();
});

test("a correctly signed delivery is answered 204 and handled once", async () => {
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_flask_ok", body: eventPayload("evt_flask_ok") });
  expect(res.status).toBe(204);
  await receiver.waitFor((r) => r.some((x) => x.handled === "evt_flask_ok"));
});

test("a retry with the same webhook-id is acknowledged but not handled again", async () => {
  const body = eventPayload("evt_flask_dup");
  expect((await deliver(endpoint, { secrets: [secret], id: "evt_flask_dup", body })).status).toBe(204);
  const again = await deliver(endpoint, { secrets: [secret], id: "evt_flask_dup", body, timestamp: Math.floor(Date.now() / 1000) + 5 });
  expect(again.status).toBe(200);
  await receiver.waitFor((r) => r.some((x) => x.duplicate === "evt_flask_dup"));
  expect(receiver.records().filter((x) => x.handled === "evt_flask_dup")).toHaveLength(1);
});

test("a body changed after signing is refused", async () => {
  const res = await deliver(endpoint, {
    secrets: [secret],
    id: "evt_flask_tampered",
    body: eventPayload("evt_flask_tampered"),
    tamper: (b) => b.replace("5230", "1"),
  });
  expect(res.status).toBe(401);
});

test("a changed webhook-id is refused (the id is signed too)", async () => {
  const timestamp = Math.floor(Date.now() / 1000);
  // The same signature under another id: a receiver that signed only the body would accept it.
  const body = eventPayload("evt_flask_idswap");
  const signature = await signatureHeader([{ scheme: "hmac", secret }], "evt_flask_idswap", timestamp, body);
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-id": "evt_flask_other", "webhook-timestamp": String(timestamp), "webhook-signature": signature },
    body,
  });
  expect(res.status).toBe(401);
});

test("a delivery signed with another secret is refused", async () => {
  const res = await deliver(endpoint, { secrets: [newSecret()], id: "evt_flask_wrongkey", body: eventPayload("evt_flask_wrongkey") });
  expect(res.status).toBe(401);
});

test.each([
  ["six minutes old", -6 * 60],
  ["six minutes ahead", 6 * 60],
])("a timestamp %s is refused, even with a valid signature", async (_, offset) => {
  const timestamp = Math.floor(Date.now() / 1000) + offset;
  const res = await deliver(endpoint, { secrets: [secret], id: `evt_flask_stale_${offset}`, body: eventPayload(`evt_flask_stale_${offset}`), timestamp });
  expect(res.status).toBe(401);
  expect(((await res.json()) as { error: string }).error).toMatch(/five minutes/);
});

test("a timestamp four minutes old is still accepted (clock skew within tolerance)", async () => {
  const timestamp = Math.floor(Date.now() / 1000) - 4 * 60;
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_flask_skew", body: eventPayload("evt_flask_skew"), timestamp });
  expect(res.status).toBe(204);
});

test.each([
  ["the old", (fresh: string) => [fresh, secret]],
  ["the new", (fresh: string) => [secret, fresh]],
])("during a secret rotation (two signatures) a receiver holding %s secret accepts", async (which, order) => {
  const id = `evt_flask_rotated_${which.replace(/\W/g, "")}`;
  const res = await deliver(endpoint, { secrets: order(newSecret()), id, body: eventPayload(id) });
  expect(res.status).toBe(204);
});

test("missing signature headers are refused", async () => {
  const res = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: eventPayload("evt_flask_bare") });
  expect(res.status).toBe(401);
});

test("a batch is handled event by event", async () => {
  const events = [JSON.parse(eventPayload("evt_flask_b1")), JSON.parse(eventPayload("evt_flask_b2"))];
  const body = JSON.stringify({ id: "bat_flask_1", type: "batch", timestamp: new Date().toISOString(), account_id: "acc_example", data: { events } });
  expect((await deliver(endpoint, { secrets: [secret], id: "bat_flask_1", body })).status).toBe(204);
  await receiver.waitFor((r) => ["evt_flask_b1", "evt_flask_b2"].every((id) => r.some((x) => x.handled === id)));
});

test("no processing happened for any refused delivery", () => {
  const handled = receiver.records().map((x) => x.handled);
  for (const id of ["evt_flask_tampered", "evt_flask_other", "evt_flask_wrongkey", "evt_flask_stale_-360", "evt_flask_stale_360", "evt_flask_bare"]) {
    expect(handled).not.toContain(id);
  }
});

test("the README's ten-line check agrees with the receiver on every case", async () => {
  const readme = readFileSync(fileURLToPath(new URL("README.md", import.meta.url)), "utf8");
  const snippet = readme.match(/<!-- verify-snippet -->\n```python\n([\s\S]*?)```/)?.[1];
  expect(snippet).toBeTruthy();
  const now = Math.floor(Date.now() / 1000);
  const body = eventPayload("evt_snippet");
  const sign = (secrets: string[], id: string, ts: number) =>
    signatureHeader(
      secrets.map((s) => ({ scheme: "hmac", secret: s })),
      id,
      ts,
      body,
    );
  const headers = async (secrets: string[], ts = now, id = "evt_snippet") => ({
    "webhook-id": id,
    "webhook-timestamp": String(ts),
    "webhook-signature": await sign(secrets, id, ts),
  });
  const cases: [string, Record<string, string>, string, boolean][] = [
    ["correct", await headers([secret]), body, true],
    ["rotated", await headers([newSecret(), secret]), body, true],
    ["tampered", await headers([secret]), body.replace("5230", "1"), false],
    ["wrong secret", await headers([newSecret()]), body, false],
    ["stale", await headers([secret], now - 360), body, false],
    ["future", await headers([secret], now + 360), body, false],
    ["swapped id", { ...(await headers([secret])), "webhook-id": "evt_other" }, body, false],
    ["no signature", { "webhook-id": "evt_snippet", "webhook-timestamp": String(now) }, body, false],
  ];
  const harness = `${snippet}
import json, sys
for name, headers, body in json.load(sys.stdin):
    print(json.dumps([name, verify(${JSON.stringify(secret)}, headers, body.encode())]))
`;
  const run = spawnSync(python, ["-c", harness], {
    input: JSON.stringify(cases.map(([name, h, b]) => [name, h, b])),
    encoding: "utf8",
    timeout: 20_000,
  });
  expect(run.status, run.stderr).toBe(0);
  const results = Object.fromEntries(
    run.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as [string, boolean]),
  );
  expect(results).toEqual(Object.fromEntries(cases.map(([name, , , ok]) => [name, ok])));
});
