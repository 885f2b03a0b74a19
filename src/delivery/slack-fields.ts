// Reading an event's data into field values: typed readers that ignore what is not of the expected type, and the
// labelled fields the describers share (a workflow, a component, an id, a date), each already mrkdwn.
import { code, escapeMrkdwn, formatDuration, MAX_NAME, slackDate, truncate } from "./slack-mrkdwn";
import type { Field } from "./slack-types";

/** Adds a field only when it has a value, so the message shows no empty labels. */
export function push(fields: Field[], label: string, value: string | undefined): void {
  if (value !== undefined && value !== "") fields.push([label, value]);
}

/** "name (id)" when both are known, else whichever is, escaped and cut to length. */
export function named(name: string | undefined, id: string | undefined, noun: string): string {
  if (name && id) return `${escapeMrkdwn(truncate(name, MAX_NAME))} (${escapeMrkdwn(truncate(id, MAX_NAME))})`;
  return escapeMrkdwn(truncate(name ?? id ?? `unknown ${noun}`, MAX_NAME));
}

/** The workflow's name over its id in a code span, or whichever of the two is there. */
export function workflowField(data: Record<string, unknown>): string | undefined {
  const id = str(data, "workflow_id");
  const name = str(data, "workflow_name");
  if (!id) return name && escapeMrkdwn(truncate(name, MAX_NAME));
  return name ? `${escapeMrkdwn(truncate(name, MAX_NAME))}\n${code(id)}` : code(id);
}

/** The component's name over its id in a code span, or whichever of the two is there. */
export function componentField(data: Record<string, unknown>): string | undefined {
  const id = str(data, "component_id");
  const name = str(data, "component_name");
  if (!id) return name && escapeMrkdwn(truncate(name, MAX_NAME));
  return name ? `${escapeMrkdwn(truncate(name, MAX_NAME))}\n${code(id)}` : code(id);
}

/** A string value of the data as a code span. */
export function idField(data: Record<string, unknown>, key: string): string | undefined {
  const value = str(data, key);
  return value === undefined ? undefined : code(value);
}

/** A string value of the data as escaped text, cut to length. */
export function textField(data: Record<string, unknown>, key: string): string | undefined {
  const value = str(data, key);
  return value === undefined ? undefined : escapeMrkdwn(truncate(value, MAX_NAME));
}

/** A timestamp of the data as a date Slack shows in the reader's time zone. */
export function dateField(data: Record<string, unknown>, key: string): string | undefined {
  const value = str(data, key);
  return value === undefined ? undefined : slackDate(value);
}

/** The names of a run's outputs (never their values, which may be large or private). */
export function outputsField(data: Record<string, unknown>): string | undefined {
  const outputs = rec(data, "outputs");
  if (!outputs) return undefined;
  const keys = Object.keys(outputs);
  if (keys.length === 0) return undefined;
  return escapeMrkdwn(truncate(keys.join(", "), MAX_NAME));
}

/** An error's message, or its code when it has none. */
export function errorDetail(error: Record<string, unknown> | undefined): string | undefined {
  if (!error) return undefined;
  return str(error, "message") ?? str(error, "code");
}

/** A duration when there is one. */
export function optionalDuration(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : formatDuration(ms);
}

/** A plain object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The string at `key`, or undefined when it is missing or not a string. */
export function str(data: Record<string, unknown>, key: string): string | undefined {
  const v = data[key];
  return typeof v === "string" ? v : undefined;
}

/** The finite number at `key`, or undefined. */
export function num(data: Record<string, unknown>, key: string): number | undefined {
  const v = data[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The object at `key`, or undefined. */
export function rec(data: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = data[key];
  return isRecord(v) ? v : undefined;
}
