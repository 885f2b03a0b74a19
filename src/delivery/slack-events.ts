// What each kind of event says in a Slack message: its emoji, title, one escaped sentence, a quoted detail and the
// fields, read from the event's data by category (workflow, component, user, quota, maintenance, test).
import {
  componentField,
  dateField,
  errorDetail,
  idField,
  isRecord,
  named,
  num,
  optionalDuration,
  outputsField,
  push,
  rec,
  str,
  textField,
  workflowField,
} from "./slack-fields";
import { code, escapeMrkdwn, formatDuration, formatNumber, MAX_DETAIL, MAX_NAME, slackDate, truncate } from "./slack-mrkdwn";
import { describeOperational } from "./slack-ops";
import type { Description, Field } from "./slack-types";

/** What an event of this type says, by its category; an unknown type lists its top-level values. */
export function describe(type: string, data: Record<string, unknown>): Description {
  const category = type.split(".")[0];
  if (category === "workflow") return describeWorkflow(type, data);
  if (category === "component") return describeComponent(type, data);
  if (type === "user.message.received") return describeMessage(data);
  if (type === "user.session.started" || type === "user.session.ended") return describeSession(type, data);
  if (type === "api.quota.warning" || type === "api.quota.exceeded") return describeQuota(type, data);
  if (type === "system.maintenance") return describeMaintenance(data);
  const operational = describeOperational(type, data);
  if (operational) return operational;
  if (type === "webhook.test") {
    return {
      emoji: ":test_tube:",
      title: "Test event",
      sentence: "Test event from BroxiAI Webhooks",
      detail: str(data, "message"),
      fields: [],
    };
  }
  return { emoji: ":bell:", title: type, sentence: `BroxiAI event ${escapeMrkdwn(type)}`, fields: scalarFields(data) };
}

const outcomes: Record<string, { emoji: string; verb: string; title: string; past: "in" | "after" }> = {
  started: { emoji: ":arrow_forward:", verb: "started", title: "started", past: "in" },
  completed: { emoji: ":white_check_mark:", verb: "completed", title: "completed", past: "in" },
  failed: { emoji: ":x:", verb: "failed", title: "failed", past: "after" },
  timeout: { emoji: ":hourglass:", verb: "timed out", title: "timed out", past: "after" },
  cancelled: { emoji: ":no_entry_sign:", verb: "was cancelled", title: "cancelled", past: "after" },
};

function outcomeOf(type: string) {
  const last = type.slice(type.lastIndexOf(".") + 1);
  return outcomes[last] ?? { emoji: ":bell:", verb: escapeMrkdwn(last), title: last, past: "after" as const };
}

function describeWorkflow(type: string, data: Record<string, unknown>): Description {
  const o = outcomeOf(type);
  const workflow = named(str(data, "workflow_name"), str(data, "workflow_id"), "workflow");
  const duration = num(data, "duration_ms");
  const error = rec(data, "error");
  const failedAt = error && str(error, "component_id");

  let sentence = `Workflow ${workflow} ${o.verb}`;
  if (duration !== undefined && type !== "workflow.started") sentence += ` ${o.past} ${formatDuration(duration)}`;
  if (failedAt) sentence += ` at component ${escapeMrkdwn(failedAt)}`;

  const fields: Field[] = [];
  push(fields, "Workflow", workflowField(data));
  push(fields, "Execution", idField(data, "execution_id"));
  if (duration !== undefined) fields.push(["Duration", formatDuration(duration)]);
  push(fields, "Timeout", optionalDuration(num(data, "timeout_ms")));
  push(fields, "Started", dateField(data, "started_at"));
  push(fields, o.title === "completed" ? "Completed" : "Ended", dateField(data, "completed_at"));
  push(fields, "Failed component", failedAt && code(failedAt));
  push(fields, "Error code", error && idField(error, "code"));
  push(fields, "Cancelled by", textField(data, "cancelled_by"));
  push(fields, "Reason", textField(data, "reason"));
  push(fields, "Outputs", outputsField(data));

  return { emoji: o.emoji, title: `Workflow ${o.title}`, sentence, detail: errorDetail(error), fields };
}

function describeComponent(type: string, data: Record<string, unknown>): Description {
  const o = outcomeOf(type);
  const name = str(data, "component_name");
  const componentId = str(data, "component_id");
  const aside = [str(data, "component_type"), name ? componentId : undefined].filter((s): s is string => !!s);
  let component = escapeMrkdwn(truncate(name ?? componentId ?? "unknown component", MAX_NAME));
  if (aside.length > 0) component += ` (${aside.map((s) => escapeMrkdwn(truncate(s, MAX_NAME))).join(", ")})`;
  const workflow = named(str(data, "workflow_name"), str(data, "workflow_id"), "workflow");
  const duration = num(data, "duration_ms");
  const error = rec(data, "error");

  let sentence = `Component ${component} in workflow ${workflow} ${o.verb}`;
  if (duration !== undefined && type !== "component.started") sentence += ` ${o.past} ${formatDuration(duration)}`;

  const fields: Field[] = [];
  push(fields, "Component", componentField(data));
  push(fields, "Type", textField(data, "component_type"));
  push(fields, "Workflow", workflowField(data));
  push(fields, "Execution", idField(data, "execution_id"));
  if (duration !== undefined) fields.push(["Duration", formatDuration(duration)]);
  push(fields, "Timeout", optionalDuration(num(data, "timeout_ms")));
  push(fields, "Started", dateField(data, "started_at"));
  push(fields, "Error code", error && idField(error, "code"));
  push(fields, "Outputs", outputsField(data));

  return { emoji: o.emoji, title: `Component ${o.title}`, sentence, detail: errorDetail(error), fields };
}

function describeMessage(data: Record<string, unknown>): Description {
  const user = str(data, "user_id") ?? "unknown user";
  const session = str(data, "session_id") ?? "unknown session";
  const message = data.message;
  // Redaction may have replaced the whole message, or only its content, with "[redacted]".
  const content = isRecord(message) ? str(message, "content") : typeof message === "string" ? message : undefined;

  const fields: Field[] = [];
  push(fields, "User", idField(data, "user_id"));
  push(fields, "Session", idField(data, "session_id"));
  push(fields, "Role", isRecord(message) ? textField(message, "role") : undefined);
  push(fields, "Workflow", workflowField(data));
  push(fields, "Message", isRecord(message) ? idField(message, "id") : undefined);
  push(fields, "Received", dateField(data, "received_at"));

  return {
    emoji: ":speech_balloon:",
    title: "New user message",
    sentence: `User ${escapeMrkdwn(truncate(user, MAX_NAME))} sent a message in session ${escapeMrkdwn(truncate(session, MAX_NAME))}`,
    detail: content,
    fields,
  };
}

function describeSession(type: string, data: Record<string, unknown>): Description {
  const started = type === "user.session.started";
  const user = escapeMrkdwn(truncate(str(data, "user_id") ?? "unknown user", MAX_NAME));
  const session = escapeMrkdwn(truncate(str(data, "session_id") ?? "unknown session", MAX_NAME));
  const duration = num(data, "duration_ms");
  const messages = num(data, "message_count");

  let sentence = started ? `User ${user} started session ${session}` : `Session ${session} of user ${user} ended`;
  if (!started && duration !== undefined) sentence += ` after ${formatDuration(duration)}`;
  if (!started && messages !== undefined) sentence += ` (${formatNumber(messages)} ${messages === 1 ? "message" : "messages"})`;

  const fields: Field[] = [];
  push(fields, "User", idField(data, "user_id"));
  push(fields, "Session", idField(data, "session_id"));
  push(fields, "Workflow", workflowField(data));
  push(fields, "Started", dateField(data, "started_at"));
  push(fields, "Ended", dateField(data, "ended_at"));
  if (duration !== undefined) fields.push(["Duration", formatDuration(duration)]);
  if (messages !== undefined) fields.push(["Messages", formatNumber(messages)]);
  push(fields, "Reason", textField(data, "reason"));

  return {
    emoji: started ? ":wave:" : ":checkered_flag:",
    title: started ? "Session started" : "Session ended",
    sentence,
    fields,
  };
}

function describeQuota(type: string, data: Record<string, unknown>): Description {
  const exceeded = type === "api.quota.exceeded";
  const quota = rec(data, "quota") ?? {};
  const name = escapeMrkdwn(truncate(str(quota, "name") ?? "unknown", MAX_NAME));
  const limit = num(quota, "limit");
  const used = num(quota, "used");
  const period = str(quota, "period");
  const percent = limit !== undefined && used !== undefined && limit > 0 ? Math.round((used / limit) * 100) : undefined;
  const usage =
    used !== undefined && limit !== undefined
      ? `${formatNumber(used)} of ${formatNumber(limit)}${period ? ` per ${escapeMrkdwn(truncate(period, MAX_NAME))}` : ""}`
      : undefined;

  let sentence = exceeded ? `Quota ${name} exceeded` : `Quota ${name} is${percent !== undefined ? ` at ${percent}%` : " nearly used up"}`;
  if (usage) sentence += exceeded ? `: ${usage} used` : ` (${usage})`;

  const fields: Field[] = [["Quota", code(str(quota, "name") ?? "unknown")]];
  if (usage) fields.push(["Used", percent !== undefined ? `${usage} (${percent}%)` : usage]);
  push(fields, "Period", textField(quota, "period"));
  const threshold = num(data, "threshold");
  if (threshold !== undefined) fields.push(["Warning threshold", `${Math.round(threshold * 100)}%`]);
  push(fields, "Resets", dateField(data, "resets_at"));

  return {
    emoji: exceeded ? ":rotating_light:" : ":warning:",
    title: exceeded ? "Quota exceeded" : "Quota warning",
    sentence,
    fields,
  };
}

function describeMaintenance(data: Record<string, unknown>): Description {
  const window = rec(data, "window") ?? {};
  const starts = str(window, "starts_at");
  const ends = str(window, "ends_at");
  let sentence = "Scheduled maintenance";
  if (starts && ends) sentence += ` from ${slackDate(starts)} to ${slackDate(ends)}`;
  else if (starts) sentence += ` from ${slackDate(starts)}`;

  const fields: Field[] = [];
  push(fields, "Starts", dateField(window, "starts_at"));
  push(fields, "Ends", dateField(window, "ends_at"));
  if (starts && ends && Date.parse(ends) >= Date.parse(starts)) {
    fields.push(["Duration", formatDuration(Date.parse(ends) - Date.parse(starts))]);
  }
  const services = Array.isArray(data.services) ? data.services.filter((s): s is string => typeof s === "string") : [];
  if (services.length > 0) fields.push(["Services", escapeMrkdwn(truncate(services.join(", "), MAX_DETAIL))]);

  return { emoji: ":wrench:", title: "Scheduled maintenance", sentence, detail: str(data, "message"), fields };
}

/** Field values for types this module does not know: the top-level scalars, so nothing is silently blank. */
function scalarFields(data: Record<string, unknown>): Field[] {
  const fields: Field[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (typeof value === "string") fields.push([key, escapeMrkdwn(truncate(value, MAX_NAME))]);
    else if (typeof value === "number" || typeof value === "boolean") fields.push([key, String(value)]);
  }
  return fields;
}
