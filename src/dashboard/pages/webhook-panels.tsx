// The two read-only panels of the webhook page: the result of a test just sent, and the webhook's settings in words.
import type { AttemptView, DeliveryView, WebhookView } from "../api";
import { fmtMs } from "../chart";
import { CodeBadge, Time } from "../layout";
import { pretty, WebhookState } from "./parts";

/** The outcome of the test event just sent: its last attempt's status, time and response body. */
export function TestResult(props: { delivery: DeliveryView & { attempts: AttemptView[] }; now: number }) {
  const { delivery: d } = props;
  const a = d.attempts[d.attempts.length - 1];
  const ok = d.status === "delivered";
  return (
    <section aria-labelledby="test-result-title" class="card result" style={`border-color:${ok ? "#4ac26b" : "#ff8182"}`}>
      <h2 id="test-result-title" style="margin-top:0">
        Test event {ok ? "delivered" : "not delivered"}
      </h2>
      {a ? (
        <>
          <dl class="props">
            <dt>Event type</dt>
            <dd>
              <code>{d.event_type}</code>
            </dd>
            <dt>Response status</dt>
            <dd>
              <CodeBadge code={a.status_code} error={a.error} />
            </dd>
            <dt>Time</dt>
            <dd>{fmtMs(a.duration_ms)}</dd>
            <dt>Sent</dt>
            <dd>
              <Time iso={a.started_at} now={props.now} exact />
            </dd>
            {a.error ? (
              <>
                <dt>Error</dt>
                <dd>{a.error}</dd>
              </>
            ) : null}
          </dl>
          <h3>Response body</h3>
          <pre>{pretty(a.response_body)}</pre>
        </>
      ) : (
        <p>The result is still being recorded. Reload this page in a moment.</p>
      )}
      <p>
        <a href={`/deliveries/${d.id}`}>Request and response in full</a>
      </p>
    </section>
  );
}

/** The webhook's settings, in words. */
export function Summary(props: { w: WebhookView; failingAfter: number }) {
  const { w } = props;
  const r = w.retry;
  return (
    <dl class="props">
      <dt>Endpoint</dt>
      <dd>
        <code>{w.url}</code>
      </dd>
      <dt>Status</dt>
      <dd>
        <WebhookState w={w} failingAfter={props.failingAfter} />
      </dd>
      <dt>Events</dt>
      <dd>
        <code>{w.events.join(", ")}</code>
      </dd>
      {w.filter ? (
        <>
          <dt>Filter</dt>
          <dd>
            <code>{JSON.stringify(w.filter)}</code>
          </dd>
        </>
      ) : null}
      <dt>Signing</dt>
      <dd>
        {w.signing === "ed25519" ? (
          <>
            Ed25519 (<code>v1a</code>), public key <code>{w.public_key}</code>
          </>
        ) : (
          <>
            HMAC-SHA256 (<code>v1</code>) with a secret shown only at creation or rotation
          </>
        )}
      </dd>
      <dt>Ordering</dt>
      <dd>{w.ordering === "key" ? `per value of ${w.ordering_key}` : w.ordering}</dd>
      <dt>Retries</dt>
      <dd>
        {r.max_attempts === 1
          ? "one attempt, no retries"
          : `up to ${r.max_attempts} attempts, first retry after ${fmtMs(r.base_delay_ms)}, then ×${r.multiplier} each time, at most ${fmtMs(r.max_delay_ms)} apart`}
        ; timeout {fmtMs(w.timeout_ms)}
      </dd>
      {w.rate_limit_per_s || w.batch || w.ttl_s ? (
        <>
          <dt>Throughput</dt>
          <dd>
            {[
              w.rate_limit_per_s ? `at most ${w.rate_limit_per_s} requests/s` : "",
              w.batch ? `batches of up to ${w.batch.max_size} (waiting ≤ ${fmtMs(w.batch.max_wait_ms)})` : "",
              w.ttl_s ? `events expire after ${w.ttl_s} s` : "",
            ]
              .filter(Boolean)
              .join("; ")}
          </dd>
        </>
      ) : null}
      <dt>Format</dt>
      <dd>{w.format === "slack" ? "Slack message" : "JSON event"}</dd>
      {w.redact.length ? (
        <>
          <dt>Redacted</dt>
          <dd>
            <code>{w.redact.join(", ")}</code>
          </dd>
        </>
      ) : null}
      {Object.keys(w.headers).length ? (
        <>
          <dt>Custom headers</dt>
          <dd>
            <code>{Object.keys(w.headers).join(", ")}</code> <span class="small muted">(values hidden)</span>
          </dd>
        </>
      ) : null}
    </dl>
  );
}
