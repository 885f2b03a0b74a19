import type { Context, MiddlewareHandler } from "hono";
import { getConnInfo } from "hono/cloudflare-workers";
import { ipRestriction } from "hono/ip-restriction";
import { distinctRemoteAddr } from "hono/utils/ipaddr";
import { config } from "../config";
import { sha256Hex, timingSafeEqualStrings } from "../signing";
import type { AppEnv } from "./app-env";
import { ProblemError } from "./problem";

/** Who is calling: the BroxiAI platform, or one account through one of its API keys. */
export type Principal = { kind: "platform" } | { kind: "account"; accountId: string; keyId: string };

const allowlists = new Map<string, MiddlewareHandler>();

/**
 * The edge allowlist for one set of rules, built once per distinct list (Hono parses its rules when the
 * middleware is made). An empty list means "any address" — hono's ipRestriction would also let everyone in,
 * but we make that case explicit rather than rely on it.
 */
function allowlist(rules: readonly string[], who: string): MiddlewareHandler | null {
  if (rules.length === 0) return null;
  const cacheKey = `${who}\n${rules.join(",")}`;
  let mw = allowlists.get(cacheKey);
  if (!mw) {
    mw = ipRestriction(getConnInfo, { allowList: [...rules] }, (remote) => {
      throw new ProblemError(
        403,
        `Requests from ${remote.addr || "an unknown address"} are not allowed for ${who}. Add this address to ${who === "the platform token" ? "PLATFORM_ALLOWED_IPS" : "the key's allowed_ips"}, or call from an allowed address.`,
      );
    });
    allowlists.set(cacheKey, mw);
  }
  return mw;
}

/** Whether a string is a valid allowlist rule: an IPv4 or IPv6 address, optionally with a CIDR prefix length. */
export function ipRuleError(rule: string): string | null {
  const [addr, prefix, extra] = rule.split("/");
  if (extra !== undefined) return `"${rule}" is not an IP address or CIDR`;
  const type = distinctRemoteAddr(addr);
  if (!type) return `"${rule}" is not an IP address or CIDR`;
  if (prefix !== undefined) {
    const max = type === "IPv4" ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${rule}" has a prefix length outside 0–${max}`;
  }
  return null;
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

async function run(mw: MiddlewareHandler | null, c: Context): Promise<void> {
  if (!mw) return;
  let passed = false;
  await mw(c, async () => {
    passed = true;
  });
  if (!passed) throw new ProblemError(403, "This address is not allowed.");
}

/** Requires the platform token, compared in constant time, from an address in PLATFORM_ALLOWED_IPS. */
export function requirePlatform(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearer(c);
    const cfg = config(c.env);
    if (!(await timingSafeEqualStrings(token, cfg.PLATFORM_TOKEN))) {
      throw new ProblemError(
        401,
        "This route needs the platform token; the token sent is not it.",
        {},
        {
          "www-authenticate": 'Bearer realm="broxiai-webhooks", error="invalid_token"',
        },
      );
    }
    await run(allowlist(cfg.PLATFORM_ALLOWED_IPS, "the platform token"), c);
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

/** Resolves an API key to its account, applying the key's allowlist; shared by the API and the dashboard. */
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
  const row = await c.env.DB.prepare("SELECT id, account_id, allowed_ips, last_used_at FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL")
    .bind(hash)
    .first<{ id: string; account_id: string; allowed_ips: string; last_used_at: number | null }>();
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
  await run(allowlist(JSON.parse(row.allowed_ips) as string[], `key ${row.id}`), c);
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
  return { kind: "account", accountId: row.account_id, keyId: row.id };
}
