import type { Context, MiddlewareHandler } from "hono";
import { getConnInfo } from "hono/cloudflare-workers";
import { HTTPException } from "hono/http-exception";
import { ipRestriction } from "hono/ip-restriction";
import { config } from "../config";
import { matchesConfiguredSecret, sha256Hex } from "../signing";
import type { AppEnv, Principal } from "./app-env";
import { ProblemError } from "./problem";

/** A compiled allowlist: resolves when the connecting address is on it, throws a 403 problem when it is not. */
type Gate = (c: Context) => Promise<void>;

const ALLOWLIST_CACHE_LIMIT = 1000;
const allowlists = new Map<string, Gate>();

/**
 * The edge allowlist for one set of rules, built once per distinct list (Hono parses its rules when the
 * middleware is made; the cache is bounded because every key may carry its own list). An empty list means
 * "any address" — hono's ipRestriction would also let everyone in, but we make that case explicit rather than
 * rely on it.
 */
function allowlist(rules: readonly string[], who: "platform" | "key"): Gate | null {
  if (rules.length === 0) return null;
  const cacheKey = `${who}\n${rules.join(",")}`;
  let gate = allowlists.get(cacheKey);
  if (gate) return gate;
  const fix = who === "platform" ? "Add this address to PLATFORM_ALLOWED_IPS" : "Add this address to the key's allowed_ips";
  const refuse = (addr: string | undefined) =>
    new ProblemError(
      403,
      `Requests from ${addr ? addr : "an unknown address"} are not allowed for ${who === "platform" ? "the platform token" : "this API key"}. ${fix}, or call from an allowed address.`,
    );
  let mw: MiddlewareHandler;
  try {
    mw = ipRestriction(getConnInfo, { allowList: [...rules] }, (remote) => {
      throw refuse(remote.addr);
    });
  } catch (err) {
    // Key lists are checked on create, so this is a bad PLATFORM_ALLOWED_IPS: fail closed (500), saying which.
    throw new Error(`Invalid ${who === "platform" ? "PLATFORM_ALLOWED_IPS" : "allowed_ips"} rule: ${err instanceof Error ? err.message : String(err)}`);
  }
  gate = async (c) => {
    let passed = false;
    try {
      await mw(c, async () => {
        passed = true;
      });
    } catch (err) {
      // Hono refuses a missing or unreadable address with its own plain-text 403; answer it like any refusal.
      if (err instanceof HTTPException && !(err instanceof ProblemError) && err.status === 403) throw refuse(c.req.header("cf-connecting-ip"));
      throw err;
    }
    if (!passed) throw refuse(c.req.header("cf-connecting-ip"));
  };
  if (allowlists.size >= ALLOWLIST_CACHE_LIMIT) allowlists.delete(allowlists.keys().next().value!);
  allowlists.set(cacheKey, gate);
  return gate;
}

function bearer(c: Context): string {
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new ProblemError(
      401,
      "Send `Authorization: Bearer <token>` with the platform token or an account API key (bxk_…).",
      {},
      {
        "www-authenticate": 'Bearer realm="broxiai-webhooks"',
      },
    );
  }
  return match[1];
}

/**
 * Requires the platform token, compared in constant time, from an address in PLATFORM_ALLOWED_IPS. The address is
 * judged first: from outside the list every request gets the same 403 whatever it carries, so a wrong token and the
 * right one cannot be told apart there (README, "Authentication").
 */
export function requirePlatform(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const cfg = config(c.env);
    await allowlist(cfg.PLATFORM_ALLOWED_IPS, "platform")?.(c);
    const token = bearer(c);
    if (!(await matchesConfiguredSecret(token, cfg.PLATFORM_TOKEN))) {
      throw new ProblemError(
        401,
        "This route needs the platform token; the token sent is not it.",
        {},
        {
          "www-authenticate": 'Bearer realm="broxiai-webhooks", error="invalid_token"',
        },
      );
    }
    c.set("principal", { kind: "platform" });
    await next();
  };
}

/**
 * Requires an account API key. Keys are looked up by their SHA-256 (the key itself is never stored), so the
 * comparison is an index lookup on a hash rather than a string compare that could leak timing.
 */
export function requireAccount(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await authenticateKey(c, bearer(c));
    c.set("principal", principal);
    await next();
  };
}

/**
 * Resolves an API key to its account, applying the key's allowlist; shared by the API and the dashboard. The list
 * belongs to the key, so it can only be judged once the key is found: an unknown key is 401 from anywhere, a known
 * one from outside its list 403. That tells apart only keys the caller already holds (32 random bytes, looked up by
 * their SHA-256), so it is no way to find one.
 */
export async function authenticateKey(c: Context<AppEnv>, key: string): Promise<Principal & { kind: "account" }> {
  if (!key.startsWith("bxk_")) {
    throw new ProblemError(
      401,
      "This route needs an account API key (bxk_…); the platform token manages accounts and ingests events only.",
      {},
      {
        "www-authenticate": 'Bearer realm="broxiai-webhooks", error="invalid_token"',
      },
    );
  }
  const hash = await sha256Hex(key);
  // The account's log shard comes with the key, so the routes reach its log without another lookup.
  const row = await c.env.DB.prepare(
    `SELECT k.id, k.account_id, k.allowed_ips, k.last_used_at, a.log_shard FROM api_keys k JOIN accounts a ON a.id = k.account_id
     WHERE k.key_hash = ? AND k.revoked_at IS NULL`,
  )
    .bind(hash)
    .first<{ id: string; account_id: string; allowed_ips: string; last_used_at: number | null; log_shard: number }>();
  if (!row) {
    throw new ProblemError(
      401,
      "This API key is unknown or has been revoked. Ask for a new key.",
      {},
      {
        "www-authenticate": 'Bearer realm="broxiai-webhooks", error="invalid_token"',
      },
    );
  }
  await allowlist(JSON.parse(row.allowed_ips) as string[], "key")?.(c);
  const now = Date.now();
  // last_used_at is informational: write it at most once a minute so busy keys do not cost a D1 write per call.
  if (!row.last_used_at || now - row.last_used_at > 60_000) {
    const write = c.env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(now, row.id).run();
    try {
      c.executionCtx.waitUntil(write.catch(() => {}));
    } catch {
      await write.catch(() => {});
    }
  }
  return { kind: "account", accountId: row.account_id, keyId: row.id, logShard: row.log_shard };
}
