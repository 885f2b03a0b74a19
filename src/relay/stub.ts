import type { Env } from "../config";
import { relayIdOf } from "./contract";

/** The Durable Object stub of one relay session (one object per relay, named by its id). */
export function relayOf(env: Env, relayId: string) {
  return env.RELAY_SESSION.get(env.RELAY_SESSION.idFromName(relayId));
}

/**
 * A key was revoked: every relay socket of its account that the key opened is closed (4003), so a revoked key stops
 * receiving the account's deliveries at once rather than when its socket next drops. A session that cannot be reached
 * is said in the log; its socket was opened with a key that now fails on every reconnect.
 */
export async function closeRelaysOpenedWith(env: Env, accountId: string, keyId: string): Promise<void> {
  const { results } = await env.DB.prepare("SELECT url FROM webhooks WHERE account_id = ? AND url LIKE 'relay://%' AND deleted_at IS NULL")
    .bind(accountId)
    .all<{ url: string }>();
  const ids = results.map((r) => relayIdOf(r.url)).filter((id): id is string => id !== null);
  await Promise.all(
    ids.map((id) =>
      relayOf(env, id)
        .keyRevoked(keyId)
        .catch((err) => console.error("could not close a relay of a revoked key", id, err instanceof Error ? err.message : String(err))),
    ),
  );
}
