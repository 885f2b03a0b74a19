import * as z from "zod";
import type { EventTypeInfo } from "./types";

// The operational events: what the service itself says about an account's webhooks, so that someone hears when
// delivery breaks. The webhook's queue emits them (src/delivery/alerts.ts) through ingest like any event; matching
// (src/webhooks/match.ts) keeps them from "*" and from the webhook they are about.

/** The four operational types, as subscribed to by name or by "webhook.*" / "delivery.*". */
export const OPERATIONAL_TYPES = ["webhook.failing", "webhook.disabled", "webhook.recovered", "delivery.exhausted"] as const;

export type OperationalType = (typeof OPERATIONAL_TYPES)[number];

/** Whether a type is one the service emits about a webhook (never the platform's, never sent to "*"). */
export function isOperational(type: string): type is OperationalType {
  return (OPERATIONAL_TYPES as readonly string[]).includes(type);
}

const isoTime = (description: string) => z.iso.datetime({ offset: true }).describe(description);
const count = (description: string) => z.number().int().nonnegative().describe(description);

const webhook = z
  .looseObject({
    id: z.string().min(1).describe("The webhook this event is about"),
    url: z.string().describe("Its endpoint URL"),
    description: z.string().describe("Its description, as the account wrote it"),
  })
  .describe("The webhook this event is about (it never receives the event itself)");

const lastFailure = {
  last_status_code: z.number().int().nullable().describe("The receiver's status in the last failed attempt, or null (a timeout, a network error)"),
  last_error: z.string().nullable().describe("What the last failed attempt logged, e.g. HTTP 500 or timeout after 10000 ms"),
};

const dashboardUrl = z.url().optional().describe("The webhook's page in the dashboard, when the service has DASHBOARD_URL");

const exampleWebhook = { id: "wh_01JD3S4K2M7Q9X0C5V8B6N1R2T", url: "https://api.example.com/hooks/broxiai", description: "Orders service" };
const exampleLink = "https://webhooks.example.com/webhooks/wh_01JD3S4K2M7Q9X0C5V8B6N1R2T";

const failedDelivery = z.looseObject({
  id: z.string().describe("The delivery"),
  event_id: z.string().describe("Its event"),
  event_type: z.string().describe("Its event's type"),
  attempt_count: count("Attempts made"),
  ...lastFailure,
});

/** The catalog entries of the operational types. */
export const OPERATIONAL_ENTRIES: EventTypeInfo[] = [
  {
    type: "webhook.failing",
    category: "operational",
    description:
      "A webhook's receiver has failed several attempts in a row (FAILING_ALERT_AFTER, default 4); sent again at most once a day while it keeps failing, with the time left before it is disabled.",
    schema: z.looseObject({
      webhook,
      consecutive_failures: count("Failed attempts in a row, across its deliveries"),
      failing_since: isoTime("When the first of them failed"),
      ...lastFailure,
      disables_at: isoTime("When the webhook is disabled if nothing succeeds before (DISABLE_AFTER_FAILING_HOURS after failing_since)"),
      disables_in_s: count("Seconds left until then"),
      dashboard_url: dashboardUrl,
    }),
    example: {
      webhook: exampleWebhook,
      consecutive_failures: 4,
      failing_since: "2026-11-27T09:00:00.000Z",
      last_status_code: 503,
      last_error: "HTTP 503",
      disables_at: "2026-12-02T09:00:00.000Z",
      disables_in_s: 431_940,
      dashboard_url: exampleLink,
    },
  },
  {
    type: "webhook.disabled",
    category: "operational",
    description:
      "A webhook stopped sending: its receiver answered 410 Gone, it failed without a success for DISABLE_AFTER_FAILING_HOURS, or a person deactivated it. Events that match it are held until it is enabled again.",
    schema: z.looseObject({
      webhook,
      reason: z
        .enum(["gone", "failing", "manual"])
        .describe("gone: the receiver answered 410; failing: no success for the configured time; manual: a person deactivated it"),
      message: z.string().describe("The reason in words (the webhook's disabled_reason)"),
      consecutive_failures: count("Failed attempts in a row when it was disabled"),
      failing_since: isoTime("When it started failing").nullable(),
      ...lastFailure,
      held: count("Deliveries held for it at that moment"),
      dashboard_url: dashboardUrl,
    }),
    example: {
      webhook: exampleWebhook,
      reason: "failing",
      message: "no successful delivery for 120 h (last: HTTP 503)",
      consecutive_failures: 57,
      failing_since: "2026-11-27T09:00:00.000Z",
      last_status_code: 503,
      last_error: "HTTP 503",
      held: 212,
      dashboard_url: exampleLink,
    },
  },
  {
    type: "webhook.recovered",
    category: "operational",
    description: "The first successful delivery of a webhook that had been reported failing or disabled.",
    schema: z.looseObject({
      webhook,
      failing_since: isoTime("When it started failing").nullable(),
      recovered_at: isoTime("When the successful attempt ended"),
      failed_attempts: count("Failed attempts in a row before this success"),
      dashboard_url: dashboardUrl,
    }),
    example: {
      webhook: exampleWebhook,
      failing_since: "2026-11-27T09:00:00.000Z",
      recovered_at: "2026-11-27T11:42:10.000Z",
      failed_attempts: 9,
      dashboard_url: exampleLink,
    },
  },
  {
    type: "delivery.exhausted",
    category: "operational",
    description:
      "Deliveries of a webhook were dead-lettered (failed after their last attempt). The first after a quiet spell is reported at once; those that follow within DEAD_LETTER_ALERT_WINDOW_S are reported together, with a count, when the window closes.",
    schema: z.looseObject({
      webhook,
      count: count("Deliveries dead-lettered in this report").min(1),
      first_at: isoTime("When the first of them failed"),
      last_at: isoTime("When the last of them failed"),
      deliveries: z.array(failedDelivery).max(10).describe("The first ten of them; each can be redelivered"),
      ...lastFailure,
      dashboard_url: dashboardUrl,
    }),
    example: {
      webhook: exampleWebhook,
      count: 1,
      first_at: "2026-11-28T21:14:03.000Z",
      last_at: "2026-11-28T21:14:03.000Z",
      deliveries: [
        {
          id: "dlv_01JD3T0K2M7Q9X0C5V8B6N1R2T",
          event_id: "evt_01JD3QA7W4H2P8S6F0E9G3K1MZ",
          event_type: "workflow.completed",
          attempt_count: 12,
          last_status_code: 503,
          last_error: "HTTP 503; no attempts left (12 of 12)",
        },
      ],
      last_status_code: 503,
      last_error: "HTTP 503; no attempts left (12 of 12)",
      dashboard_url: exampleLink,
    },
  },
];
