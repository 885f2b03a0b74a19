import { catalog, EVENT_TYPES, type EventCategory } from "../events/catalog";
import { describedBy, Errors, EventCheck, Field, idOf, LABELS, Select, TextArea } from "./form-fields";
import { CsrfField } from "./layout";
import type { FormErrors, FormValues } from "./webhook-form";

/** The event-type groups of the form, from the catalog: each type, and a wildcard per leading name in the group. */
export const EVENT_GROUPS = (["workflow", "component", "user", "system", "operational"] as const satisfies readonly EventCategory[]).map((category) => {
  const types = EVENT_TYPES.filter((t) => catalog.get(t)?.category === category);
  const wildcards = [...new Set(types.map((t) => `${t.split(".")[0]}.*`))];
  const title = category === "operational" ? "Operational (about your webhooks)" : category[0].toUpperCase() + category.slice(1);
  return { category, title, types, wildcards };
});

/** Every value the event checkboxes offer; a webhook's other patterns go in the free-text field. */
export const OFFERED_EVENTS: readonly string[] = ["*", ...EVENT_GROUPS.flatMap((g) => [...g.wildcards, ...g.types])];

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
          <EventCheck value="*" checked={v.events.includes("*")} description="Every platform event type, now and in future (not the operational ones)" />
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
