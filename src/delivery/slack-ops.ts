// What the operational events say in a Slack message ("alert my ops channel"): which webhook broke, how, since when,
// what is held, and a link to its page in the dashboard.
import { dateField, isRecord, num, push, str, textField } from "./slack-fields";
import { code, escapeMrkdwn, formatDuration, formatNumber, MAX_NAME, truncate } from "./slack-mrkdwn";
import type { Description, Field } from "./slack-types";

/** What an operational event says, or undefined for any other type. */
export function describeOperational(type: string, data: Record<string, unknown>): Description | undefined {
  const webhook = isRecord(data.webhook) ? data.webhook : {};
  const name = escapeMrkdwn(truncate(str(webhook, "description") || str(webhook, "url") || str(webhook, "id") || "unknown webhook", MAX_NAME));
  const link = str(data, "dashboard_url");
  const failures = num(data, "consecutive_failures");
  const lastStatus = num(data, "last_status_code");
  const lastError = str(data, "last_error");

  const fields: Field[] = [];
  const endpoint = () => {
    push(fields, "Webhook", str(webhook, "id") && code(str(webhook, "id")!));
    push(fields, "Endpoint", str(webhook, "url") && code(str(webhook, "url")!));
  };
  const lastFailure = () => push(fields, "Last failure", lastStatus !== undefined ? `HTTP ${lastStatus}` : textField(data, "last_error"));

  if (type === "webhook.failing") {
    endpoint();
    push(fields, "Failing since", dateField(data, "failing_since"));
    lastFailure();
    push(fields, "Disabled at", dateField(data, "disables_at"));
    const left = num(data, "disables_in_s");
    push(fields, "Time left", left === undefined ? undefined : formatDuration(left * 1000));
    const attempts = failures === undefined ? "several failed attempts" : `${formatNumber(failures)} failed ${failures === 1 ? "attempt" : "attempts"}`;
    return {
      emoji: ":rotating_light:",
      title: "Webhook failing",
      sentence: `Webhook ${name} is failing (${attempts} in a row)`,
      detail: lastError,
      fields,
      link,
    };
  }
  if (type === "webhook.disabled") {
    const reason = str(data, "reason");
    const why = reason === "gone" ? "its receiver answered 410 Gone" : reason === "manual" ? "a person deactivated it" : "it kept failing";
    const held = num(data, "held");
    endpoint();
    push(fields, "Reason", textField(data, "reason"));
    if (held !== undefined) fields.push(["Held", `${formatNumber(held)} ${held === 1 ? "delivery" : "deliveries"}`]);
    push(fields, "Failing since", dateField(data, "failing_since"));
    if (reason !== "manual") lastFailure();
    return {
      emoji: ":no_entry:",
      title: "Webhook disabled",
      sentence: `Webhook ${name} was disabled: ${why}. Matching events are held until it is enabled again`,
      detail: str(data, "message"),
      fields,
      link,
    };
  }
  if (type === "webhook.recovered") {
    endpoint();
    push(fields, "Failing since", dateField(data, "failing_since"));
    push(fields, "Recovered", dateField(data, "recovered_at"));
    const since = Date.parse(str(data, "failing_since") ?? "");
    const back = Date.parse(str(data, "recovered_at") ?? "");
    if (Number.isFinite(since) && Number.isFinite(back) && back >= since) fields.push(["Down for", formatDuration(back - since)]);
    return { emoji: ":white_check_mark:", title: "Webhook recovered", sentence: `Webhook ${name} delivers again`, fields, link };
  }
  if (type === "delivery.exhausted") {
    const n = num(data, "count") ?? 1;
    endpoint();
    fields.push(["Dead-lettered", formatNumber(n)]);
    lastFailure();
    const deliveries = Array.isArray(data.deliveries) ? data.deliveries.filter(isRecord) : [];
    push(fields, "Deliveries", deliveries.length ? deliveries.map((d) => code(str(d, "id") ?? "?")).join(", ") : undefined);
    return {
      emoji: ":warning:",
      title: n === 1 ? "Delivery dead-lettered" : "Deliveries dead-lettered",
      sentence: `${n === 1 ? "A delivery" : `${formatNumber(n)} deliveries`} to webhook ${name} failed after ${n === 1 ? "its" : "their"} last attempt; they can be redelivered`,
      detail: lastError,
      fields,
      link,
    };
  }
  return undefined;
}
