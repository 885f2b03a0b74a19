// The form's building blocks: a labelled input, text area, select and event checkbox, each with its hint and the
// errors the API named for it, linked for screen readers.
import type { FormErrors, FormValues } from "./webhook-form";

/** What each field is called on the page (and in the list of problems at the top of the form). */
export const LABELS: Record<string, string> = {
  url: "Endpoint URL",
  events: "Events",
  events_other: "Other event patterns",
  description: "Description",
  ordering: "Ordering",
  ordering_key: "Ordering key",
  "retry.max_attempts": "Maximum attempts",
  "retry.base_delay_ms": "First retry delay (ms)",
  "retry.multiplier": "Backoff multiplier",
  "retry.max_delay_ms": "Longest retry delay (ms)",
  timeout_ms: "Timeout (ms)",
  rate_limit_per_s: "Rate limit (requests per second)",
  "batch.max_size": "Batch size",
  "batch.max_wait_ms": "Batch wait (ms)",
  ttl_s: "Time to live (s)",
  filter: "Payload filter (JSON)",
  format: "Format",
  redact: "Redacted paths",
  headers: "Custom headers",
  headers_shown: "Custom headers",
  signing: "Signing",
};

/** The element id of a field. */
export const idOf = (name: string) => `f-${name.replace(/\./g, "-")}`;

/** The API's messages for one field, under it. */
export function Errors(props: { name: string; errors: FormErrors }) {
  const list = props.errors[props.name];
  if (!list?.length) return null;
  return (
    <p class="field-error" id={`${idOf(props.name)}-error`}>
      {list.map((m, i) =>
        i === 0 ? (
          <span>{m}</span>
        ) : (
          <span>
            <br />
            {m}
          </span>
        ),
      )}
    </p>
  );
}

/** The ids a field's aria-describedby names: its hint and its errors, when it has them. */
export function describedBy(name: string, errors: FormErrors, hint?: unknown): string | undefined {
  const ids = [hint ? `${idOf(name)}-hint` : "", errors[name]?.length ? `${idOf(name)}-error` : ""].filter(Boolean);
  return ids.length ? ids.join(" ") : undefined;
}

// Hints sit outside the label and are linked by aria-describedby, so a screen reader says the name, then the hint, once each.
function Hint(props: { id: string; hint?: string }) {
  return props.hint ? (
    <span class="hint" id={`${props.id}-hint`}>
      {props.hint}
    </span>
  ) : null;
}

/** What every field takes: its name, the form's values and errors, and how to present it. */
export type FieldProps = {
  name: Exclude<keyof FormValues, "events">;
  values: FormValues;
  errors: FormErrors;
  hint?: string;
  type?: "text" | "url" | "number";
  placeholder?: string;
  required?: boolean;
  step?: string;
  inputmode?: "numeric" | "decimal" | "url" | "text";
};

/** A labelled input. */
export function Field(p: FieldProps) {
  const id = idOf(p.name);
  const invalid = Boolean(p.errors[p.name]?.length);
  return (
    <div class="field">
      <label for={id}>{LABELS[p.name]}</label>
      <Hint id={id} hint={p.hint} />
      <input
        id={id}
        name={p.name}
        type={p.type ?? "text"}
        value={p.values[p.name]}
        placeholder={p.placeholder}
        required={p.required}
        step={p.step}
        inputmode={p.inputmode}
        aria-invalid={invalid ? "true" : undefined}
        aria-describedby={describedBy(p.name, p.errors, p.hint)}
      />
      <Errors name={p.name} errors={p.errors} />
    </div>
  );
}

/** A labelled text area. */
export function TextArea(p: FieldProps & { rows?: number }) {
  const id = idOf(p.name);
  return (
    <div class="field">
      <label for={id}>{LABELS[p.name]}</label>
      <Hint id={id} hint={p.hint} />
      <textarea
        id={id}
        name={p.name}
        rows={p.rows ?? 3}
        placeholder={p.placeholder}
        spellcheck={false}
        aria-invalid={p.errors[p.name]?.length ? "true" : undefined}
        aria-describedby={describedBy(p.name, p.errors, p.hint)}
      >
        {p.values[p.name]}
      </textarea>
      <Errors name={p.name} errors={p.errors} />
    </div>
  );
}

/** A labelled select of fixed options. */
export function Select(p: FieldProps & { options: [value: string, label: string][] }) {
  const id = idOf(p.name);
  return (
    <div class="field">
      <label for={id}>{LABELS[p.name]}</label>
      <Hint id={id} hint={p.hint} />
      <select id={id} name={p.name} aria-invalid={p.errors[p.name]?.length ? "true" : undefined} aria-describedby={describedBy(p.name, p.errors, p.hint)}>
        {p.options.map(([value, label]) => (
          <option value={value} selected={p.values[p.name] === value}>
            {label}
          </option>
        ))}
      </select>
      <Errors name={p.name} errors={p.errors} />
    </div>
  );
}

/** One event type (or wildcard) to subscribe to, with what it means. */
export function EventCheck(props: { value: string; checked: boolean; description?: string }) {
  return (
    <label>
      <input type="checkbox" name="events" value={props.value} checked={props.checked} />
      <span>
        <code>{props.value}</code>
        {props.description ? <span class="hint">{props.description}</span> : null}
      </span>
    </label>
  );
}
