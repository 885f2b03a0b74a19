import type { DeliveryView, StatsView, WebhookView } from "../api";

/** What every signed-in page knows: the CSRF token for its forms and the time it was rendered. */
export interface PageCtx {
  csrf: string;
  now: number;
}

export type Notice = { kind: "ok" | "error" | "info"; text: string } | null;

/** One row of the list: a webhook with its health at a glance. */
export interface WebhookSummary {
  webhook: WebhookView;
  stats: StatsView | null;
  last: DeliveryView | null;
}

/** The delivery-log filters, cursor and test result the webhook page was asked for. */
export interface LogQuery {
  status?: string;
  event_type?: string;
  cursor?: string;
}
