// The relay mode of `npm run listen` (README, "Develop from a laptop (relay)"): makes a relay on the service with the
// typed client (client/), holds its WebSocket, posts each delivery that comes down it to --forward-to exactly as it
// was signed, and sends back what the local receiver answered (status, headers, body, duration), which becomes the
// attempt's outcome on the service. Reconnects by itself; stops for good only when the service says the key or the
// relay is no good.
import WebSocket from "ws";
import { ApiError, createClient, unwrap } from "../client/index.js";

/** The local receiver gets this long; the service gives up at the webhook's timeout_ms (10 s by default) anyway. */
const LOCAL_TIMEOUT_MS = 60_000;
/** What of a local answer goes back: the service logs 4 KiB of it. */
const ANSWER_BODY_CHARS = 64 * 1024;
/** A ping this often; no pong within PONG_WAIT_MS means the socket is dead, and a new one is made. */
const PING_EVERY_MS = 25_000;
const PONG_WAIT_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;
/** On Ctrl+C, deliveries being forwarded get this long to answer. */
const STOP_WAIT_MS = 5_000;
/** Headers the connection owns: fetch sets its own. */
const HOP_BY_HOP = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive", "upgrade"]);

/**
 * Runs the relay until the process is stopped. `out` prints a line; `paint` colours text. Resolves never; exits the
 * process with 1 on a refusal that retrying cannot fix (a wrong key, an address outside its allowlist, no such relay).
 */
export async function runRelay({ api, key, forwardTo, relayId, events, out, paint }) {
  const client = createClient({ baseUrl: api, token: key });
  const stop = (message) => {
    out(paint.red(message));
    process.exit(1);
  };
  let relay;
  try {
    if (relayId) {
      relay = unwrap(await client.GET("/v1/relays/{relay_id}", { params: { path: { relay_id: relayId } } }));
      out(`Relay ${relay.id} (webhook ${relay.webhook_id}) reused; its signing secret was shown when it was made.`);
    } else {
      relay = unwrap(await client.POST("/v1/relays", { body: events.length ? { events } : {} }));
      out(`Relay ${relay.id} (webhook ${relay.webhook_id}) created.`);
      out(`Signing secret: ${relay.secret}`);
      out(paint.dim(`Verify deliveries with it in your receiver. Restart with --relay ${relay.id} to keep this relay and its secret.`));
    }
  } catch (err) {
    stop(err instanceof ApiError ? `The service refused: ${err.message}` : `Could not reach ${api}: ${err instanceof Error ? err.message : String(err)}`);
  }

  const url = new URL(`/v1/relays/${relay.id}/connect`, api);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let backoff = 1000;
  let forwarded = 0;
  /** Deliveries posted locally whose answer has not gone back yet: a stop waits for them (else they are sent again). */
  let inFlight = 0;
  let stopping = false;

  const connect = () => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
    let pinger = null;
    let pongTimer = null;
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        let detail = text;
        try {
          detail = JSON.parse(text).detail ?? text;
        } catch {}
        // A refusal by the key, its allowlist or the relay's owner is final; anything else may pass.
        if ([401, 403, 404].includes(res.statusCode)) stop(`The service refused the connection (${res.statusCode}): ${detail}`);
        out(paint.yellow(`Connecting answered ${res.statusCode}: ${detail}`));
        ws.terminate();
      });
    });
    ws.on("open", () => {
      backoff = 1000;
      out(paint.green(`Connected. Forwarding deliveries to ${forwardTo} — Ctrl+C stops (the relay is kept for 24 h).`));
      pinger = setInterval(() => {
        ws.send("ping");
        pongTimer ??= setTimeout(() => ws.terminate(), PONG_WAIT_MS);
      }, PING_EVERY_MS);
    });
    ws.on("message", async (data) => {
      const text = data.toString();
      if (text === "pong") {
        clearTimeout(pongTimer);
        pongTimer = null;
        return;
      }
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        return;
      }
      if (frame?.type !== "request") return;
      inFlight++;
      const answer = await forward(forwardTo, frame).finally(() => inFlight--);
      forwarded++;
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "response", id: frame.id, ...answer }));
      const h = frame.headers;
      const facts = [`id ${h["webhook-id"]}`, `sequence ${h["x-broxiai-sequence"]}`, `attempt ${h["x-broxiai-attempt"]}`].join(" · ");
      const outcome = "error" in answer ? paint.red(answer.error) : answer.status < 300 ? paint.green(String(answer.status)) : paint.red(String(answer.status));
      out(
        `${paint.dim(new Date().toISOString().slice(11, 23))} ${paint.bold(h["x-broxiai-event"] ?? "?")} ${paint.dim(facts)} → ${outcome} ${paint.dim(`(${answer.duration_ms} ms)`)}`,
      );
    });
    ws.on("close", (code, reason) => {
      clearInterval(pinger);
      clearTimeout(pongTimer);
      if (stopping) return;
      if (code === 4004) stop(`The relay is gone: ${reason || "deleted or expired"}. Run without --relay to make a new one.`);
      if (code === 4001) stop("Another `npm run listen` connected to this relay and took over.");
      if (code === 4003) stop("The API key this relay was opened with was revoked. Run again with --key and a valid key.");
      out(paint.yellow(`Disconnected${code ? ` (${code})` : ""}; reconnecting in ${backoff / 1000} s…`));
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
    ws.on("error", () => {
      // The close event follows and reconnects; the error itself (refused, reset) is said there.
    });
    current = ws;
  };
  let current = null;
  connect();

  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, async () => {
      stopping = true;
      // An answer still on its way would be lost, and the delivery sent again: give those a moment to go back.
      for (let waited = 0; inFlight > 0 && waited < STOP_WAIT_MS; waited += 50) await new Promise((r) => setTimeout(r, 50));
      out(paint.dim(`\n${forwarded} deliver${forwarded === 1 ? "y" : "ies"} forwarded. Relay ${relay.id} is kept for 24 h: --relay ${relay.id} resumes it.`));
      current?.close(1000, "listen stopped");
      setTimeout(() => process.exit(0), 100);
    });
  }
  return new Promise(() => {});
}

/** Posts one delivery to the local receiver as it was signed; answers what came back, or why nothing did. */
async function forward(forwardTo, frame) {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const headers = Object.fromEntries(Object.entries(frame.headers ?? {}).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
  try {
    const res = await fetch(forwardTo, {
      method: frame.method ?? "POST",
      headers,
      body: frame.body,
      redirect: "manual",
      signal: AbortSignal.timeout(LOCAL_TIMEOUT_MS),
    });
    const body = (await res.text()).slice(0, ANSWER_BODY_CHARS);
    return { status: res.status, headers: Object.fromEntries(res.headers), body, duration_ms: ms() };
  } catch (err) {
    const cause = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(err);
    const timedOut = err?.name === "TimeoutError";
    return {
      error: timedOut ? `local receiver timed out after ${LOCAL_TIMEOUT_MS} ms` : `local receiver unreachable: ${cause}`.slice(0, 500),
      timed_out: timedOut,
      duration_ms: ms(),
    };
  }
}
