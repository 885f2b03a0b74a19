import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterEach, expect, test } from "vitest";

// `npm run listen` as a developer runs it: a real process on a free port, fed real HTTP requests signed by an
// independent implementation (the standardwebhooks library for v1, node:crypto for v1a).

const SECRET = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;
const running: ChildProcess[] = [];

afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGTERM");
});

async function listen(...args: string[]): Promise<{ url: string; output: () => string }> {
  const child = spawn(process.execPath, ["scripts/listen.mjs", "--port", "0", "--no-color", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const m = /Listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
    if (m) return { url: m[1], output: () => out };
    if (child.exitCode !== null) throw new Error(`listen exited: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`listen did not start: ${out}`);
}

const payload = (id: string) =>
  JSON.stringify({
    id,
    type: "workflow.completed",
    timestamp: "2026-11-27T09:00:00.000Z",
    account_id: "acc_1",
    data: { workflow_id: "wf_1", execution_id: "exe_1", duration_ms: 5230 },
  });

function deliveryHeaders(id: string, ts: number, signature: string) {
  return {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(ts),
    "webhook-signature": signature,
    "x-broxiai-event": "workflow.completed",
    "x-broxiai-sequence": "7",
    "x-broxiai-attempt": "2",
  };
}

function hmacSigned(id: string, body: string, at = new Date()) {
  const ts = Math.floor(at.getTime() / 1000);
  return deliveryHeaders(id, ts, new Webhook(SECRET).sign(id, new Date(ts * 1000), body));
}

/** Waits for the listener to have printed `text` (it logs after answering). */
async function printed(l: { output: () => string }, text: string) {
  for (let i = 0; i < 100 && !l.output().includes(text); i++) await new Promise((r) => setTimeout(r, 20));
  return l.output();
}

test("a correctly signed delivery is verified, printed and answered 200; a tampered one is refused", async () => {
  const l = await listen("--secret", SECRET);
  const body = payload("evt_good");
  const ok = await fetch(l.url, { method: "POST", headers: hmacSigned("evt_good", body), body });
  expect(ok.status).toBe(200);
  const out = await printed(l, "evt_good");
  expect(out).toMatch(/✓ verified workflow\.completed/);
  expect(out).toContain("id evt_good · sequence 7 · attempt 2");
  expect(out).toContain('"execution_id": "exe_1"');

  const tampered = await fetch(l.url, { method: "POST", headers: hmacSigned("evt_bad", payload("evt_bad")), body: payload("evt_bad").replace("5230", "1") });
  expect(tampered.status).toBe(401);
  expect(await printed(l, "rejected")).toMatch(/✗ rejected workflow\.completed[^\n]*\n {2}no signature matches/);
});

test("a stale timestamp is refused even with a valid signature, and --status chooses the answer", async () => {
  const l = await listen("--secret", SECRET, "--status", "500");
  const body = payload("evt_old");
  const old = await fetch(l.url, { method: "POST", headers: hmacSigned("evt_old", body, new Date(Date.now() - 10 * 60_000)), body });
  expect(old.status).toBe(401);
  expect(await printed(l, "old")).toContain("more than 5 minutes");

  const fresh = await fetch(l.url, { method: "POST", headers: hmacSigned("evt_new", payload("evt_new")), body: payload("evt_new") });
  expect(fresh.status).toBe(500);
  expect(await printed(l, "evt_new")).toContain("→ 500");
});

test("Ed25519 (v1a) deliveries verify with only the public key", async () => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  const l = await listen("--public-key", `whpk_${raw.toString("base64")}`);
  const body = payload("evt_ed");
  const ts = Math.floor(Date.now() / 1000);
  const sig = sign(null, Buffer.from(`evt_ed.${ts}.${body}`), privateKey).toString("base64");
  // A rotation sends several signatures; an unknown one beside the right one must not matter.
  const headers = deliveryHeaders("evt_ed", ts, `v1a,${Buffer.alloc(64, 1).toString("base64")} v1a,${sig}`);
  expect((await fetch(l.url, { method: "POST", headers, body })).status).toBe(200);
  expect((await fetch(l.url, { method: "POST", headers: { ...headers, "webhook-timestamp": String(ts - 1) }, body })).status).toBe(401);
  expect(await printed(l, "rejected")).toContain("✓ verified workflow.completed");
});

test("relay mode refuses an incomplete or malformed command line before it calls the service, saying what is missing", async () => {
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ["scripts/listen.mjs", "--no-color", ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, BROXIAI_API_URL: "", BROXIAI_API_KEY: "" },
      });
      let out = "";
      child.stdout?.on("data", (d) => (out += d));
      child.stderr?.on("data", (d) => (out += d));
      child.on("exit", (code) => resolve({ code, out }));
    });
  expect(await run("--forward-to", "http://localhost:3000/hooks")).toMatchObject({
    code: 2,
    out: expect.stringContaining("needs --forward-to, --api and --key"),
  });
  expect(await run("--forward-to", "localhost:3000", "--api", "http://127.0.0.1:1", "--key", "bxk_x")).toMatchObject({
    code: 2,
    out: expect.stringContaining("--forward-to must be an http(s) URL"),
  });
  expect(await run("--forward-to", "http://localhost:3000", "--api", "http://127.0.0.1:1", "--key", "whsec_x")).toMatchObject({
    code: 2,
    out: expect.stringContaining("--key must be"),
  });
  expect(await run("--forward-to", "http://localhost:3000", "--api", "http://127.0.0.1:1", "--key", "bxk_x", "--relay", "wh_1")).toMatchObject({
    code: 2,
    out: expect.stringContaining("--relay must be a relay id"),
  });
  // A service that cannot be reached is said plainly, and the CLI stops.
  expect(await run("--forward-to", "http://localhost:3000", "--api", "http://127.0.0.1:1", "--key", "bxk_x")).toMatchObject({
    code: 1,
    out: expect.stringContaining("Could not reach http://127.0.0.1:1"),
  });
});
