// Shared by the examples' tests (not by the examples themselves, which stand alone): start a receiver as a
// reader of its README would, and send it deliveries signed by the service's own signer.
import { type ChildProcess, spawn } from "node:child_process";
import { type SigningKey, signatureHeader } from "../src/signing";
import { freePort } from "../test/support/dev-server";

export { freePort };

export interface Receiver {
  url: string;
  /** Everything the process printed so far. */
  output(): string;
  /** The JSON lines it printed on stdout (the examples log each handled event as one). */
  records(): Record<string, unknown>[];
  /** Waits until `predicate` holds for the records, or fails after `timeoutMs`. */
  waitFor(predicate: (records: Record<string, unknown>[]) => boolean, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/**
 * Spawns a receiver (`node server.mjs`, `python3 receiver.py`) on a free port, in its own process group, and
 * waits until it answers HTTP. Bounded: it fails after `startTimeoutMs` with the process's output.
 */
export async function startReceiver(
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; port?: number; startTimeoutMs?: number },
): Promise<Receiver> {
  const port = opts.port ?? (await freePort());
  let out = "";
  let stdout = "";
  const child: ChildProcess = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, PORT: String(port), PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout?.on("data", (d) => {
    out += d;
    stdout += d;
  });
  child.stderr?.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      process.kill(-(child.pid as number), "SIGTERM");
    } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {}
  };

  const records = () =>
    stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} ${args.join(" ")} exited early (${child.exitCode}):\n${out}`);
    try {
      await fetch(`${url}/`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${command} ${args.join(" ")} did not answer within the start timeout:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    output: () => out,
    records,
    async waitFor(predicate, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(records())) {
        if (Date.now() > until) throw new Error(`receiver never printed what was expected; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return records();
    },
    stop,
  };
}

/** A secret as the service makes them: "whsec_" + base64 of 32 random bytes. */
export function newSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
}

/** A payload in the service's base webhook structure. */
export function eventPayload(id: string, type = "workflow.completed", data: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id,
    type,
    timestamp: new Date().toISOString(),
    account_id: "acc_example",
    data: { workflow_id: "wf_1", execution_id: "exe_1", duration_ms: 5230, outputs: {}, ...data },
  });
}

/**
 * POSTs a delivery the way the service does: the same headers, signed with `secrets` (newest first, as during a
 * rotation) by src/signing.ts. `tamper` changes the body after signing; `timestamp` defaults to now.
 */
export async function deliver(
  url: string,
  opts: { secrets: string[]; id: string; body: string; timestamp?: number; tamper?: (body: string) => string },
): Promise<Response> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const keys: SigningKey[] = opts.secrets.map((secret) => ({ scheme: "hmac", secret }));
  const signature = await signatureHeader(keys, opts.id, timestamp, opts.body);
  const type = (JSON.parse(opts.body) as { type: string }).type;
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "BroxiAI-Webhooks/0.1.0",
      "webhook-id": opts.id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signature,
      "x-broxiai-event": type,
    },
    body: opts.tamper ? opts.tamper(opts.body) : opts.body,
    signal: AbortSignal.timeout(10_000),
  });
}
