// Receiver code the dashboard shows next to a new secret or public key. Each sample verifies the signature over
// the raw body and rejects a webhook-timestamp more than 5 minutes away, because a valid signature alone does not
// stop a captured request from being replayed later.

/** A verification sample: its language and the code. */
export interface Snippet {
  language: string;
  code: string;
}

/** HMAC (`v1`): the Standard Webhooks libraries do everything; the secret comes from the environment, never the source. */
export function hmacSnippets(): Snippet[] {
  return [
    {
      language: "Node.js (standardwebhooks)",
      code: `// npm install standardwebhooks
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

// The signing secret (whsec_…), from your secret store: never commit it.
const wh = new Webhook(process.env.BROXIAI_WEBHOOK_SECRET);

createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    // Verify the raw body exactly as sent, before any JSON parsing.
    const body = Buffer.concat(chunks).toString("utf8");
    try {
      // Throws unless a v1 signature matches and webhook-timestamp is within 5 minutes.
      const event = wh.verify(body, req.headers);
      console.log(event.type, event.id, event.data);
      res.writeHead(204).end();
    } catch {
      res.writeHead(401).end("invalid signature");
    }
  });
}).listen(4000);`,
    },
    {
      language: "Python (standardwebhooks, Flask)",
      code: `# pip install standardwebhooks flask
import os
from flask import Flask, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

wh = Webhook(os.environ["BROXIAI_WEBHOOK_SECRET"])  # whsec_…, from your secret store
app = Flask(__name__)

@app.post("/webhooks/broxiai")
def broxiai():
    try:
        # The raw body exactly as sent; raises unless a v1 signature matches
        # and webhook-timestamp is within 5 minutes.
        event = wh.verify(request.get_data(), dict(request.headers))
    except WebhookVerificationError:
        return "invalid signature", 401
    print(event["type"], event["id"], event["data"])
    return "", 204`,
    },
  ];
}

/** Ed25519 (`v1a`): plain standard-library (Node) or `cryptography` (Python) calls; the public key may sit in the source. */
export function ed25519Snippets(publicKey: string): Snippet[] {
  return [
    {
      language: "Node.js (node:crypto, no dependency)",
      code: `import { createPublicKey, verify } from "node:crypto";

// The webhook's public key. It can only verify, never sign, so it need not be kept secret.
const PUBLIC_KEY = "${publicKey}";
const key = createPublicKey({
  key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(PUBLIC_KEY.slice(5), "base64").toString("base64url") },
  format: "jwk",
});

/** body: the raw request body (string); headers: Node's req.headers. */
export function verifyDelivery(body, headers) {
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  // Refuse stale or future timestamps: a captured request must not be replayable later.
  if (!id || !/^\\d+$/.test(ts ?? "") || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const signed = Buffer.from(\`\${id}.\${ts}.\${body}\`);
  return (headers["webhook-signature"] ?? "")
    .split(" ")
    .some((s) => s.startsWith("v1a,") && verify(null, signed, key, Buffer.from(s.slice(4), "base64")));
}`,
    },
    {
      language: "Python (cryptography)",
      code: `# pip install cryptography
import base64, time
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# The webhook's public key. It can only verify, never sign, so it need not be kept secret.
PUBLIC_KEY = "${publicKey}"
key = Ed25519PublicKey.from_public_bytes(base64.b64decode(PUBLIC_KEY.removeprefix("whpk_")))

def verify_delivery(body: bytes, headers) -> bool:
    """body: the raw request body; headers: e.g. Flask's request.headers."""
    msg_id, ts = headers.get("webhook-id"), headers.get("webhook-timestamp", "")
    # Refuse stale or future timestamps: a captured request must not be replayable later.
    if not msg_id or not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False
    signed = f"{msg_id}.{ts}.".encode() + body
    for entry in headers.get("webhook-signature", "").split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1a":
            try:
                key.verify(base64.b64decode(sig), signed)
                return True
            except (InvalidSignature, ValueError):
                pass
    return False`,
    },
  ];
}
