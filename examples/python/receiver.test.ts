import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { signatureHeader } from "../../src/signing";
import { deliver, eventPayload, newSecret, type Receiver, startReceiver } from "../test-support";

// The receiver needs nothing but the standard library, so whichever python3 comes first on PATH runs it.
const python = "python3";
const cwd = fileURLToPath(new URL(".", import.meta.url));
const secret = newSecret();
let receiver: Receiver;
let endpoint: string;

beforeAll(async () => {
  receiver = await startReceiver(python, ["receiver.py"], { cwd, env: { WEBHOOK_SECRET: secret } });
  endpoint = `${receiver.url}/webhooks/broxiai`;
});
afterAll(async () => {
  await receiver?.stop();
});

test("a correctly signed delivery is answered 204 and handled once", async () => {
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_py_ok", body: eventPayload("evt_py_ok") });
  expect(res.status).toBe(204);
  await receiver.waitFor((r) => r.some((x) => x.handled === "evt_py_ok"));
});

test("a retry with the same webhook-id is acknowledged but not handled again", async () => {
  const body = eventPayload("evt_py_dup");
  expect((await deliver(endpoint, { secrets: [secret], id: "evt_py_dup", body })).status).toBe(204);
  const again = await deliver(endpoint, { secrets: [secret], id: "evt_py_dup", body, timestamp: Math.floor(Date.now() / 1000) + 5 });
  expect(again.status).toBe(200);
  await receiver.waitFor((r) => r.some((x) => x.duplicate === "evt_py_dup"));
  expect(receiver.records().filter((x) => x.handled === "evt_py_dup")).toHaveLength(1);
});

test("a body changed after signing is refused", async () => {
  const res = await deliver(endpoint, {
    secrets: [secret],
    id: "evt_py_tampered",
    body: eventPayload("evt_py_tampered"),
    tamper: (b) => b.replace("5230", "1"),
  });
  expect(res.status).toBe(401);
});

test("a changed webhook-id is refused (the id is signed too)", async () => {
  const timestamp = Math.floor(Date.now() / 1000);
  // The same signature under another id: a receiver that signed only the body would accept it.
  const body = eventPayload("evt_py_idswap");
  const signature = await signatureHeader([{ scheme: "hmac", secret }], "evt_py_idswap", timestamp, body);
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-id": "evt_py_other", "webhook-timestamp": String(timestamp), "webhook-signature": signature },
    body,
  });
  expect(res.status).toBe(401);
});

test("a delivery signed with another secret is refused", async () => {
  const res = await deliver(endpoint, { secrets: [newSecret()], id: "evt_py_wrongkey", body: eventPayload("evt_py_wrongkey") });
  expect(res.status).toBe(401);
});

test.each([
  ["six minutes old", -6 * 60],
  ["six minutes ahead", 6 * 60],
])("a timestamp %s is refused, even with a valid signature", async (_, offset) => {
  const timestamp = Math.floor(Date.now() / 1000) + offset;
  const res = await deliver(endpoint, { secrets: [secret], id: `evt_py_stale_${offset}`, body: eventPayload(`evt_py_stale_${offset}`), timestamp });
  expect(res.status).toBe(401);
  expect(((await res.json()) as { error: string }).error).toMatch(/five minutes/);
});

test("a timestamp four minutes old is still accepted (clock skew within tolerance)", async () => {
  const timestamp = Math.floor(Date.now() / 1000) - 4 * 60;
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_py_skew", body: eventPayload("evt_py_skew"), timestamp });
  expect(res.status).toBe(204);
});

test.each([
  ["the old", (fresh: string) => [fresh, secret]],
  ["the new", (fresh: string) => [secret, fresh]],
])("during a secret rotation (two signatures) a receiver holding %s secret accepts", async (which, order) => {
  const id = `evt_py_rotated_${which.replace(/\W/g, "")}`;
  const res = await deliver(endpoint, { secrets: order(newSecret()), id, body: eventPayload(id) });
  expect(res.status).toBe(204);
});

test("missing signature headers are refused", async () => {
  const res = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: eventPayload("evt_py_bare") });
  expect(res.status).toBe(401);
});

test("a batch is handled event by event", async () => {
  const events = [JSON.parse(eventPayload("evt_py_b1")), JSON.parse(eventPayload("evt_py_b2"))];
  const body = JSON.stringify({ id: "bat_py_1", type: "batch", timestamp: new Date().toISOString(), account_id: "acc_example", data: { events } });
  expect((await deliver(endpoint, { secrets: [secret], id: "bat_py_1", body })).status).toBe(204);
  await receiver.waitFor((r) => ["evt_py_b1", "evt_py_b2"].every((id) => r.some((x) => x.handled === id)));
});

test("a body over 1 MiB is refused before it is read", async () => {
  const body = eventPayload("evt_py_huge", "workflow.completed", { outputs: { text: "x".repeat(1024 * 1024) } });
  const res = await deliver(endpoint, { secrets: [secret], id: "evt_py_huge", body });
  expect(res.status).toBe(413);
});

test("a request that is not a POST to /webhooks/broxiai gets 404", async () => {
  expect((await fetch(endpoint)).status).toBe(404);
  expect((await fetch(`${receiver.url}/hooks`, { method: "POST", body: "{}" })).status).toBe(404);
});

test("no processing happened for any refused delivery", () => {
  const handled = receiver.records().map((x) => x.handled);
  for (const id of ["evt_py_tampered", "evt_py_other", "evt_py_wrongkey", "evt_py_stale_-360", "evt_py_stale_360", "evt_py_bare", "evt_py_huge"]) {
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

test("started with something that is not a whsec_ secret, it exits at once saying so", () => {
  const run = spawnSync(python, ["receiver.py"], {
    cwd,
    env: { ...process.env, WEBHOOK_SECRET: "not-a-secret", PORT: "1" },
    encoding: "utf8",
    timeout: 20_000,
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/WEBHOOK_SECRET must start with whsec_/);
});

test("create_app is a conforming WSGI application, so any WSGI server can serve it", async () => {
  // wsgiref.validate checks every call between server and app against PEP 3333 and raises on a violation.
  const body = eventPayload("evt_py_wsgi");
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await signatureHeader([{ scheme: "hmac", secret }], "evt_py_wsgi", timestamp, body);
  const harness = `
import io, json, sys
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator
from receiver import create_app

# The app's own lines (handled, duplicate) come from its worker thread: keep them out of the answer.
answer, sys.stdout = sys.stdout, io.StringIO()
app = validator(create_app(${JSON.stringify(secret)}))
statuses = []
for method, path, headers, body in json.load(sys.stdin):
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body.encode()))}
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    environ["wsgi.input"] = io.BytesIO(body.encode())
    setup_testing_defaults(environ)
    result = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(result)
    result.close()
print(json.dumps(statuses), file=answer)
`;
  const signed = { "webhook-id": "evt_py_wsgi", "webhook-timestamp": String(timestamp), "webhook-signature": signature };
  const run = spawnSync(python, ["-c", harness], {
    cwd,
    input: JSON.stringify([
      ["POST", "/webhooks/broxiai", signed, body],
      ["POST", "/webhooks/broxiai", signed, body],
      ["POST", "/webhooks/broxiai", signed, body.replace("5230", "1")],
      ["GET", "/", {}, ""],
    ]),
    encoding: "utf8",
    timeout: 20_000,
  });
  expect(run.status, run.stderr).toBe(0);
  expect(JSON.parse(run.stdout)).toEqual(["204 No Content", "200 OK", "401 Unauthorized", "404 Not Found"]);
});
