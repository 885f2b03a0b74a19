import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import type { CookieOptions } from "hono/utils/cookie";
import { config, type Env } from "../config";
import { decryptSecret, encryptSecret, timingSafeEqualStrings } from "../signing";

// The dashboard's session is the account API key itself, so nothing new is stored server-side and revoking the
// key ends every session at once (each page calls the API with it). The cookie that carries it is:
// - HttpOnly: page scripts cannot read it; Secure: HTTPS only (browsers treat http://localhost and 127.0.0.1 as
//   secure, so local work is unaffected); SameSite=Strict: never sent on a request another site starts;
// - __Host- prefixed: pinned to this origin and path "/", so a sibling subdomain cannot plant or shadow it;
// - encrypted (AES-GCM), so the browser's cookie store never holds a key that works against the API, and a copied
//   cookie is only a dashboard session that ends at the expiry sealed inside it;
// - signed (hono's signed cookie, HMAC), so a tampered cookie is refused before anything is decrypted.

const COOKIE = "bx_session";
const SESSION_SECONDS = 12 * 3600;
const COOKIE_OPTIONS: CookieOptions = { prefix: "host", path: "/", secure: true, httpOnly: true, sameSite: "Strict" };

type Ctx = Context<{ Bindings: Env }>;

/** A signed-in person: the account key every page calls the API with, and the CSRF token its forms carry. */
export interface Session {
  key: string;
  csrf: string;
}

const derived = new Map<string, Promise<Uint8Array>>();

/**
 * A key for one purpose ("sign", "seal"), derived from ENCRYPTION_KEY by HMAC with a fixed label. Using
 * ENCRYPTION_KEY's bytes directly would make one key serve the webhook secrets' AES-GCM and these cookies at once;
 * derived keys keep every use independent and need no new secret to configure.
 */
function derivedKey(env: Env, purpose: "sign" | "seal"): Promise<Uint8Array> {
  const secret = config(env).ENCRYPTION_KEY;
  const cacheKey = `${purpose}\n${secret}`;
  let key = derived.get(cacheKey);
  if (!key) {
    key = (async () => {
      const raw = Uint8Array.from(atob(secret), (ch) => ch.charCodeAt(0));
      const hmac = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(`broxiai-dashboard-session-${purpose}-v1`)));
    })();
    derived.set(cacheKey, key);
  }
  return key;
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** The CSRF token for a session: an HMAC of the cookie's value, so it is worthless without that very cookie. */
async function csrfToken(key: Uint8Array, cookieValue: string): Promise<string> {
  const hmac = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(`csrf\0${cookieValue}`)));
  return b64(mac).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The session in the request's cookie, or null when there is none, it was altered or it has expired. */
export async function readSession(c: Ctx): Promise<Session | null> {
  const signKey = await derivedKey(c.env, "sign");
  const sealed = await getSignedCookie(c, signKey, COOKIE, "host");
  if (!sealed) return null;
  let value: string;
  try {
    value = await decryptSecret(b64(await derivedKey(c.env, "seal")), sealed);
  } catch {
    // Sealed under another ENCRYPTION_KEY (after a key change): as good as no session.
    return null;
  }
  const dot = value.indexOf(".");
  const expires = Number(value.slice(0, dot));
  // The expiry is sealed inside: Max-Age only asks the browser to forget, this makes the server refuse.
  if (dot < 0 || !Number.isFinite(expires) || expires * 1000 < Date.now()) return null;
  return { key: value.slice(dot + 1), csrf: await csrfToken(signKey, sealed) };
}

/** Signs a person in with an API key the API has just accepted. */
export async function startSession(c: Ctx, apiKey: string): Promise<void> {
  const expires = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
  const sealed = await encryptSecret(b64(await derivedKey(c.env, "seal")), `${expires}.${apiKey}`);
  await setSignedCookie(c, COOKIE, sealed, await derivedKey(c.env, "sign"), { ...COOKIE_OPTIONS, maxAge: SESSION_SECONDS });
}

/** Signs the person out: the browser drops the cookie. */
export function endSession(c: Ctx): void {
  deleteCookie(c, COOKIE, COOKIE_OPTIONS);
}

/** Whether a form post carries this session's CSRF token. */
export async function hasCsrfToken(session: Session, sent: unknown): Promise<boolean> {
  return typeof sent === "string" && (await timingSafeEqualStrings(sent, session.csrf));
}

const originCheck = csrf();

/**
 * Whether a form post comes from one of our own pages (Sec-Fetch-Site or Origin, via hono/csrf). It stands
 * beside SameSite=Strict and the per-session token, so a gap in any one of them (an old browser, a same-site
 * subdomain) still leaves the others; it also guards sign-in and sign-out, which have no session token.
 */
export async function fromOurOrigin(c: Ctx): Promise<boolean> {
  try {
    await originCheck(c, async () => {});
    return true;
  } catch {
    return false;
  }
}
