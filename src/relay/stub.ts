import type { Env } from "../config";

/** The Durable Object stub of one relay session (one object per relay, named by its id). */
export function relayOf(env: Env, relayId: string) {
  return env.RELAY_SESSION.get(env.RELAY_SESSION.idFromName(relayId));
}
