// The banner at the top of a webhook's page when it needs a person: disabled or inactive (why, what it holds, and the
// choice of what becomes of that when it is enabled again), or failing (since when, how, and when it will be disabled).
import type { WebhookView } from "../api";
import { CsrfField, Time } from "../layout";
import { isFailing, plural } from "./parts";

/** The enable button with a choice for the held deliveries (the PATCH's `held`). */
function EnableButton(props: { w: WebhookView; csrf: string; held?: "deliver" | "discard"; label: string; kind?: "secondary" }) {
  return (
    <form method="post" action={`/webhooks/${props.w.id}/active`}>
      <CsrfField token={props.csrf} />
      <input type="hidden" name="active" value="true" />
      {props.held ? <input type="hidden" name="held" value={props.held} /> : null}
      <button type="submit" class={props.kind}>
        {props.label}
      </button>
    </form>
  );
}

/** What a person needs to see first about this webhook, or nothing when it is healthy. */
export function HealthBanner(props: { w: WebhookView; csrf: string; now: number; failingAfter: number; pending: number }) {
  const { w, csrf, now } = props;
  if (w.disabled_reason || !w.active) {
    const held = w.held?.count ?? 0;
    const expired = w.held?.expired ?? 0;
    return (
      <section class="flash error" aria-labelledby="health-title">
        <h2 id="health-title" style="margin-top:0">
          {w.disabled_reason ? "This webhook is disabled" : "This webhook is inactive"}
        </h2>
        <p>
          {w.disabled_reason ? (
            <>
              Reason: <strong>{w.disabled_reason}</strong>. Fix the endpoint, then enable it again.
            </>
          ) : (
            "It was deactivated. Events that match it are not sent while it is off."
          )}
        </p>
        <p>
          <strong>{plural(held, "delivery is", "deliveries are")} held</strong> for it, in order, to send when it is enabled again.
          {expired > 0 ? ` ${plural(expired, "older one", "older ones")} expired past the bound of deliveries a webhook may hold.` : ""}
        </p>
        <div class="actions">
          {held > 0 ? (
            <>
              <EnableButton w={w} csrf={csrf} held="deliver" label={`Enable and deliver the ${plural(held, "held delivery", "held deliveries")}`} />
              <EnableButton w={w} csrf={csrf} held="discard" kind="secondary" label="Enable and discard them" />
            </>
          ) : (
            <EnableButton w={w} csrf={csrf} label={w.disabled_reason ? "Enable again" : "Activate"} />
          )}
        </div>
      </section>
    );
  }
  if (!isFailing(w, props.failingAfter)) return null;
  const f = w.failing!;
  return (
    <section class="flash error" aria-labelledby="health-title">
      <h2 id="health-title" style="margin-top:0">
        This webhook is failing
      </h2>
      <p>
        {plural(f.consecutive_failures, "attempt has", "attempts have")} failed in a row since <Time iso={f.since} now={now} exact />. Last:{" "}
        <strong>{f.last_error ?? (f.last_status_code === null ? "no response" : `HTTP ${f.last_status_code}`)}</strong>.
      </p>
      <p>
        {plural(props.pending, "delivery is", "deliveries are")} waiting (last 24 hours).
        {f.disables_at ? (
          <>
            {" "}
            Unless a delivery succeeds first, it will be disabled <Time iso={f.disables_at} now={now} exact />; events that match it are then held.
          </>
        ) : null}
      </p>
      <div class="actions">
        <a class="btn secondary" href="#test">
          Send a test event
        </a>
        <a class="btn secondary" href={`/webhooks/${w.id}?status=pending#deliveries`}>
          See the waiting deliveries
        </a>
      </div>
    </section>
  );
}
