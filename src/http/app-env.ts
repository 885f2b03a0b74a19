import type { Env } from "../config";
import type { Principal } from "./auth";

/** Hono's environment for every route: the Worker bindings and the authenticated caller. */
export interface AppEnv {
  Bindings: Env;
  Variables: { principal: Principal };
}
