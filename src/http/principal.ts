import type { Context } from "hono";
import type { AppEnv } from "./app-env";

/** The account behind an account-authenticated request (the auth middleware guarantees there is one). */
export function accountOf(c: Context<AppEnv>): string {
  const p = c.get("principal");
  if (p?.kind !== "account") throw new Error("route mounted without requireAccount()");
  return p.accountId;
}
