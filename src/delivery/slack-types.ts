// Shapes shared by the Slack formatter's modules.

/** The payload as a webhook receives it (the Slack message is made from this, after redaction). */
export type Payload = { id: string; type: string; timestamp: string; account_id: string | null; data: Record<string, unknown> };

/** One labelled value of the message's fields section, the value already mrkdwn. */
export type Field = [label: string, mrkdwn: string];

/** What one event says, before it is laid out as text and blocks. `sentence` is already escaped mrkdwn. */
export interface Description {
  emoji: string;
  title: string;
  sentence: string;
  /** Free text from the payload (an error or a user's message), quoted under the summary. */
  detail?: string;
  fields: Field[];
  /** A dashboard page more to the point than the delivery's (an operational event's webhook), shown instead of it. */
  link?: string;
}
