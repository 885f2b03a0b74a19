import type { AttemptView, DeliveryView, Page, StatsView, WebhookView } from "../api";
import { DeliveryCharts, fmtMs } from "../chart";
import type { HourBucket } from "../chart-data";
import { EVENT_GROUPS, SigningAdvice } from "../form";
import { CsrfField, Layout } from "../layout";
import { DeliveryLog } from "./delivery-log";
import { HealthBanner } from "./health-banner";
import { Crumbs, NoticeBox, Snippets, webhookName } from "./parts";
import type { LogQuery, Notice, PageCtx } from "./types";
import { Summary, TestResult } from "./webhook-panels";

/** The type picker of "Send test event": the test type first, then the catalog by group. */
function TestTypeSelect(props: { id: string }) {
  return (
    <select id={props.id} name="type">
      <option value="webhook.test">webhook.test (a ping)</option>
      {EVENT_GROUPS.map((g) => (
        <optgroup label={g.title}>
          {g.types.map((t) => (
            <option value={t}>{`${t} (sample)`}</option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}

/** One webhook: settings, actions, test, health over 24 h and its delivery log. */
export function WebhookPage(props: {
  ctx: PageCtx;
  webhook: WebhookView;
  stats: StatsView;
  buckets: HourBucket[];
  truncatedAt: number | null;
  log: Page<DeliveryView>;
  query: LogQuery;
  test: (DeliveryView & { attempts: AttemptView[] }) | null;
  notice: Notice;
  graceHours: number;
  /** FAILING_ALERT_AFTER: failed attempts in a row from which the page says the webhook is failing. */
  failingAfter: number;
}) {
  const { ctx, webhook: w, stats, log, query } = props;
  return (
    <Layout title={webhookName(w)} signedIn={ctx}>
      <Crumbs
        items={[
          ["/", "Webhooks"],
          [null, webhookName(w)],
        ]}
      />
      <h1>{webhookName(w)}</h1>
      <NoticeBox notice={props.notice} />
      <HealthBanner w={w} csrf={ctx.csrf} now={ctx.now} failingAfter={props.failingAfter} pending={stats.pending} />
      {props.test ? <TestResult delivery={props.test} now={ctx.now} /> : null}

      <Summary w={w} failingAfter={props.failingAfter} />

      <div class="actions">
        <a class="btn secondary" href={`/webhooks/${w.id}/edit`}>
          Edit settings
        </a>
        {/* Enabling a webhook that is off is the banner's: it asks what becomes of what it held. */}
        {w.active && !w.disabled_reason ? (
          <form method="post" action={`/webhooks/${w.id}/active`}>
            <CsrfField token={ctx.csrf} />
            <input type="hidden" name="active" value="false" />
            <button type="submit" class="secondary">
              Deactivate
            </button>
          </form>
        ) : null}
      </div>

      <details class="panel">
        <summary>Rotate the signing key…</summary>
        <p>
          A new {w.signing === "ed25519" ? "key pair" : "secret"} is made and shown once. The current one keeps signing beside it for {props.graceHours} hours,
          so receivers can switch without missing a delivery.
        </p>
        <form method="post" action={`/webhooks/${w.id}/rotate`}>
          <CsrfField token={ctx.csrf} />
          <div class="field">
            <label for="rotate-signing">Scheme</label>
            <select id="rotate-signing" name="signing">
              <option value="" selected>
                Keep {w.signing === "ed25519" ? "Ed25519" : "HMAC-SHA256"}
              </option>
              <option value={w.signing === "ed25519" ? "hmac" : "ed25519"}>Switch to {w.signing === "ed25519" ? "HMAC-SHA256" : "Ed25519"}</option>
            </select>
          </div>
          <details>
            <summary>HMAC or Ed25519?</summary>
            <SigningAdvice />
          </details>
          <button type="submit">Rotate now</button>
        </form>
      </details>

      <details class="panel">
        <summary>How to verify deliveries</summary>
        <Snippets webhook={w} />
      </details>

      <h2 id="test">Send a test event</h2>
      <form method="post" action={`/webhooks/${w.id}/test`} class="filters">
        <CsrfField token={ctx.csrf} />
        <div class="field">
          <label for="test-type">Event type</label>
          <TestTypeSelect id="test-type" />
        </div>
        <button type="submit">Send test event</button>
      </form>
      <p class="small muted">Sent at once, signed like any delivery, even while the webhook is inactive. It appears in the log below.</p>

      <h2 id="health">Last 24 hours</h2>
      <ul class="stats">
        <li>
          Success rate<strong>{stats.success_rate === null ? "—" : `${Math.round(stats.success_rate * 1000) / 10}%`}</strong>
        </li>
        <li>
          Delivered<strong>{stats.delivered}</strong>
        </li>
        <li>
          Failed<strong>{stats.failed}</strong>
        </li>
        <li>
          Pending<strong>{stats.pending}</strong>
        </li>
        <li>
          Latency p50 / p95
          <strong>
            {fmtMs(stats.latency_ms.p50)} / {fmtMs(stats.latency_ms.p95)}
          </strong>
        </li>
      </ul>
      <DeliveryCharts buckets={props.buckets} truncatedAt={props.truncatedAt} />

      <DeliveryLog ctx={ctx} webhook={w} log={log} query={query} />

      <h2>Danger zone</h2>
      <details class="panel">
        <summary>Delete this webhook…</summary>
        <p>Its pending deliveries are cancelled and it stops receiving events. This cannot be undone.</p>
        <form method="post" action={`/webhooks/${w.id}/delete`}>
          <CsrfField token={ctx.csrf} />
          <button type="submit" class="danger">
            Delete webhook
          </button>
        </form>
      </details>
    </Layout>
  );
}
