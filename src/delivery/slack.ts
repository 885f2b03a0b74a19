// A webhook with `format: "slack"` gets a Slack incoming-webhook message instead of the JSON event: this lays out
// what slack-events.ts says of the event as `text` (the notification) and Block Kit `blocks`.
import { describe } from "./slack-events";
import { isRecord } from "./slack-fields";
import { code, escapeMrkdwn, MAX_DETAIL, oneLine, quote, safeUrl, slackDate, truncate } from "./slack-mrkdwn";
import type { Field, Payload } from "./slack-types";

// Slack rejects a section with more than ten fields.
const MAX_FIELDS = 10;

/** Turns a webhook payload into a Slack incoming-webhook message a person reads at a glance. */
export function toSlackMessage(payload: Payload, options: { dashboardUrl?: string } = {}): { text: string; blocks: unknown[] } {
  const data = isRecord(payload.data) ? payload.data : {};
  const d = describe(payload.type, data);
  const detail = d.detail === undefined ? undefined : truncate(d.detail, MAX_DETAIL);

  const text = `${d.emoji} ${d.sentence}${detail === undefined ? "" : `: ${escapeMrkdwn(oneLine(detail))}`}`;

  let summary = `${d.emoji} *${escapeMrkdwn(d.title)}*\n${d.sentence}`;
  if (detail !== undefined) summary += `\n${quote(escapeMrkdwn(detail))}`;

  const fields = d.fields.length > 0 ? d.fields : [["Event", code(payload.type)] as Field];
  const blocks: unknown[] = [
    { type: "section", text: { type: "mrkdwn", text: summary } },
    {
      type: "section",
      fields: fields.slice(0, MAX_FIELDS).map(([label, value]) => ({ type: "mrkdwn", text: `*${escapeMrkdwn(label)}*\n${value}` })),
    },
  ];

  // The service links to its dashboard only when it has one (DASHBOARD_URL); an event's own page comes with it.
  const page = options.dashboardUrl ? safeUrl(d.link) : undefined;
  const link = page ?? safeUrl(options.dashboardUrl);
  if (link) blocks.push({ type: "section", text: { type: "mrkdwn", text: `<${link}|${page ? "Open the webhook" : "View"} in the BroxiAI dashboard>` } });

  const context = [`Event ${code(payload.id)}`, `\`${escapeMrkdwn(payload.type)}\``, slackDate(payload.timestamp)];
  if (payload.account_id) context.push(`Account ${code(payload.account_id)}`);
  blocks.push({ type: "context", elements: context.map((text) => ({ type: "mrkdwn", text })) });

  return { text, blocks };
}
