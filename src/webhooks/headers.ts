// Custom header values are secrets: receivers put credentials there (the URL check itself tells customers to).
// Each value is sealed at rest like a signing secret (AES-GCM under ENCRYPTION_KEY), stored beside a masked
// form ("Bearer …3f9a") that is all any answer, log or page ever shows, and opened only by the queue to send.

import { decryptSecret, encryptSecret } from "../signing";
import type { SealedHeaders } from "./types";

/** How answers show a value: an auth scheme stays readable, the credential does not. */
const MASK = "…";
/** The last four characters are shown only of a credential this long or longer, so at most a quarter shows. */
const SHOW_TAIL_FROM = 16;
const SCHEMES = /^(Bearer|Basic|Token|Digest|ApiKey|Bot|Key|OAuth)\s+(\S.*)$/i;

/** A header value fetch will send as written: printable ASCII and tabs only (no NUL, line breaks, other controls or non-ASCII). */
const SENDABLE_VALUE = /^[\t\x20-\x7e]*$/;

/** Why a custom header's value cannot be stored, or null. */
export function headerValueError(value: string): string | null {
  if (value.includes(MASK)) {
    return `this is a masked value as the API shows it; leave the header out of a PATCH to keep its stored value, or send the new value`;
  }
  if (!SENDABLE_VALUE.test(value)) {
    const bad = [...value].find((ch) => !SENDABLE_VALUE.test(ch)) ?? "";
    const code = `U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
    return `header values may hold printable ASCII characters and tabs only; found ${code}${bad.charCodeAt(0) < 0x20 || bad === "\x7f" ? " (a control character)" : ""}`;
  }
  return null;
}

/** The masked form of a value: "Bearer sk_live_…" → "Bearer …3f9a"; a short value shows nothing of itself. */
export function maskValue(value: string): string {
  const scheme = SCHEMES.exec(value);
  const [prefix, secret] = scheme ? [`${scheme[1]} `, scheme[2]] : ["", value];
  return `${prefix}${MASK}${secret.length >= SHOW_TAIL_FROM ? secret.slice(-4) : ""}`;
}

/** Seals every value, keeping its masked form beside it. */
export async function sealHeaders(keyB64: string, headers: Record<string, string>): Promise<SealedHeaders> {
  const entries = await Promise.all(
    Object.entries(headers).map(async ([name, value]) => [name, { sealed: await encryptSecret(keyB64, value), masked: maskValue(value) }] as const),
  );
  return Object.fromEntries(entries);
}

/**
 * A PATCH's headers applied to the stored ones as a JSON merge patch (RFC 7396), as Svix and Stripe users expect:
 * a value sets that header, null removes it, a header not named stays as it was, and `headers: null` removes all.
 * Names compare case-insensitively (HTTP's rule); the spelling of the latest write is kept.
 */
export async function patchHeaders(keyB64: string, stored: SealedHeaders, patch: Record<string, string | null> | null | undefined): Promise<SealedHeaders> {
  if (patch === undefined) return stored;
  if (patch === null) return {};
  const next: SealedHeaders = { ...stored };
  for (const [name, value] of Object.entries(patch)) {
    for (const existing of Object.keys(next)) if (existing.toLowerCase() === name.toLowerCase()) delete next[existing];
    if (value !== null) next[name] = { sealed: await encryptSecret(keyB64, value), masked: maskValue(value) };
  }
  return next;
}

/** The names with their masked values: what every answer shows. */
export function maskedHeaders(sealed: SealedHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(sealed).map(([name, h]) => [name, h.masked]));
}

// Opened values by their sealed form (unique per value: every seal has a fresh IV), so a queue sending thousands
// of requests decrypts each header once per isolate. Bounded, oldest first.
const OPENED_LIMIT = 1000;
const opened = new Map<string, Record<string, string>>();

/** The clear values, to send (and only to send). */
export async function openHeaders(keyB64: string, sealed: SealedHeaders): Promise<Record<string, string>> {
  const names = Object.keys(sealed);
  if (names.length === 0) return {};
  const cacheKey = names.map((n) => sealed[n].sealed).join(" ");
  const hit = opened.get(cacheKey);
  if (hit) return hit;
  const values = await Promise.all(names.map((n) => decryptSecret(keyB64, sealed[n].sealed)));
  const clear = Object.fromEntries(names.map((n, i) => [n, values[i]]));
  if (opened.size >= OPENED_LIMIT) opened.delete(opened.keys().next().value!);
  opened.set(cacheKey, clear);
  return clear;
}

/** A request's headers as the attempt log keeps them: the custom headers (by name, any case) masked, ours as sent. */
export function maskHeaders(headers: Record<string, string>, names: string[]): Record<string, string> {
  if (names.length === 0) return headers;
  const secret = new Set(names.map((n) => n.toLowerCase()));
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, secret.has(name.toLowerCase()) ? maskValue(value) : value]));
}
