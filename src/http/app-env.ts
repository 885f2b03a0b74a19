import type { Env } from "../config";

/** Who is calling: the BroxiAI platform, or one account (with the log shard that holds its log) through one of its API keys. */
export type Principal = { kind: "platform" } | { kind: "account"; accountId: string; keyId: string; logShard: number };

/** Hono's environment for every route: the Worker bindings and the authenticated caller. */
export interface AppEnv {
  Bindings: Env;
  Variables: { principal: Principal };
}
