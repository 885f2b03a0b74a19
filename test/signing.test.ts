import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { describe, expect, test } from "vitest";
import {
  decryptSecret,
  encryptSecret,
  generateEd25519Key,
  generateHmacSecret,
  isValidHmacSecret,
  matchesConfiguredSecret,
  publicKeyOf,
  randomToken,
  type SigningKey,
  sha256Hex,
  sign,
  signatureHeader,
  timingSafeEqualStrings,
  verifySignature,
} from "../src/signing";

// Published vectors: the Standard Webhooks spec's HMAC example and the Ed25519 case of Svix's server tests.
const MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const HMAC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ED_PRIVATE = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
const ED_PUBLIC = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";

const ENCRYPTION_KEY = btoa("0123456789abcdef0123456789abcdef");
const OTHER_KEY = btoa("fedcba9876543210fedcba9876543210");

const b64OfBytes = (n: number) => btoa(String.fromCharCode(...new Uint8Array(n).fill(7)));
const now = () => Math.floor(Date.now() / 1000);

describe("published vectors", () => {
  test("HMAC v1 matches the Standard Webhooks example", async () => {
    const sig = await sign({ scheme: "hmac", secret: HMAC_SECRET }, MSG_ID, TS, BODY);
    expect(sig).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  test("Ed25519 v1a matches Svix's server test, and the public key derives from the private one", async () => {
    const sig = await sign({ scheme: "ed25519", privateKey: ED_PRIVATE }, MSG_ID, TS, BODY);
    expect(sig).toBe("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==");
    expect(await publicKeyOf(ED_PRIVATE)).toBe(ED_PUBLIC);
    expect(await verifySignature({ scheme: "ed25519-public", publicKey: ED_PUBLIC }, sig, MSG_ID, TS, BODY)).toBe(true);
    expect(await verifySignature({ scheme: "ed25519", privateKey: ED_PRIVATE }, sig, MSG_ID, TS, BODY)).toBe(true);
  });
});

// The receivers' own libraries are the real judges: sign with our code, verify with theirs. Both check the
// timestamp is within 5 minutes of now, so these use the current time instead of the vector's.
describe("verified by the standardwebhooks and svix libraries", () => {
  const headersFor = (id: string, ts: number, sig: string) => ({
    "webhook-id": id,
    "webhook-timestamp": String(ts),
    "webhook-signature": sig,
  });
  const svixHeaders = (id: string, ts: number, sig: string) => ({
    "svix-id": id,
    "svix-timestamp": String(ts),
    "svix-signature": sig,
  });

  test("a single-key header verifies in both", async () => {
    const ts = now();
    const header = await signatureHeader([{ scheme: "hmac", secret: HMAC_SECRET }], MSG_ID, ts, BODY);
    expect(new StandardWebhook(HMAC_SECRET).verify(BODY, headersFor(MSG_ID, ts, header))).toEqual({ test: 2432232314 });
    expect(() => new SvixWebhook(HMAC_SECRET).verify(BODY, svixHeaders(MSG_ID, ts, header))).not.toThrow();
    // svix also reads the unbranded webhook-* names, which is what we send.
    expect(() => new SvixWebhook(HMAC_SECRET).verify(BODY, headersFor(MSG_ID, ts, header))).not.toThrow();
  });

  test("a rotation header (new key first) verifies under each key; a tampered body fails", async () => {
    const ts = now();
    const newSecret = generateHmacSecret();
    const keys: SigningKey[] = [
      { scheme: "hmac", secret: newSecret },
      { scheme: "hmac", secret: HMAC_SECRET },
    ];
    const header = await signatureHeader(keys, MSG_ID, ts, BODY);
    const parts = header.split(" ");
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(await sign(keys[0], MSG_ID, ts, BODY));
    expect(parts[1]).toBe(await sign(keys[1], MSG_ID, ts, BODY));

    for (const secret of [newSecret, HMAC_SECRET]) {
      expect(() => new StandardWebhook(secret).verify(BODY, headersFor(MSG_ID, ts, header))).not.toThrow();
      expect(() => new SvixWebhook(secret).verify(BODY, svixHeaders(MSG_ID, ts, header))).not.toThrow();
      expect(() => new SvixWebhook(secret).verify(BODY, headersFor(MSG_ID, ts, header))).not.toThrow();
      expect(await verifySignature({ scheme: "hmac", secret }, header, MSG_ID, ts, BODY)).toBe(true);

      const tampered = '{"test": 2432232315}';
      expect(() => new StandardWebhook(secret).verify(tampered, headersFor(MSG_ID, ts, header))).toThrow();
      expect(() => new SvixWebhook(secret).verify(tampered, svixHeaders(MSG_ID, ts, header))).toThrow();
      expect(await verifySignature({ scheme: "hmac", secret }, header, MSG_ID, ts, tampered)).toBe(false);
    }
    const stranger = generateHmacSecret();
    expect(() => new StandardWebhook(stranger).verify(BODY, headersFor(MSG_ID, ts, header))).toThrow();
    expect(await verifySignature({ scheme: "hmac", secret: stranger }, header, MSG_ID, ts, BODY)).toBe(false);
  });
});

describe("signing and verifying", () => {
  test("generated HMAC secrets are valid, 32 bytes, and distinct", () => {
    const a = generateHmacSecret();
    expect(isValidHmacSecret(a)).toBe(true);
    expect(atob(a.slice("whsec_".length))).toHaveLength(32);
    expect(generateHmacSecret()).not.toBe(a);
  });

  test("a generated Ed25519 key signs, its public key verifies, another key does not", async () => {
    const { privateKey, publicKey } = await generateEd25519Key();
    expect(privateKey).toMatch(/^whsk_/);
    expect(atob(privateKey.slice(5))).toHaveLength(64);
    expect(atob(publicKey.slice(5))).toHaveLength(32);
    expect(await publicKeyOf(privateKey)).toBe(publicKey);

    const header = await signatureHeader([{ scheme: "ed25519", privateKey }], "msg_1", TS, BODY);
    expect(header).toMatch(/^v1a,/);
    expect(await verifySignature({ scheme: "ed25519-public", publicKey }, header, "msg_1", TS, BODY)).toBe(true);
    expect(await verifySignature({ scheme: "ed25519-public", publicKey }, header, "msg_2", TS, BODY)).toBe(false);
    expect(await verifySignature({ scheme: "ed25519-public", publicKey }, header, "msg_1", TS + 1, BODY)).toBe(false);
    expect(await verifySignature({ scheme: "ed25519-public", publicKey: ED_PUBLIC }, header, "msg_1", TS, BODY)).toBe(false);
  });

  test("verifySignature ignores entries of the other scheme and junk", async () => {
    const hmac = await sign({ scheme: "hmac", secret: HMAC_SECRET }, MSG_ID, TS, BODY);
    const ed = await sign({ scheme: "ed25519", privateKey: ED_PRIVATE }, MSG_ID, TS, BODY);
    const mixed = `v2,abc garbage ${ed} ${hmac}`;
    expect(await verifySignature({ scheme: "hmac", secret: HMAC_SECRET }, mixed, MSG_ID, TS, BODY)).toBe(true);
    expect(await verifySignature({ scheme: "ed25519-public", publicKey: ED_PUBLIC }, mixed, MSG_ID, TS, BODY)).toBe(true);
    expect(await verifySignature({ scheme: "hmac", secret: HMAC_SECRET }, ed, MSG_ID, TS, BODY)).toBe(false);
    expect(await verifySignature({ scheme: "ed25519-public", publicKey: ED_PUBLIC }, hmac, MSG_ID, TS, BODY)).toBe(false);
    expect(await verifySignature({ scheme: "hmac", secret: HMAC_SECRET }, "", MSG_ID, TS, BODY)).toBe(false);
  });

  test("invalid key material and fractional timestamps are refused", async () => {
    await expect(sign({ scheme: "hmac", secret: "whsec_c2hvcnQ=" }, MSG_ID, TS, BODY)).rejects.toThrow();
    await expect(sign({ scheme: "ed25519", privateKey: "whsk_AAAA" }, MSG_ID, TS, BODY)).rejects.toThrow();
    await expect(sign({ scheme: "hmac", secret: HMAC_SECRET }, MSG_ID, TS + 0.5, BODY)).rejects.toThrow();
    await expect(signatureHeader([], MSG_ID, TS, BODY)).rejects.toThrow();
  });
});

describe("isValidHmacSecret", () => {
  test.each([
    ["16 bytes is too short", `whsec_${b64OfBytes(16)}`, false],
    ["24 bytes is the minimum", `whsec_${b64OfBytes(24)}`, true],
    ["32 bytes", `whsec_${b64OfBytes(32)}`, true],
    ["64 bytes is the maximum", `whsec_${b64OfBytes(64)}`, true],
    ["65 bytes is too long", `whsec_${b64OfBytes(65)}`, false],
    ["missing whsec_ prefix", b64OfBytes(32), false],
    ["wrong prefix", `whsk_${b64OfBytes(32)}`, false],
    ["characters outside base64", `whsec_${"!".repeat(44)}`, false],
    ["base64url alphabet", `whsec_${b64OfBytes(30).replace(/^./, "-")}`, false],
    ["missing padding", `whsec_${b64OfBytes(32).replace(/=+$/, "")}`, false],
    ["embedded whitespace", `whsec_${b64OfBytes(24).slice(0, 8)} ${b64OfBytes(24).slice(8)}`, false],
    ["empty after prefix", "whsec_", false],
    ["the Standard Webhooks example", HMAC_SECRET, true],
  ])("%s", (_name, secret, valid) => {
    expect(isValidHmacSecret(secret)).toBe(valid);
  });
});

describe("secret encryption at rest", () => {
  test("round trip", async () => {
    const sealed = await encryptSecret(ENCRYPTION_KEY, HMAC_SECRET);
    expect(sealed).toMatch(/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(await decryptSecret(ENCRYPTION_KEY, sealed)).toBe(HMAC_SECRET);
  });

  test("two encryptions of the same plaintext differ (fresh IV) and both open", async () => {
    const a = await encryptSecret(ENCRYPTION_KEY, ED_PRIVATE);
    const b = await encryptSecret(ENCRYPTION_KEY, ED_PRIVATE);
    expect(a).not.toBe(b);
    expect(a.split(":")[1]).not.toBe(b.split(":")[1]);
    expect(await decryptSecret(ENCRYPTION_KEY, a)).toBe(ED_PRIVATE);
    expect(await decryptSecret(ENCRYPTION_KEY, b)).toBe(ED_PRIVATE);
  });

  test("the ciphertext does not contain the plaintext", async () => {
    const sealed = await encryptSecret(ENCRYPTION_KEY, HMAC_SECRET);
    const ctBytes = atob(sealed.split(":")[2]);
    expect(sealed).not.toContain(HMAC_SECRET);
    expect(sealed).not.toContain(HMAC_SECRET.slice("whsec_".length));
    expect(ctBytes).not.toContain(HMAC_SECRET);
  });

  test("a wrong key, a tampered value or a malformed value fails", async () => {
    const sealed = await encryptSecret(ENCRYPTION_KEY, HMAC_SECRET);
    await expect(decryptSecret(OTHER_KEY, sealed)).rejects.toThrow();
    const [v, iv, ct] = sealed.split(":");
    const flipped = atob(ct);
    const tampered = btoa(String.fromCharCode(flipped.charCodeAt(0) ^ 1) + flipped.slice(1));
    await expect(decryptSecret(ENCRYPTION_KEY, `${v}:${iv}:${tampered}`)).rejects.toThrow();
    await expect(decryptSecret(ENCRYPTION_KEY, "v2:abc:def")).rejects.toThrow();
    await expect(decryptSecret(ENCRYPTION_KEY, "not sealed")).rejects.toThrow();
  });

  test("an encryption key that is not 32 bytes is refused", async () => {
    await expect(encryptSecret(btoa("0123456789abcdef"), "x")).rejects.toThrow(/32 bytes/);
    await expect(encryptSecret("not base64!", "x")).rejects.toThrow(/32 bytes/);
  });
});

describe("hashing, comparison and tokens", () => {
  test("sha256Hex", async () => {
    expect(await sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  test.each([
    ["equal", "bxk_secret", "bxk_secret", true],
    ["both empty", "", "", true],
    ["differ in the last character", "bxk_secret", "bxk_secreu", false],
    ["differ in the first character", "axk_secret", "bxk_secret", false],
    ["a prefix of the other", "bxk_secret", "bxk_secret_longer", false],
    ["one empty", "", "bxk_secret", false],
    ["differ only in case", "ABC", "abc", false],
    ["non-ASCII equal", "clé✓", "clé✓", true],
  ])("timingSafeEqualStrings: %s", async (_name, a, b, equal) => {
    expect(await timingSafeEqualStrings(a, b)).toBe(equal);
    expect(await timingSafeEqualStrings(b, a)).toBe(equal);
    // The same comparison against a configured secret, asked twice so the second uses the digest kept from the first.
    expect(await matchesConfiguredSecret(a, b)).toBe(equal);
    expect(await matchesConfiguredSecret(a, b)).toBe(equal);
  });

  test("randomToken is prefix + unpadded base64url of n bytes", () => {
    const t = randomToken("bxk_", 32);
    expect(t).toMatch(/^bxk_[A-Za-z0-9_-]{43}$/);
    expect(randomToken("bxk_", 32)).not.toBe(t);
    expect(randomToken("x_", 3)).toMatch(/^x_[A-Za-z0-9_-]{4}$/);
  });
});
