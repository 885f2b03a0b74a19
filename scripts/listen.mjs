#!/usr/bin/env node
// `npm run listen`: a local webhook receiver for developers. It verifies each delivery's Standard Webhooks
// signature (v1 HMAC with --secret, v1a Ed25519 with --public-key), refuses timestamps more than 5 minutes off,
// pretty-prints what arrived, and answers 200 — or the status you choose, to watch retries happen.
//
//   npm run listen -- --port 4000 --secret whsec_…            then point a webhook at http://127.0.0.1:4000/
//   npm run listen -- --port 4000 --public-key whpk_…         for a webhook signed with Ed25519
//   npm run listen -- --port 4000 --secret whsec_… --status 500
//
//   npm run listen -- --forward-to http://localhost:3000/hooks --api https://webhooks.example.com --key bxk_…
//                                                             relay mode: deliveries of the deployed service, no tunnel
//
// Plain node:crypto, no dependency, so the same checks can be copied into any receiver. The relay mode (relay.mjs)
// uses the typed client (client/) and the ws package.
import { createHmac, createPublicKey, timingSafeEqual, verify } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const USAGE = `Usage: npm run listen -- [--port 4000] [--host 127.0.0.1] [--secret whsec_…]… [--public-key whpk_…]… [--status 200]
       npm run listen -- --forward-to http://localhost:3000/hooks --api <service URL> --key bxk_… [--relay rly_…] [--events workflow.*]…

  --port        port to listen on (default 4000; 0 picks a free one)
  --host        address to listen on (default 127.0.0.1: only this machine)
  --secret      the webhook's signing secret, to verify v1 (HMAC-SHA256) signatures; repeat during a rotation
  --public-key  the webhook's public key, to verify v1a (Ed25519) signatures; repeat during a rotation
  --status      the HTTP status to answer verified deliveries with (default 200), e.g. 500 to see retries
  --no-color    plain output (also when NO_COLOR is set or the output is not a terminal)

Relay mode (develop against the deployed service from this machine, no tunnel):
  --forward-to  your local receiver's URL: each delivery is posted there as signed, and its answer is the attempt's
  --api         the service's URL (or BROXIAI_API_URL)
  --key         the account's API key, bxk_… (or BROXIAI_API_KEY); its IP allowlist applies
  --relay       reuse this relay (rly_…) after a restart, instead of making a new one with a new secret
  --events      event types the relay's webhook subscribes to (default every one); repeat for more`;

/** Standard Webhooks' replay window: a signature is only as good as its timestamp is fresh. */
const TOLERANCE_S = 5 * 60;
const MAX_BODY_BYTES = 1024 * 1024;

function fail(message) {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: "string", default: "4000" },
      host: { type: "string", default: "127.0.0.1" },
      secret: { type: "string", multiple: true, default: [] },
      "public-key": { type: "string", multiple: true, default: [] },
      status: { type: "string", default: "200" },
      "no-color": { type: "boolean", default: false },
      "forward-to": { type: "string" },
      api: { type: "string" },
      key: { type: "string" },
      relay: { type: "string" },
      events: { type: "string", multiple: true, default: [] },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (err) {
  fail(err.message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number, not "${args.port}"`);
const status = Number(args.status);
if (!Number.isInteger(status) || status < 200 || status > 599) fail(`--status must be an HTTP status from 200 to 599, not "${args.status}"`);

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const hmacKeys = args.secret.map((s) => {
  const b64 = s.startsWith("whsec_") ? s.slice(6) : s;
  const bytes = B64.test(b64) ? Buffer.from(b64, "base64") : Buffer.alloc(0);
  if (bytes.length < 24) fail(`--secret must be whsec_ followed by base64 of at least 24 bytes`);
  return bytes;
});
const edKeys = args["public-key"].map((k) => {
  const raw = k.startsWith("whpk_") && B64.test(k.slice(5)) ? Buffer.from(k.slice(5), "base64") : Buffer.alloc(0);
  if (raw.length !== 32) fail(`--public-key must be whpk_ followed by base64 of 32 bytes`);
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
});

const color = !args["no-color"] && !process.env.NO_COLOR && process.stdout.isTTY;
const paint = (code) => (text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = paint("1");
const dim = paint("2");
const green = paint("32");
const red = paint("31");
const yellow = paint("33");

if (args["forward-to"] !== undefined || args.api !== undefined || args.relay !== undefined) {
  const api = args.api ?? process.env.BROXIAI_API_URL;
  const key = args.key ?? process.env.BROXIAI_API_KEY;
  if (!args["forward-to"] || !api || !key) fail("relay mode needs --forward-to, --api and --key (or BROXIAI_API_URL and BROXIAI_API_KEY)");
  for (const [name, value] of [
    ["--forward-to", args["forward-to"]],
    ["--api", api],
  ]) {
    if (!/^https?:\/\/[^/]/.test(value) || !URL.canParse(value)) fail(`${name} must be an http(s) URL, not "${value}"`);
  }
  if (!key.startsWith("bxk_")) fail("--key must be the account's API key (bxk_…)");
  if (args.relay !== undefined && !/^rly_[0-9A-Z]{26}$/.test(args.relay)) fail(`--relay must be a relay id (rly_…), not "${args.relay}"`);
  const { runRelay } = await import("./relay.mjs");
  await runRelay({
    api,
    key,
    forwardTo: args["forward-to"],
    relayId: args.relay,
    events: args.events,
    out: (line) => console.log(line),
    paint: { bold, dim, green, red, yellow },
  });
}

/**
 * Checks a delivery's headers and raw body. Returns null when it is authentic and fresh, otherwise why not.
 * Every signature in the header is tried (a rotation sends several); HMAC comparisons are constant-time.
 */
function check(headers, body) {
  if (hmacKeys.length === 0 && edKeys.length === 0) return null;
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  const sigs = headers["webhook-signature"];
  if (!id || !ts || !sigs) return "missing webhook-id, webhook-timestamp or webhook-signature";
  if (!/^\d+$/.test(ts)) return `webhook-timestamp "${ts}" is not integer seconds`;
  const skew = Math.floor(Date.now() / 1000) - Number(ts);
  if (Math.abs(skew) > TOLERANCE_S) return `webhook-timestamp is ${Math.abs(skew)} s ${skew > 0 ? "old" : "in the future"} (more than 5 minutes)`;
  const signed = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
  for (const entry of sigs.split(" ")) {
    const comma = entry.indexOf(",");
    const version = entry.slice(0, comma);
    const sig = Buffer.from(entry.slice(comma + 1), "base64");
    if (version === "v1") {
      for (const key of hmacKeys) {
        const expected = createHmac("sha256", key).update(signed).digest();
        if (sig.length === expected.length && timingSafeEqual(sig, expected)) return null;
      }
    } else if (version === "v1a" && sig.length === 64) {
      for (const key of edKeys) if (verify(null, signed, key, sig)) return null;
    }
  }
  return "no signature matches the given secret or public key (wrong key, or the body or headers were altered)";
}

function describe(req, body) {
  const h = req.headers;
  let payload;
  try {
    payload = JSON.parse(body.toString("utf8"));
  } catch {
    payload = null;
  }
  const type = payload?.type ?? h["x-broxiai-event"] ?? "(unknown type)";
  const facts = [
    `id ${h["webhook-id"] ?? "?"}`,
    `sequence ${h["x-broxiai-sequence"] ?? "?"}`,
    `attempt ${h["x-broxiai-attempt"] ?? "?"}`,
    h["x-broxiai-delivery"] ? `delivery ${h["x-broxiai-delivery"]}` : null,
    type === "batch" && Array.isArray(payload?.data?.events) ? `${payload.data.events.length} events` : null,
  ].filter(Boolean);
  const pretty = payload === null ? body.toString("utf8") : JSON.stringify(payload, null, 2);
  return { type, facts, pretty };
}

let count = 0;
const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on("end", () => {
    count++;
    const at = new Date().toISOString().slice(11, 23);
    if (size > MAX_BODY_BYTES) {
      console.log(`${dim(at)} ${red("✗ 413")} ${req.method} ${req.url}: body over ${MAX_BODY_BYTES} bytes`);
      res.writeHead(413).end("body too large\n");
      return;
    }
    const body = Buffer.concat(chunks);
    const problem = check(req.headers, body);
    const { type, facts, pretty } = describe(req, body);
    if (problem) {
      console.log(`${dim(at)} ${red("✗ rejected")} ${bold(type)} ${dim(facts.join(" · "))}\n  ${red(problem)}\n`);
      res.writeHead(401, { "content-type": "text/plain" }).end(`invalid signature: ${problem}\n`);
      return;
    }
    const verified = hmacKeys.length || edKeys.length ? green("✓ verified") : yellow("• unverified");
    const answer = status >= 200 && status < 300 ? green(String(status)) : red(String(status));
    console.log(`${dim(at)} ${verified} ${bold(type)} ${dim(facts.join(" · "))} → ${answer}\n${pretty}\n`);
    const reply = status >= 200 && status < 300 ? "ok\n" : `listen: answering ${status} as asked (--status)\n`;
    res.writeHead(status, { "content-type": "text/plain" }).end(status === 204 || status === 205 ? undefined : reply);
  });
});

server.on("error", (err) => {
  console.error(err.code === "EADDRINUSE" ? `Port ${port} on ${args.host} is in use; choose another with --port.` : err.message);
  process.exit(1);
});

server.listen(port, args.host, () => {
  const { port: actual } = server.address();
  const how = [
    hmacKeys.length ? `${hmacKeys.length} HMAC secret${hmacKeys.length > 1 ? "s" : ""}` : "",
    edKeys.length ? `${edKeys.length} Ed25519 public key${edKeys.length > 1 ? "s" : ""}` : "",
  ]
    .filter(Boolean)
    .join(" and ");
  console.log(`Listening on http://${args.host}:${actual}/ — verifying with ${how || "nothing (give --secret or --public-key)"}; answering ${status}.`);
  console.log(dim("Point a webhook at this URL (ALLOW_PRIVATE_DESTINATIONS=true locally) and send a test event. Ctrl+C stops.\n"));
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.log(dim(`\n${count} request${count === 1 ? "" : "s"} received. Bye.`));
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
