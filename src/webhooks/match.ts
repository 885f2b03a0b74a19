import { isOperational } from "../events/operational";
import type { Payload } from "../events/stored";
import { type Filter, matchesFilter } from "./filter";

/**
 * The event type sent only by `POST /v1/webhooks/{id}/test`. No wildcard selects it ("*" included): a receiver
 * subscribed to "*" expects platform events, and test pings reach it through the test route regardless.
 */
export const TEST_EVENT_TYPE = "webhook.test";

const MAX_PATTERN_LENGTH = 128;

/**
 * True when an event type matches any subscription pattern: exact ("workflow.completed"), prefix wildcard ("workflow.*",
 * "user.session.*" matching deeper types too), or "*". "*" means the platform's types: it never matches "webhook.test"
 * (sent only by the test route) nor the operational types, which only a name or "webhook.*" / "delivery.*" selects, so
 * no webhook subscribed to everything starts receiving alerts it never asked for.
 */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => patternMatches(pattern, type));
}

/** The webhook an operational event is about (its data.webhook.id), or null for any other event. */
export function aboutWebhook(event: Pick<Payload, "type" | "data">): string | null {
  if (!isOperational(event.type)) return null;
  const w = event.data.webhook;
  return typeof w === "object" && w !== null && typeof (w as { id?: unknown }).id === "string" ? (w as { id: string }).id : null;
}

/**
 * Whether a webhook receives an event: its types, its filter, and never an operational event about itself (a webhook
 * that is failing would only fail to receive the news, and each failure would make more).
 */
export function subscribes(webhook: { id: string; events: readonly string[]; filter: Filter | null }, event: Payload): boolean {
  if (!matchesEventType(webhook.events, event.type)) return false;
  if (aboutWebhook(event) === webhook.id) return false;
  return !webhook.filter || matchesFilter(webhook.filter, event);
}

/** Validates one pattern against the known types: returns an error message or null. A wildcard must match at least one known type. */
export function patternError(pattern: string, knownTypes: readonly string[]): string | null {
  if (typeof pattern !== "string" || pattern.length === 0) return "must be a non-empty string";
  if (pattern.length > MAX_PATTERN_LENGTH) return `must be at most ${MAX_PATTERN_LENGTH} characters`;
  if (pattern === "*" || pattern.endsWith(".*")) {
    if (pattern.slice(0, -1).includes("*")) return wildcardShapeError(pattern);
    // A wildcard that selects nothing today is almost always a typo ("workflw.*"); refusing it beats a
    // subscription that silently never fires.
    const selectsSomething = knownTypes.some((type) => type !== TEST_EVENT_TYPE && patternMatches(pattern, type));
    return selectsSomething ? null : `"${pattern}" matches no known event type (see GET /v1/event-types)`;
  }
  if (pattern.includes("*")) return wildcardShapeError(pattern);
  return knownTypes.includes(pattern) ? null : `unknown event type "${pattern}" (see GET /v1/event-types)`;
}

function patternMatches(pattern: string, type: string): boolean {
  if (pattern === type) return true;
  if (type === TEST_EVENT_TYPE) return false;
  if (pattern === "*") return !isOperational(type);
  if (!pattern.endsWith(".*")) return false;
  // The prefix keeps its trailing dot, so "user.*" matches "user.session.started" but not "users.created".
  const prefix = pattern.slice(0, -1);
  return type.length > prefix.length && type.startsWith(prefix);
}

function wildcardShapeError(pattern: string): string {
  return `"${pattern}": a wildcard is "*" or a prefix ending in ".*" (e.g. "workflow.*")`;
}
