type Payload = { id: string; type: string; timestamp: string; account_id: string | null; data: Record<string, unknown> };
type Field = [label: string, mrkdwn: string];

/** What one event says, before it is laid out as text and blocks. `sentence` is already escaped mrkdwn. */
interface Description {
  emoji: string;
  title: string;
  sentence: string;
  /** Free text from the payload (an error or a user's message), quoted under the summary. */
  detail?: string;
  fields: Field[];
}

const MAX_DETAIL = 300;
const MAX_NAME = 80;
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

  const link = safeUrl(options.dashboardUrl);
  if (link) blocks.push({ type: "section", text: { type: "mrkdwn", text: `<${link}|View in the BroxiAI dashboard>` } });

  const context = [`Event ${code(payload.id)}`, `\`${escapeMrkdwn(payload.type)}\``, slackDate(payload.timestamp)];
  if (payload.account_id) context.push(`Account ${code(payload.account_id)}`);
  blocks.push({ type: "context", elements: context.map((text) => ({ type: "mrkdwn", text })) });

  return { text, blocks };
}

function describe(type: string, data: Record<string, unknown>): Description {
  const category = type.split(".")[0];
  if (category === "workflow") return describeWorkflow(type, data);
  if (category === "component") return describeComponent(type, data);
  if (type === "user.message.received") return describeMessage(data);
  if (type === "user.session.started" || type === "user.session.ended") return describeSession(type, data);
  if (type === "api.quota.warning" || type === "api.quota.exceeded") return describeQuota(type, data);
  if (type === "system.maintenance") return describeMaintenance(data);
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

function push(fields: Field[], label: string, value: string | undefined): void {
  if (value !== undefined && value !== "") fields.push([label, value]);
}

function named(name: string | undefined, id: string | undefined, noun: string): string {
  if (name && id) return `${escapeMrkdwn(truncate(name, MAX_NAME))} (${escapeMrkdwn(truncate(id, MAX_NAME))})`;
  return escapeMrkdwn(truncate(name ?? id ?? `unknown ${noun}`, MAX_NAME));
}

function workflowField(data: Record<string, unknown>): string | undefined {
  const id = str(data, "workflow_id");
  const name = str(data, "workflow_name");
  if (!id) return name && escapeMrkdwn(truncate(name, MAX_NAME));
  return name ? `${escapeMrkdwn(truncate(name, MAX_NAME))}\n${code(id)}` : code(id);
}

function componentField(data: Record<string, unknown>): string | undefined {
  const id = str(data, "component_id");
  const name = str(data, "component_name");
  if (!id) return name && escapeMrkdwn(truncate(name, MAX_NAME));
  return name ? `${escapeMrkdwn(truncate(name, MAX_NAME))}\n${code(id)}` : code(id);
}

function idField(data: Record<string, unknown>, key: string): string | undefined {
  const value = str(data, key);
  return value === undefined ? undefined : code(value);
}

function textField(data: Record<string, unknown>, key: string): string | undefined {
  const value = str(data, key);
  return value === undefined ? undefined : escapeMrkdwn(truncate(value, MAX_NAME));
}

function dateField(data: Record<string, unknown>, key: string): string | undefined {
  const value = str(data, key);
  return value === undefined ? undefined : slackDate(value);
}

function outputsField(data: Record<string, unknown>): string | undefined {
  const outputs = rec(data, "outputs");
  if (!outputs) return undefined;
  const keys = Object.keys(outputs);
  if (keys.length === 0) return undefined;
  return escapeMrkdwn(truncate(keys.join(", "), MAX_NAME));
}

function errorDetail(error: Record<string, unknown> | undefined): string | undefined {
  if (!error) return undefined;
  return str(error, "message") ?? str(error, "code");
}

function optionalDuration(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : formatDuration(ms);
}

/** "850 ms", "5.2 s", "2 min 5 s", "1 h 3 min", "2 d 4 h": the two largest units are enough to read. */
function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "unknown time";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) {
    const s = Math.round(ms / 100) / 10;
    return s >= 60 ? "1 min" : `${s % 1 === 0 ? s.toFixed(0) : s.toFixed(1)} s`;
  }
  const totalSeconds = Math.round(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return seconds > 0 ? `${minutes} min ${seconds} s` : `${minutes} min`;
}

function formatNumber(n: number): string {
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 }).format(n);
}

/** Slack renders `<!date^…>` in each reader's own time zone; the ISO text is the fallback for old clients. */
function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(truncate(iso, MAX_NAME));
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time_secs}|${escapeMrkdwn(new Date(ms).toISOString())}>`;
}

/** Slack's mrkdwn treats only these three as control characters; escaping them stops `<!channel>` and fake links. */
function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** An id in backticks; a backtick inside would end the code span early, so it is swapped for a look-alike. */
function code(s: string): string {
  return `\`${escapeMrkdwn(truncate(s, MAX_NAME)).replace(/`/g, "ˋ")}\``;
}

function quote(s: string): string {
  return s
    .split("\n")
    .map((line) => `>${line}`)
    .join("\n");
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** Cuts by code point, before escaping, so neither a surrogate pair nor an `&amp;` is split in half. */
function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join("")}…`;
}

/** Only http(s) links go into the message; `|` and `>` would end Slack's `<url|label>` syntax early. */
function safeUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return undefined;
  return parsed.href.replace(/&/g, "&amp;").replace(/\|/g, "%7C").replace(/</g, "%3C").replace(/>/g, "%3E");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(data: Record<string, unknown>, key: string): string | undefined {
  const v = data[key];
  return typeof v === "string" ? v : undefined;
}

function num(data: Record<string, unknown>, key: string): number | undefined {
  const v = data[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function rec(data: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = data[key];
  return isRecord(v) ? v : undefined;
}
