import { catalog, EVENT_TYPES, type EventCategory } from "../events/catalog";
import { CsrfField } from "./layout";
import type { FormErrors, FormValues } from "./webhook-form";

/** The event-type groups of the form, from the catalog: each type, and a wildcard per leading name in the group. */
export const EVENT_GROUPS = (["workflow", "component", "user", "system"] as const satisfies readonly EventCategory[]).map((category) => {
  const types = EVENT_TYPES.filter((t) => catalog.get(t)?.category === category);
  const wildcards = [...new Set(types.map((t) => `${t.split(".")[0]}.*`))];
  return { category, title: category[0].toUpperCase() + category.slice(1), types, wildcards };
});

/** Every value the event checkboxes offer; a webhook's other patterns go in the free-text field. */
export const OFFERED_EVENTS: readonly string[] = ["*", ...EVENT_GROUPS.flatMap((g) => [...g.wildcards, ...g.types])];

const LABELS: Record<string, string> = {
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

const idOf = (name: string) => `f-${name.replace(/\./g, "-")}`;

function Errors(props: { name: string; errors: FormErrors }) {
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

function describedBy(name: string, errors: FormErrors, hint?: unknown): string | undefined {
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

type FieldProps = {
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

function Field(p: FieldProps) {
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

function TextArea(p: FieldProps & { rows?: number }) {
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

function Select(p: FieldProps & { options: [value: string, label: string][] }) {
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

function EventCheck(props: { value: string; checked: boolean; description?: string }) {
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

/** Which signing scheme to choose, in a sentence or two each (issue 9: the dashboard explains when to choose which). */
export function SigningAdvice() {
  return (
    <div class="small">
      <p>
        <strong>HMAC-SHA256</strong> (Standard Webhooks <code>v1</code>, the default): one shared secret. Every Standard Webhooks and Svix library verifies it
        in one line. Anyone who holds the secret can also <em>forge</em> a delivery, so choose it when the receiver is yours and the secret lives in a secret
        store.
      </p>
      <p>
        <strong>Ed25519</strong> (<code>v1a</code>): you get a public key; only BroxiAI holds the private key. A leaked receiver configuration cannot forge
        deliveries, so choose it when several services or partners verify, or when the key sits where you cannot keep secrets. Verify with Node's{" "}
        <code>crypto</code> or Python's <code>cryptography</code>; some webhook libraries only check <code>v1</code>.
      </p>
    </div>
  );
}

/** The create / edit form for a webhook. */
export function WebhookForm(props: { mode: "create" | "edit"; action: string; values: FormValues; errors: FormErrors; csrf: string; cancelHref: string }) {
  const { values: v, errors: e } = props;
  const fp = { values: v, errors: e };
  const all = Object.entries(e).flatMap(([field, messages]) => messages.map((m) => ({ field, m })));
  const eventsId = idOf("events");
  return (
    <form method="post" action={props.action} novalidate>
      <CsrfField token={props.csrf} />
      {all.length > 0 ? (
        // Focused on load (see the layout's script) so keyboard and screen-reader users start at the list of problems.
        <div class="flash error" role="alert" id="form-errors" tabindex={-1}>
          <strong>The webhook was not saved. Please correct:</strong>
          <ul>
            {all.map(({ field, m }) => (
              <li>{field ? <a href={`#${field === "events" ? `${eventsId}-legend` : idOf(field)}`}>{`${LABELS[field] ?? field}: ${m}`}</a> : m}</li>
            ))}
          </ul>
        </div>
      ) : null}

      <Field
        {...fp}
        name="url"
        type="url"
        inputmode="url"
        required
        placeholder="https://example.com/webhooks/broxiai"
        hint="Where deliveries are POSTed. HTTPS, reachable from the internet."
      />
      <Field {...fp} name="description" hint="Optional: a note for your team, shown in this list." />

      <fieldset id={eventsId} aria-describedby={describedBy("events", e, true)} aria-invalid={e.events?.length ? "true" : undefined}>
        <legend id={`${eventsId}-legend`} tabindex={-1}>
          Events to send
        </legend>
        <p class="hint" id={`${eventsId}-hint`}>
          Choose event types, or a wildcard to also receive types added later.
        </p>
        <Errors name="events" errors={e} />
        <div class="checks">
          <EventCheck value="*" checked={v.events.includes("*")} description="Every event type, now and in future" />
        </div>
        {EVENT_GROUPS.map((g) => (
          <fieldset>
            <legend>{g.title}</legend>
            <div class="checks">
              {g.wildcards.map((w) => (
                <EventCheck value={w} checked={v.events.includes(w)} description={`Every type starting with ${w.slice(0, -1)}`} />
              ))}
              {g.types.map((t) => (
                <EventCheck value={t} checked={v.events.includes(t)} description={catalog.get(t)?.description} />
              ))}
            </div>
          </fieldset>
        ))}
        <Field {...fp} name="events_other" placeholder="user.session.*" hint="Optional: more types or wildcards, separated by commas." />
      </fieldset>

      {props.mode === "create" ? (
        <fieldset>
          <legend>Signing</legend>
          <div class="checks">
            <label>
              <input type="radio" name="signing" value="hmac" checked={v.signing !== "ed25519"} />
              <span>
                HMAC-SHA256 secret<span class="hint">Shared secret (whsec_…); the default.</span>
              </span>
            </label>
            <label>
              <input type="radio" name="signing" value="ed25519" checked={v.signing === "ed25519"} />
              <span>
                Ed25519 key pair<span class="hint">You receive a public key (whpk_…) only.</span>
              </span>
            </label>
          </div>
          <Errors name="signing" errors={e} />
          <details>
            <summary>Which should I choose?</summary>
            <SigningAdvice />
          </details>
        </fieldset>
      ) : null}

      <details class="panel" open={Object.keys(e).some((f) => !["url", "description", "events", "events_other", "signing", ""].includes(f))}>
        <summary>Advanced settings</summary>
        <h3>Delivery order</h3>
        <div class="grid2">
          <Select
            {...fp}
            name="ordering"
            options={[
              ["strict", "Strict: one at a time, in order (default)"],
              ["key", "Per key: in order per value of a payload field"],
              ["none", "None: concurrently, fastest"],
            ]}
          />
          <Field {...fp} name="ordering_key" placeholder="data.execution_id" hint='With "Per key" ordering: the payload path whose value orders deliveries.' />
        </div>
        <h3>Retries and timeouts</h3>
        <div class="grid2">
          <Field {...fp} name="retry.max_attempts" type="number" inputmode="numeric" placeholder="12" hint="1–30; after the last, the delivery fails." />
          <Field {...fp} name="retry.base_delay_ms" type="number" inputmode="numeric" placeholder="5000" hint="Wait before the first retry." />
          <Field
            {...fp}
            name="retry.multiplier"
            type="number"
            inputmode="decimal"
            step="any"
            placeholder="3"
            hint="Each wait is this many times the last (1–10)."
          />
          <Field {...fp} name="retry.max_delay_ms" type="number" inputmode="numeric" placeholder="36000000" hint="Cap on any one wait (default 10 h)." />
          <Field {...fp} name="timeout_ms" type="number" inputmode="numeric" placeholder="10000" hint="Per request, at most 30000." />
          <Field {...fp} name="ttl_s" type="number" inputmode="numeric" placeholder="none" hint="Drop an event not delivered within this many seconds." />
        </div>
        <h3>Throughput</h3>
        <div class="grid2">
          <Field {...fp} name="rate_limit_per_s" type="number" inputmode="numeric" placeholder="none" hint="At most this many requests per second." />
          <Field {...fp} name="batch.max_size" type="number" inputmode="numeric" placeholder="no batching" hint="Send up to this many events per request." />
          <Field
            {...fp}
            name="batch.max_wait_ms"
            type="number"
            inputmode="numeric"
            placeholder="no batching"
            hint="…waiting at most this long to fill a batch."
          />
        </div>
        <h3>Content</h3>
        <Select
          {...fp}
          name="format"
          options={[
            ["json", "JSON event (Standard Webhooks)"],
            ["slack", "Slack incoming-webhook message"],
          ]}
        />
        <TextArea
          {...fp}
          name="filter"
          rows={4}
          placeholder={'{"data.duration_ms": {"$gt": 60000}}'}
          hint="Optional: send only events whose payload matches. Operators $eq $ne $gt $gte $lt $lte $in $nin $exists $contains, combined with $and $or $not."
        />
        <TextArea
          {...fp}
          name="redact"
          placeholder="data.message.content"
          hint='One payload path per line, replaced with "[redacted]" before sending and in the logs.'
        />
        <TextArea
          {...fp}
          name="headers"
          placeholder="Authorization: Bearer <token>"
          hint={
            props.mode === "edit"
              ? 'One "Name: value" per line, added to every request. Saved values are secret and shown masked: leave a line as it is to keep its value, write a new value to replace it, delete the line to remove the header.'
              : 'One "Name: value" per line, added to every request. Values are kept secret: after saving they are only ever shown masked (Bearer …3f9a).'
          }
        />
        {props.mode === "edit" ? <input type="hidden" name="headers_shown" value={v.headers_shown} /> : null}
      </details>

      <div class="actions">
        <button type="submit">{props.mode === "create" ? "Add webhook" : "Save changes"}</button>
        <a href={props.cancelHref}>Cancel</a>
      </div>
    </form>
  );
}
