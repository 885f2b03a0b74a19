import type { Env } from "../config";

/** Who is calling: the BroxiAI platform, or one account through one of its API keys. */
export type Principal = { kind: "platform" } | { kind: "account"; accountId: string; keyId: string };

/** Hono's environment for every route: the Worker bindings and the authenticated caller. */
export interface AppEnv {
  Bindings: Env;
  Variables: { principal: Principal };
}
