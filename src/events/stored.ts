/**
 * The account_id under which a broadcast (system.maintenance sent to every account) keeps its own record: the
 * platform's answer, checked by its repeat. No account can have this id (ingest refuses an empty account_id), and
 * each account the broadcast reached holds a copy under its own id.
 */
export const BROADCAST = "";

/** A stored event row, keyed by (account_id, id): the platform's id is unique within its account only. */
export interface EventRow {
  /** The event's account, or BROADCAST for a broadcast's own record. */
  account_id: string;
  id: string;
  type: string;
  timestamp: string;
  data: string;
  deliveries: number;
  created_at: number;
  /** What ingest handed off, as JSON [[webhook_id, delivery_id], …]: all of a broadcast's in its record, an account's in its copy. */
  handoffs: string;
  /** 1 on a broadcast's record and copies when it went through the fan-out queue (src/events/fanout.ts). */
  fanout: number;
}

/** The payload every receiver gets (SPEC "base webhook structure"); account_id is null for a broadcast until it is addressed. */
export interface Payload {
  id: string;
  type: string;
  timestamp: string;
  account_id: string | null;
  data: Record<string, unknown>;
}
