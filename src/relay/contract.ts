/**
 * The contract of a relay session (README, "Develop from a laptop (relay)"): the Durable Object that holds one
 * developer's WebSocket and answers the webhook queue's sends through it. Types and pure helpers only, so that the
 * queue, the routes and the CLI's tests depend on no implementation.
 */

/** A relay's webhook sends to this URL: `relay://rly_…`. Only the relay routes make one (src/http/relays.ts). */
export const RELAY_SCHEME = "relay:";

/** A session nobody is connected to for this long expires: its alarm deletes it and its webhook. */
export const RELAY_IDLE_EXPIRY_MS = 24 * 3_600_000;

/** A relay id: rly_ then 26 characters (as newId makes them). */
export const RELAY_ID = /^rly_[0-9A-Z]{26}$/;

/** The relay:// URL of a relay. */
export function relayUrl(relayId: string): string {
  return `relay://${relayId}`;
}

/** The relay id a relay:// URL names, or null when the URL is not one (or names no well-formed id). */
export function relayIdOf(url: string): string | null {
  if (!url.startsWith("relay://")) return null;
  const id = url.slice("relay://".length);
  return RELAY_ID.test(id) ? id : null;
}

/** What a session keeps about itself. */
export interface RelayInfo {
  relay_id: string;
  account_id: string;
  webhook_id: string;
  created_at: number;
}

/** What a session answers about itself. */
export interface RelayState extends RelayInfo {
  /** Whether a CLI is connected now. */
  connected: boolean;
  /** When a CLI last connected (ms), or null. */
  last_connected_at: number | null;
  /** When the session expires unless a CLI connects (ms), or null while one is connected. */
  expires_at: number | null;
}

/** One signed request to pass down the socket (the queue's OutgoingRequest, as the relay sees it). */
export interface RelayRequest {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** What the local receiver answered, as the CLI reports it; or why there was no answer. */
export type RelayAnswer =
  | { status: number; headers: Record<string, string>; body: string; duration_ms: number }
  | { error: string; timed_out?: boolean; duration_ms: number };

/** Frames on the socket, service → CLI. */
export interface RequestFrame {
  type: "request";
  id: string;
  method: "POST";
  headers: Record<string, string>;
  body: string;
}

/** Frames on the socket, CLI → service: the local answer to one request frame. */
export type ResponseFrame = { type: "response"; id: string } & RelayAnswer;

/** The socket's keep-alive: the CLI sends PING, the runtime answers PONG without waking the session. */
export const PING = "ping";
export const PONG = "pong";

/** The session's RPC methods. */
export interface RelayRpc extends Rpc.DurableObjectBranded {
  /** Makes the session (once): who owns it and which webhook sends to it. Starts the expiry clock. */
  init(info: RelayInfo): Promise<void>;
  /** The session, or null when there is none (never made, deleted or expired). */
  state(): Promise<RelayState | null>;
  /**
   * Passes one request of `accountId`'s webhook down the socket and waits for the answer, at most `timeoutMs`.
   * Answers an error when no CLI is connected or the account is not the session's: a failed attempt, retried.
   */
  send(accountId: string, req: RelayRequest): Promise<RelayAnswer>;
  /** Closes the socket if `keyId` opened it (that key was revoked): 4003, and the CLI stops. Answers how many closed. */
  keyRevoked(keyId: string): Promise<number>;
  /** Closes the socket and forgets the session (its webhook is the caller's to delete). */
  destroy(): Promise<void>;
}

/** The connect route tells the session which API key opened a socket in this header (set by the route, never the caller's). */
export const KEY_ID_HEADER = "x-broxiai-relay-key";
