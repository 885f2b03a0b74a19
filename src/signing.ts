// Standard Webhooks signatures (HMAC `v1`, Ed25519 `v1a`), secret encryption at rest, and the small hashing and
// token helpers around them. Web Crypto only, so the same code runs in workerd, Node and the browser; this
// module reads no bindings and no clock: callers pass the message id, the timestamp and the keys.

/** A signing key as the queue holds it after decryption. */
export type SigningKey = { scheme: "hmac"; secret: string /* whsec_… */ } | { scheme: "ed25519"; privateKey: string /* whsk_… base64(seed32 ‖ pub32) */ };

type VerifyKey = SigningKey | { scheme: "ed25519-public"; publicKey: string };

const HMAC_PREFIX = "whsec_";
const PRIVATE_PREFIX = "whsk_";
const PUBLIC_PREFIX = "whpk_";
// Standard Webhooks bounds: fewer than 24 bytes is too weak, more than 64 exceeds the HMAC-SHA256 block size
// (longer keys are hashed first, so they add nothing but a compatibility risk with receivers' libraries).
const HMAC_MIN_BYTES = 24;
const HMAC_MAX_BYTES = 64;
// RFC 8410 PKCS#8 prefix for an Ed25519 private key: SEQUENCE { version 0, AlgorithmIdentifier 1.3.101.112,
// OCTET STRING { OCTET STRING (32 bytes) } }. Web Crypto imports private Ed25519 keys only as pkcs8 or jwk.
const ED25519_PKCS8_PREFIX = hexToBytes("302e020100300506032b657004220420");

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Imported CryptoKeys, keyed by the key material string, so a queue signing thousands of requests with the same
// few secrets imports each once per isolate. Promises are cached (not keys) so concurrent first uses share one
// import. Bounded, because an isolate may serve many webhooks: oldest entries go first (Map keeps insertion
// order). Every key is imported non-extractable: even code that gets hold of a CryptoKey object (a logging
// slip, a dependency walking objects) cannot export the secret from it.
const KEY_CACHE_LIMIT = 1000;
const keyCache = new Map<string, Promise<CryptoKey>>();

function cachedKey(cacheKey: string, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
  const hit = keyCache.get(cacheKey);
  if (hit) return hit;
  const pending = load();
  // A failed import (bad key material) must not stay cached as a rejected promise.
  pending.catch(() => keyCache.delete(cacheKey));
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(cacheKey, pending);
  return pending;
}

/** Creates a new HMAC secret: "whsec_" + base64 of 32 random bytes. */
export function generateHmacSecret(): string {
  return HMAC_PREFIX + bytesToBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/** True for "whsec_" + canonical base64 of 24 to 64 bytes, the secrets Standard Webhooks libraries accept. */
export function isValidHmacSecret(secret: string): boolean {
  if (!secret.startsWith(HMAC_PREFIX)) return false;
  const bytes = tryBase64ToBytes(secret.slice(HMAC_PREFIX.length));
  return bytes !== null && bytes.length >= HMAC_MIN_BYTES && bytes.length <= HMAC_MAX_BYTES;
}

/** Creates an Ed25519 key pair: the private key ("whsk_", seed ‖ public key) stays with us, "whpk_" goes to the customer. */
export async function generateEd25519Key(): Promise<{ privateKey: string; publicKey: string }> {
  // Extractable only here, and only so the seed can be stored (encrypted); signing re-imports it non-extractable.
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer);
  const pub = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  const seed = pkcs8.slice(pkcs8.length - 32);
  return {
    privateKey: PRIVATE_PREFIX + bytesToBase64(concat(seed, pub)),
    publicKey: PUBLIC_PREFIX + bytesToBase64(pub),
  };
}

/** The "whpk_" public key that belongs to a "whsk_" private key (its last 32 bytes). */
export async function publicKeyOf(privateKey: string): Promise<string> {
  return PUBLIC_PREFIX + bytesToBase64(parsePrivateKey(privateKey).pub);
}

/** One Standard Webhooks signature: "v1,<base64 HMAC-SHA256>" or "v1a,<base64 Ed25519>" of "{id}.{timestamp}.{body}". */
export async function sign(key: SigningKey, msgId: string, timestamp: number, body: string): Promise<string> {
  const content = signedContent(msgId, timestamp, body);
  if (key.scheme === "hmac") {
    const sig = await crypto.subtle.sign("HMAC", await hmacKey(key.secret), content);
    return `v1,${bytesToBase64(new Uint8Array(sig))}`;
  }
  const sig = await crypto.subtle.sign("Ed25519", await ed25519SignKey(key.privateKey), content);
  return `v1a,${bytesToBase64(new Uint8Array(sig))}`;
}

/** The webhook-signature header: every key's signature, space separated, in the order given (newest first). */
export async function signatureHeader(keys: SigningKey[], msgId: string, timestamp: number, body: string): Promise<string> {
  if (keys.length === 0) throw new Error("signatureHeader: no signing keys");
  const sigs = await Promise.all(keys.map((k) => sign(k, msgId, timestamp, body)));
  return sigs.join(" ");
}

/**
 * Verifies a webhook-signature header value (for our tests and receiver kit): true if any v1/v1a entry matches.
 * It does not judge the timestamp's age; a receiver must also reject stale timestamps to stop replays.
 */
export async function verifySignature(key: VerifyKey, header: string, msgId: string, timestamp: number, body: string): Promise<boolean> {
  const entries = header.split(" ").filter(Boolean);
  if (key.scheme === "hmac") {
    const expected = (await sign(key, msgId, timestamp, body)).slice("v1,".length);
    let ok = false;
    // Every entry is compared in constant time and none short-circuits, so timing says nothing about which
    // entry, or how much of it, was right.
    for (const entry of entries) {
      const [version, sig] = splitEntry(entry);
      if (version === "v1" && (await timingSafeEqualStrings(sig, expected))) ok = true;
    }
    return ok;
  }
  const pubKey = await ed25519VerifyKey(key.scheme === "ed25519" ? bytesToBase64(parsePrivateKey(key.privateKey).pub) : parsePublicKey(key.publicKey));
  const content = signedContent(msgId, timestamp, body);
  for (const entry of entries) {
    const [version, sig] = splitEntry(entry);
    if (version !== "v1a") continue;
    const sigBytes = tryBase64ToBytes(sig);
    // Ed25519 verification holds no secret, so an early return leaks nothing.
    if (sigBytes && sigBytes.length === 64 && (await crypto.subtle.verify("Ed25519", pubKey, sigBytes, content))) return true;
  }
  return false;
}

/** Seals a secret at rest with AES-256-GCM under ENCRYPTION_KEY (base64, 32 bytes): "v1:<b64 iv>:<b64 ciphertext>". */
export async function encryptSecret(keyB64: string, plaintext: string): Promise<string> {
  // A fresh random 96-bit IV per message: reusing an IV under the same GCM key reveals the XOR of the plaintexts
  // and lets an attacker forge tags, and random IVs keep that chance negligible (far below 2^32 messages per key).
  // It also means equal secrets do not produce equal ciphertexts, so the database shows no duplicates.
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aesKey(keyB64), encoder.encode(plaintext));
  return `v1:${bytesToBase64(iv)}:${bytesToBase64(new Uint8Array(ct))}`;
}

/** Opens a value sealed by encryptSecret; throws if the key is wrong or the value was altered (GCM tag). */
export async function decryptSecret(keyB64: string, sealed: string): Promise<string> {
  const parts = sealed.split(":");
  const iv = parts.length === 3 && parts[0] === "v1" ? tryBase64ToBytes(parts[1]) : null;
  const ct = iv ? tryBase64ToBytes(parts[2]) : null;
  if (iv?.length !== 12 || !ct || ct.length < 16) throw new Error("decryptSecret: malformed sealed value");
  const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv }, await aesKey(keyB64), ct);
  return decoder.decode(pt);
}

/** SHA-256 of the UTF-8 text as lowercase hex: API keys are stored this way, never in the clear. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time string equality, safe for tokens and signatures of any (even different) lengths. */
export async function timingSafeEqualStrings(a: string, b: string): Promise<boolean> {
  // Hashing first gives two equal-length inputs (timingSafeEqual requires that) and hides the lengths: comparing
  // raw strings would return early on a length mismatch and tell an attacker how long the secret is.
  const [da, db] = await Promise.all([crypto.subtle.digest("SHA-256", encoder.encode(a)), crypto.subtle.digest("SHA-256", encoder.encode(b))]);
  return equalDigests(da, db);
}

// Settled digests only: a promise made in one request must not be awaited in another.
const configuredDigests = new Map<string, ArrayBuffer>();

/**
 * timingSafeEqualStrings against a secret from the configuration (the platform token), whose digest is taken once
 * per isolate rather than on every request: that token is checked on every event ingested.
 */
export async function matchesConfiguredSecret(presented: string, secret: string): Promise<boolean> {
  let expected = configuredDigests.get(secret);
  if (!expected) {
    expected = await crypto.subtle.digest("SHA-256", encoder.encode(secret));
    // One value per deployment of the setting; the bound only guards a misuse.
    if (configuredDigests.size >= 8) configuredDigests.clear();
    configuredDigests.set(secret, expected);
  }
  return equalDigests(await crypto.subtle.digest("SHA-256", encoder.encode(presented)), expected);
}

function equalDigests(da: ArrayBuffer, db: ArrayBuffer): boolean {
  // workerd has a native constant-time compare; elsewhere (Node, browsers) fall back to an XOR fold that looks at
  // every byte whatever it finds.
  const subtle = crypto.subtle as SubtleCrypto & { timingSafeEqual?: (x: ArrayBuffer, y: ArrayBuffer) => boolean };
  if (typeof subtle.timingSafeEqual === "function") return subtle.timingSafeEqual(da, db);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** A random token: prefix + base64url (no padding) of n random bytes, e.g. randomToken("bxk_", 32). */
export function randomToken(prefix: string, bytes: number): string {
  const b64 = bytesToBase64(crypto.getRandomValues(new Uint8Array(bytes)));
  return prefix + b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function signedContent(msgId: string, timestamp: number, body: string): Uint8Array {
  // Integer seconds, exactly as sent in webhook-timestamp; a fractional value would sign a different string.
  if (!Number.isSafeInteger(timestamp)) throw new Error("sign: timestamp must be integer seconds");
  return encoder.encode(`${msgId}.${timestamp}.${body}`);
}

function splitEntry(entry: string): [string, string] {
  const comma = entry.indexOf(",");
  return comma < 0 ? [entry, ""] : [entry.slice(0, comma), entry.slice(comma + 1)];
}

function hmacKey(secret: string): Promise<CryptoKey> {
  return cachedKey(`hmac:${secret}`, async () => {
    if (!isValidHmacSecret(secret)) throw new Error("invalid HMAC secret (want whsec_ + base64 of 24..64 bytes)");
    const raw = base64ToBytes(secret.slice(HMAC_PREFIX.length));
    return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  });
}

function ed25519SignKey(privateKey: string): Promise<CryptoKey> {
  return cachedKey(`ed25519:${privateKey}`, () => {
    const { seed } = parsePrivateKey(privateKey);
    return crypto.subtle.importKey("pkcs8", concat(ED25519_PKCS8_PREFIX, seed), { name: "Ed25519" }, false, ["sign"]);
  });
}

function ed25519VerifyKey(publicB64: string): Promise<CryptoKey> {
  return cachedKey(`ed25519-public:${publicB64}`, () => crypto.subtle.importKey("raw", base64ToBytes(publicB64), { name: "Ed25519" }, false, ["verify"]));
}

function aesKey(keyB64: string): Promise<CryptoKey> {
  return cachedKey(`aes:${keyB64}`, async () => {
    const raw = tryBase64ToBytes(keyB64);
    // Exactly 32 bytes: a shorter key would silently select AES-128 or AES-192.
    if (raw?.length !== 32) throw new Error("ENCRYPTION_KEY must be base64 of 32 bytes");
    return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  });
}

function parsePrivateKey(privateKey: string): { seed: Uint8Array; pub: Uint8Array } {
  const bytes = privateKey.startsWith(PRIVATE_PREFIX) ? tryBase64ToBytes(privateKey.slice(PRIVATE_PREFIX.length)) : null;
  if (bytes?.length !== 64) throw new Error("invalid Ed25519 private key (want whsk_ + base64 of 64 bytes)");
  return { seed: bytes.slice(0, 32), pub: bytes.slice(32) };
}

function parsePublicKey(publicKey: string): string {
  const b64 = publicKey.startsWith(PUBLIC_PREFIX) ? publicKey.slice(PUBLIC_PREFIX.length) : "";
  const bytes = tryBase64ToBytes(b64);
  if (bytes?.length !== 32) throw new Error("invalid Ed25519 public key (want whpk_ + base64 of 32 bytes)");
  return b64;
}

function bytesToBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

function base64ToBytes(b64: string): Uint8Array {
  const bytes = tryBase64ToBytes(b64);
  if (!bytes) throw new Error("invalid base64");
  return bytes;
}

// Canonical, padded standard base64 only. atob alone would accept whitespace and missing padding, which the
// receivers' libraries (standardwebhooks decodes strictly) reject: a secret we accept must verify there too.
function tryBase64ToBytes(b64: string): Uint8Array | null {
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return null;
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}
