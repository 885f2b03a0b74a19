// The "Add new webhook" / "Edit webhook" form as data: what its inputs hold, how they become an API request,
// and where the API's field errors belong on it. Pure, so it is the same whichever page renders it. Only what
// a form cannot express (JSON text, "Name: value" lines) is parsed here; every rule about the values themselves
// is the API's, and its 422 answers are shown next to the fields they name.

import type { FieldError, WebhookView } from "./api";

/** Every input of the form, as the text it holds. Names are the API's dotted paths where there is one. */
export interface FormValues {
  url: string;
  events: string[];
  events_other: string;
  description: string;
  ordering: string;
  ordering_key: string;
  "retry.max_attempts": string;
  "retry.base_delay_ms": string;
  "retry.multiplier": string;
  "retry.max_delay_ms": string;
  timeout_ms: string;
  rate_limit_per_s: string;
  "batch.max_size": string;
  "batch.max_wait_ms": string;
  ttl_s: string;
  filter: string;
  format: string;
  redact: string;
  headers: string;
  /** The edit form's headers as it showed them (JSON of name → masked value), so a line left alone keeps its value. */
  headers_shown: string;
  signing: string;
}

/** The inputs that hold one line of text, in the order of the form. */
export const TEXT_FIELDS = [
  "url",
  "events_other",
  "description",
  "ordering",
  "ordering_key",
  "retry.max_attempts",
  "retry.base_delay_ms",
  "retry.multiplier",
  "retry.max_delay_ms",
  "timeout_ms",
  "rate_limit_per_s",
  "batch.max_size",
  "batch.max_wait_ms",
  "ttl_s",
  "filter",
  "format",
  "redact",
  "headers",
  "headers_shown",
  "signing",
] as const satisfies readonly Exclude<keyof FormValues, "events">[];

/** Field errors keyed by form field ("events", "retry.max_attempts", …); "" holds those no field can show. */
export type FormErrors = Record<string, string[]>;

/** The empty form: the API's defaults show as placeholders, so blank means "the default". */
export function emptyValues(): FormValues {
  return {
    url: "",
    events: [],
    events_other: "",
    description: "",
    ordering: "strict",
    ordering_key: "",
    "retry.max_attempts": "",
    "retry.base_delay_ms": "",
    "retry.multiplier": "",
    "retry.max_delay_ms": "",
    timeout_ms: "",
    rate_limit_per_s: "",
    "batch.max_size": "",
    "batch.max_wait_ms": "",
    ttl_s: "",
    filter: "",
    format: "json",
    redact: "",
    headers: "",
    headers_shown: "",
    signing: "hmac",
  };
}

/** A stored webhook as the edit form shows it; `offered` is the list of event checkboxes the form has. */
export function valuesFromWebhook(w: WebhookView, offered: readonly string[]): FormValues {
  const str = (v: number | null | undefined) => (v === null || v === undefined ? "" : String(v));
  return {
    url: w.url,
    events: w.events.filter((e) => offered.includes(e)),
    events_other: w.events.filter((e) => !offered.includes(e)).join(", "),
    description: w.description,
    ordering: w.ordering,
    ordering_key: w.ordering_key ?? "",
    "retry.max_attempts": str(w.retry.max_attempts),
    "retry.base_delay_ms": str(w.retry.base_delay_ms),
    "retry.multiplier": str(w.retry.multiplier),
    "retry.max_delay_ms": str(w.retry.max_delay_ms),
    timeout_ms: str(w.timeout_ms),
    rate_limit_per_s: str(w.rate_limit_per_s),
    "batch.max_size": str(w.batch?.max_size),
    "batch.max_wait_ms": str(w.batch?.max_wait_ms),
    ttl_s: str(w.ttl_s),
    filter: w.filter ? JSON.stringify(w.filter, null, 2) : "",
    format: w.format,
    redact: w.redact.join("\n"),
    // The API shows header values masked; the form shows them so, and sends back only the lines a person changed.
    headers: Object.entries(w.headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n"),
    headers_shown: JSON.stringify(w.headers),
    signing: w.signing,
  };
}

/** The form as posted (`parseBody({ all: true })`), as values. */
export function valuesFromForm(body: Record<string, unknown>): FormValues {
  const values = emptyValues();
  const one = (v: unknown) => (Array.isArray(v) ? v[0] : v);
  for (const name of TEXT_FIELDS) {
    const v = one(body[name]);
    if (typeof v === "string") values[name] = v;
  }
  const events = body.events;
  values.events = (Array.isArray(events) ? events : events === undefined ? [] : [events]).filter((e): e is string => typeof e === "string");
  return values;
}

/** A number input: blank is "not given"; anything else that is not a number goes to the API as text, which names the field. */
function num(text: string): number | string | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * The API request body for the form: POST /v1/webhooks (`create`: blank fields are left to the API's
 * defaults) or PATCH /v1/webhooks/{id} (`edit`: blank optional settings are cleared). Errors are only those
 * of the form's own syntax; the API judges the rest.
 */
export function toRequestBody(v: FormValues, mode: "create" | "edit"): { body: Record<string, unknown>; errors: FormErrors } {
  const errors: FormErrors = {};
  const fail = (field: string, message: string) => (errors[field] ??= []).push(message);
  const clear = mode === "edit" ? null : undefined;

  const events = [...new Set([...v.events, ...v.events_other.split(/[\s,]+/).filter(Boolean)])];
  if (events.length === 0) fail("events", "Choose at least one event type.");

  let filter: unknown = clear;
  if (v.filter.trim()) {
    try {
      filter = JSON.parse(v.filter);
      if (typeof filter !== "object" || filter === null || Array.isArray(filter))
        fail("filter", 'Write a JSON object, for example {"data.duration_ms": {"$gt": 60000}}.');
    } catch (err) {
      fail("filter", `This is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  const headers: Record<string, string> = {};
  lines(v.headers).forEach((line, i) => {
    const colon = line.indexOf(":");
    if (colon <= 0) fail("headers", `Line ${i + 1}: write "Name: value".`);
    else headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  const headersPatch = mode === "edit" ? headerChanges(shownHeaders(v.headers_shown), headers) : undefined;

  const retry = Object.fromEntries(
    (["max_attempts", "base_delay_ms", "multiplier", "max_delay_ms"] as const).map((k) => [k, num(v[`retry.${k}`])]).filter(([, n]) => n !== undefined),
  );
  const batchSize = num(v["batch.max_size"]);
  const batchWait = num(v["batch.max_wait_ms"]);
  const batch = batchSize === undefined && batchWait === undefined ? clear : { max_size: batchSize, max_wait_ms: batchWait };

  const body: Record<string, unknown> = {
    url: v.url.trim(),
    events,
    description: v.description.trim() || (mode === "edit" ? "" : undefined),
    ordering: v.ordering || undefined,
    ordering_key: v.ordering_key.trim() || clear,
    retry: Object.keys(retry).length > 0 ? retry : undefined,
    timeout_ms: num(v.timeout_ms),
    rate_limit_per_s: num(v.rate_limit_per_s) ?? clear,
    batch,
    ttl_s: num(v.ttl_s) ?? clear,
    filter,
    format: v.format || undefined,
    redact: mode === "edit" || v.redact.trim() ? lines(v.redact) : undefined,
    headers: mode === "edit" ? headersPatch : Object.keys(headers).length > 0 ? headers : undefined,
    // The scheme is chosen once; changing it later is a rotation (its own form), so PATCH never carries it.
    signing: mode === "create" ? v.signing || undefined : undefined,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return { body, errors };
}

function shownHeaders(json: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(json || "{}");
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/**
 * The PATCH for the headers an edit form posts (the API merges it): a line as it was shown (its masked value) is
 * left out, so the stored value stays; a new or changed line is sent; a shown header whose line is gone is null.
 * Nothing changed: undefined, so the PATCH carries no headers at all.
 */
function headerChanges(shown: Record<string, string>, posted: Record<string, string>): Record<string, string | null> | undefined {
  const key = (name: string) => name.toLowerCase();
  const shownBy = new Map(Object.entries(shown).map(([name, value]) => [key(name), { name, value }]));
  const postedNames = new Set(Object.keys(posted).map(key));
  const patch: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(posted)) {
    const before = shownBy.get(key(name));
    if (before?.value !== value) patch[name] = value;
  }
  for (const { name } of shownBy.values()) if (!postedNames.has(key(name))) patch[name] = null;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

const FIELD_FOR_PREFIX: Record<string, string> = { batch: "batch.max_size", retry: "retry.max_attempts" };

/** Places the API's field errors on the form: "events.3" on the events group, "headers.X-Foo" on headers, and so on. */
export function placeErrors(apiErrors: FieldError[]): FormErrors {
  const fields = new Set<string>(["events", ...TEXT_FIELDS]);
  const placed: FormErrors = {};
  for (const e of apiErrors) {
    const parts = e.path.split(".");
    let field = "";
    for (let n = parts.length; n > 0 && !field; n--) {
      const prefix = parts.slice(0, n).join(".");
      if (fields.has(prefix)) field = prefix;
      else if (n === 1 && FIELD_FOR_PREFIX[prefix]) field = FIELD_FOR_PREFIX[prefix];
    }
    const rest = field ? e.path.slice(field.length + 1) : "";
    // The part of the path below the field (an index, a header name) still tells the person which entry is wrong.
    const where = field === "redact" && /^\d+$/.test(rest) ? `Line ${Number(rest) + 1}: ` : field === "headers" && rest ? `${rest}: ` : "";
    (placed[field] ??= []).push(field ? where + e.message : `${e.path}: ${e.message}`);
  }
  return placed;
}
