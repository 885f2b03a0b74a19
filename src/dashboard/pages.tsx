import type { Child } from "hono/jsx";
import { catalog, EVENT_TYPES } from "../events/catalog";
import type { AttemptView, DeliveryView, Page, StatsView, WebhookView } from "./api";
import { DeliveryCharts, fmtMs } from "./chart";
import type { HourBucket } from "./chart-data";
import { EVENT_GROUPS, SigningAdvice, WebhookForm } from "./form";
import { CodeBadge, CopyBlock, CsrfField, Flash, Layout, StatusBadge, Time } from "./layout";
import { ed25519Snippets, hmacSnippets } from "./snippets";
import type { FormErrors, FormValues } from "./webhook-form";

/** What every signed-in page knows: the CSRF token for its forms and the time it was rendered. */
export interface PageCtx {
  csrf: string;
  now: number;
}

export type Notice = { kind: "ok" | "error" | "info"; text: string } | null;

const DELIVERY_STATUSES = ["pending", "delivered", "failed", "cancelled", "expired"] as const;

function NoticeBox(props: { notice: Notice }) {
  return props.notice ? <Flash kind={props.notice.kind}>{props.notice.text}</Flash> : null;
}

function Crumbs(props: { items: [href: string | null, label: string][] }) {
  return (
    <nav aria-label="Breadcrumb">
      <p class="crumbs">
        {props.items.map(([href, label], i) => (
          <>
            {i > 0 ? " › " : ""}
            {href ? <a href={href}>{label}</a> : <span aria-current="page">{label}</span>}
          </>
        ))}
      </p>
    </nav>
  );
}

function webhookName(w: Pick<WebhookView, "description" | "url">): string {
  return w.description || w.url;
}

/** Active, inactive or disabled (with the reason), in words. */
function WebhookState(props: { w: WebhookView }) {
  const { w } = props;
  if (w.disabled_reason)
    return (
      <span>
        <span class="badge bad">Disabled</span> <span class="small">{w.disabled_reason}</span>
      </span>
    );
  return w.active ? <span class="badge ok">Active</span> : <span class="badge">Inactive</span>;
}

function pretty(body: string | null): string {
  if (body === null || body === "") return "(empty)";
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** The sign-in page: one field, the account API key. */
export function SignInPage(props: { error?: string | null; notice?: Notice; next?: string }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in to Webhooks</h1>
      <NoticeBox notice={props.notice ?? null} />
      {props.error ? <Flash kind="error">{props.error}</Flash> : null}
      <p>Manage the webhooks that tell your systems, in real time, what happens in your BroxiAI workflows.</p>
      <form method="post" action="/sign-in">
        {props.next && props.next !== "/" ? <input type="hidden" name="next" value={props.next} /> : null}
        <div class="field">
          <label for="key">Account API key</label>
          <span class="hint" id="key-hint">
            Starts with <code>bxk_</code>. Your BroxiAI administrator creates keys; the key's IP allowlist applies here too.
          </span>
          <input
            id="key"
            name="key"
            type="password"
            autocomplete="off"
            spellcheck={false}
            required
            aria-describedby={props.error ? "key-hint key-error" : "key-hint"}
            aria-invalid={props.error ? "true" : undefined}
          />
          {props.error ? (
            <p class="field-error" id="key-error">
              {props.error}
            </p>
          ) : null}
        </div>
        <button type="submit">Sign in</button>
      </form>
      <p class="small muted">You stay signed in for 12 hours on this browser, or until you sign out or the key is revoked.</p>
    </Layout>
  );
}

/** One row of the list: a webhook with its health at a glance. */
export interface WebhookSummary {
  webhook: WebhookView;
  stats: StatsView | null;
  last: DeliveryView | null;
}

/** Settings → Webhooks: every webhook of the account. */
export function WebhookListPage(props: { ctx: PageCtx; items: WebhookSummary[]; nextCursor: string | null; paged: boolean; notice: Notice }) {
  const { ctx } = props;
  return (
    <Layout title="Webhooks" signedIn={ctx}>
      <h1>Webhooks</h1>
      <NoticeBox notice={props.notice} />
      <p>BroxiAI sends an HTTPS POST, signed, to each endpoint below when a subscribed event happens in your workflows.</p>
      <div class="actions">
        <a class="btn" href="/webhooks/new">
          Add webhook
        </a>
      </div>
      {props.items.length === 0 ? (
        <div class="card">
          <h2>No webhooks {props.paged ? "on this page" : "yet"}</h2>
          <p>Add an endpoint to start receiving events such as workflow.completed or component.failed.</p>
        </div>
      ) : (
        <ul class="cards" aria-label="Webhooks">
          {props.items.map(({ webhook: w, stats, last }) => (
            <li class="card">
              <h2>
                <a href={`/webhooks/${w.id}`}>{webhookName(w)}</a>
              </h2>
              {w.description ? (
                <p class="small" style="margin:0;overflow-wrap:anywhere">
                  <code>{w.url}</code>
                </p>
              ) : null}
              <p class="meta">
                <WebhookState w={w} />
                <span>
                  Events: <code>{w.events.join(", ")}</code>
                </span>
              </p>
              <p class="meta muted">
                <span>
                  Success (24 h): <strong>{stats?.success_rate === null || !stats ? "no deliveries" : `${Math.round(stats.success_rate * 1000) / 10}%`}</strong>
                  {stats && stats.total > 0 ? ` of ${stats.delivered + stats.failed} finished` : ""}
                </span>
                <span>
                  Last delivery:{" "}
                  {last ? (
                    <>
                      <StatusBadge status={last.status} /> <Time iso={last.created_at} now={ctx.now} />
                    </>
                  ) : (
                    "none yet"
                  )}
                </span>
              </p>
            </li>
          ))}
        </ul>
      )}
      <div class="actions">
        {props.paged ? <a href="/">First page</a> : null}
        {props.nextCursor ? <a href={`/?cursor=${encodeURIComponent(props.nextCursor)}`}>More webhooks →</a> : null}
      </div>
      <details>
        <summary>Testing on your own machine?</summary>
        <p>
          Run <code>npm run listen -- --port 4000 --secret whsec_…</code> in the BroxiAI Webhooks repository, point a webhook at{" "}
          <code>http://127.0.0.1:4000/</code> (allowed when <code>ALLOW_PRIVATE_DESTINATIONS=true</code>, the local default), and send a test event: the
          listener checks each signature and prints the event.
        </p>
      </details>
    </Layout>
  );
}

/** Add a webhook, or edit one: the same form. */
export function WebhookFormPage(props: { ctx: PageCtx; mode: "create" | "edit"; webhook?: WebhookView; values: FormValues; errors: FormErrors }) {
  const { ctx, webhook } = props;
  const title = props.mode === "create" ? "Add webhook" : "Edit webhook";
  const crumbs: [string | null, string][] = webhook
    ? [
        ["/", "Webhooks"],
        [`/webhooks/${webhook.id}`, webhookName(webhook)],
        [null, "Edit"],
      ]
    : [
        ["/", "Webhooks"],
        [null, "Add webhook"],
      ];
  return (
    <Layout title={title} signedIn={ctx}>
      <Crumbs items={crumbs} />
      <h1>{title}</h1>
      <WebhookForm
        mode={props.mode}
        action={webhook ? `/webhooks/${webhook.id}/edit` : "/webhooks/new"}
        values={props.values}
        errors={props.errors}
        csrf={ctx.csrf}
        cancelHref={webhook ? `/webhooks/${webhook.id}` : "/"}
      />
    </Layout>
  );
}

function Snippets(props: { webhook: WebhookView; publicKey?: string | null }) {
  const list = props.webhook.signing === "ed25519" ? ed25519Snippets(props.publicKey ?? props.webhook.public_key ?? "whpk_…") : hmacSnippets();
  return (
    <>
      {list.map((s, i) => (
        <details open={i === 0}>
          <summary>{s.language}</summary>
          <CopyBlock id={`snippet-${i}`} label={`${s.language} sample`} text={s.code} code={false} />
        </details>
      ))}
    </>
  );
}

/** After create or rotate: the secret (or public key), shown this once, with code that verifies deliveries. */
export function SecretPage(props: { ctx: PageCtx; webhook: WebhookView; rotated: boolean; graceHours: number }) {
  const { webhook: w, ctx } = props;
  const isKey = w.signing === "ed25519";
  const value = isKey ? (w.public_key ?? "") : (w.secret ?? "");
  return (
    <Layout title={props.rotated ? "New signing key" : "Webhook added"} signedIn={ctx}>
      <Crumbs
        items={[
          ["/", "Webhooks"],
          [`/webhooks/${w.id}`, webhookName(w)],
          [null, props.rotated ? "New signing key" : "Added"],
        ]}
      />
      <h1>{props.rotated ? "The signing key was rotated" : "Webhook added"}</h1>
      <Flash kind="ok">
        {props.rotated
          ? `The previous key keeps signing beside the new one for ${props.graceHours} hours, so you can switch your receiver without missing a delivery.`
          : `Deliveries to ${w.url} start with the next matching event.`}
      </Flash>
      <h2>{isKey ? "Public key" : "Signing secret"}</h2>
      {isKey ? (
        <p>Verify each delivery's v1a signature with this public key. It is not a secret, and it stays visible on the webhook's page.</p>
      ) : (
        <p>
          <strong>Copy it now: this is the only time it is shown.</strong> Store it in your receiver's secret store; if it is lost, rotate it from the webhook's
          page.
        </p>
      )}
      <CopyBlock id="secret" label={isKey ? "public key" : "signing secret"} text={value} />
      <h2>Verify deliveries</h2>
      <p>
        Each request carries <code>webhook-id</code>, <code>webhook-timestamp</code> and <code>webhook-signature</code> (Standard Webhooks). Check the signature
        over the raw body and refuse timestamps older than 5 minutes.
      </p>
      <Snippets webhook={w} publicKey={w.public_key} />
      <div class="actions">
        <a class="btn" href={`/webhooks/${w.id}`}>
          Continue to the webhook
        </a>
      </div>
    </Layout>
  );
}

/** The delivery-log filters, cursor and test result the webhook page was asked for. */
export interface LogQuery {
  status?: string;
  event_type?: string;
  cursor?: string;
}

function logHref(webhookId: string, q: LogQuery): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) params.set(k, v);
  const s = params.toString();
  return `/webhooks/${webhookId}${s ? `?${s}` : ""}#deliveries`;
}

function TestResult(props: { delivery: DeliveryView & { attempts: AttemptView[] }; now: number }) {
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

function Summary(props: { w: WebhookView }) {
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
        <WebhookState w={w} />
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
      {w.disabled_reason ? (
        <Flash kind="error">
          Deliveries are held because this webhook was disabled: {w.disabled_reason}. Fix the endpoint, then enable it again; held deliveries resume.
        </Flash>
      ) : null}
      {props.test ? <TestResult delivery={props.test} now={ctx.now} /> : null}

      <Summary w={w} />

      <div class="actions">
        <a class="btn secondary" href={`/webhooks/${w.id}/edit`}>
          Edit settings
        </a>
        <form method="post" action={`/webhooks/${w.id}/active`}>
          <CsrfField token={ctx.csrf} />
          <input type="hidden" name="active" value={w.active && !w.disabled_reason ? "false" : "true"} />
          <button type="submit" class="secondary">
            {w.disabled_reason ? "Enable again" : w.active ? "Deactivate" : "Activate"}
          </button>
        </form>
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

      <h2 id="deliveries">Deliveries</h2>
      <form method="get" action={`/webhooks/${w.id}`} class="filters" aria-label="Filter deliveries">
        <div class="field">
          <label for="log-status">Status</label>
          <select id="log-status" name="status">
            <option value="">Any</option>
            {DELIVERY_STATUSES.map((s) => (
              <option value={s} selected={query.status === s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="log-type">Event type</label>
          <select id="log-type" name="event_type">
            <option value="">Any</option>
            {["webhook.test", ...EVENT_TYPES.filter((t) => t !== "webhook.test")].map((t) => (
              <option value={t} selected={query.event_type === t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="secondary">
          Show
        </button>
        <a href={logHref(w.id, {})}>Reload</a>
      </form>
      {log.data.length === 0 ? (
        <p>{query.status || query.event_type ? "No deliveries match these filters." : "No deliveries yet. Send a test event to see one here."}</p>
      ) : (
        <section class="table-wrap" aria-label="Delivery log" tabindex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Delivery</th>
                <th scope="col">Status</th>
                <th scope="col">Event type</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last response</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {log.data.map((d) => (
                <tr>
                  <td>
                    <a href={`/deliveries/${d.id}`}>
                      <code>{d.id}</code>
                    </a>
                  </td>
                  <td>
                    <StatusBadge status={d.status} />
                    {d.status === "pending" && d.next_attempt_at ? (
                      <span class="small muted">
                        {" "}
                        next <Time iso={d.next_attempt_at} now={ctx.now} />
                      </span>
                    ) : null}
                  </td>
                  <td>
                    <code>{d.event_type}</code>
                  </td>
                  <td>{d.attempt_count}</td>
                  <td>
                    {d.attempt_count > 0 ? <CodeBadge code={d.last_status_code} error={d.last_error} /> : <span class="muted">—</span>}
                    {d.last_error ? <span class="small"> {d.last_error}</span> : null}
                  </td>
                  <td>
                    <Time iso={d.created_at} now={ctx.now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <div class="actions">
        {query.cursor ? <a href={logHref(w.id, { ...query, cursor: undefined })}>← Newest</a> : null}
        {log.next_cursor ? <a href={logHref(w.id, { ...query, cursor: log.next_cursor })}>Older deliveries →</a> : null}
      </div>

      <h3>Replay failed deliveries</h3>
      <form method="post" action={`/webhooks/${w.id}/replay`} class="filters">
        <CsrfField token={ctx.csrf} />
        <div class="field">
          <label for="replay-since">Deliveries created in the last</label>
          <select id="replay-since" name="since">
            <option value="1">hour</option>
            <option value="24" selected>
              24 hours
            </option>
            <option value="168">7 days</option>
            <option value="720">30 days</option>
          </select>
        </div>
        <button type="submit" class="secondary">
          Replay failed
        </button>
      </form>
      <p class="small muted">Each failed delivery is queued again with its original id and sequence number, so receivers can tell it is the same event.</p>

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

function HeaderTable(props: { label: string; headers: Record<string, string> | null }) {
  const entries = Object.entries(props.headers ?? {});
  if (entries.length === 0) return <p class="muted">(none)</p>;
  return (
    <section class="table-wrap" aria-label={props.label} tabindex={0}>
      <table>
        <tbody>
          {entries.map(([k, v]) => (
            <tr>
              <th scope="row">{k}</th>
              <td style="overflow-wrap:anywhere">
                <code>{v}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** One delivery with every attempt, request and response. */
export function DeliveryPage(props: { ctx: PageCtx; delivery: DeliveryView & { attempts: AttemptView[] }; webhook: WebhookView | null; notice: Notice }) {
  const { ctx, delivery: d, webhook: w } = props;
  const info = catalog.get(d.event_type);
  return (
    <Layout title={`Delivery ${d.id}`} signedIn={ctx}>
      <Crumbs
        items={[
          ["/", "Webhooks"],
          [w ? `/webhooks/${w.id}` : null, w ? webhookName(w) : d.webhook_id],
          [null, d.id],
        ]}
      />
      <h1>
        Delivery <code>{d.id}</code>
      </h1>
      <NoticeBox notice={props.notice} />
      <dl class="props">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={d.status} />
          {d.status === "pending" && d.next_attempt_at ? (
            <span>
              {" "}
              next attempt <Time iso={d.next_attempt_at} now={ctx.now} />
            </span>
          ) : null}
        </dd>
        <dt>Event</dt>
        <dd>
          <code>{d.event_type}</code> <code class="small">{d.event_id}</code>
          {info ? <span class="hint">{info.description}</span> : null}
        </dd>
        <dt>Attempts</dt>
        <dd>{d.attempt_count}</dd>
        <dt>Created</dt>
        <dd>
          <Time iso={d.created_at} now={ctx.now} exact />
        </dd>
        <dt>Delivered</dt>
        <dd>
          <Time iso={d.delivered_at} now={ctx.now} exact />
        </dd>
        {d.last_error ? (
          <>
            <dt>Last error</dt>
            <dd>{d.last_error}</dd>
          </>
        ) : null}
      </dl>
      <div class="actions">
        <form method="post" action={`/deliveries/${d.id}/retry`}>
          <CsrfField token={ctx.csrf} />
          <button type="submit">Retry now</button>
        </form>
        <a href={`/deliveries/${d.id}`}>Reload</a>
      </div>
      {d.attempts.length === 0 ? <p>No attempt has been made yet.</p> : null}
      {d.attempts.map((a) => (
        <section aria-labelledby={`attempt-${a.number}`}>
          <h2 id={`attempt-${a.number}`}>
            Attempt {a.number}: <CodeBadge code={a.status_code} error={a.error} />
          </h2>
          <dl class="props">
            <dt>Started</dt>
            <dd>
              <Time iso={a.started_at} now={ctx.now} exact />
            </dd>
            <dt>Duration</dt>
            <dd>{fmtMs(a.duration_ms)}</dd>
            <dt>Response status</dt>
            <dd>{a.status_code ?? "none"}</dd>
            {a.error ? (
              <>
                <dt>Error</dt>
                <dd>{a.error}</dd>
              </>
            ) : null}
          </dl>
          <h3>Request headers</h3>
          <HeaderTable label={`Attempt ${a.number} request headers`} headers={a.request_headers} />
          <h3>Request body</h3>
          <pre>{pretty(a.request_body)}</pre>
          <h3>Response headers</h3>
          <HeaderTable label={`Attempt ${a.number} response headers`} headers={a.response_headers} />
          <h3>Response body</h3>
          <pre>{pretty(a.response_body)}</pre>
        </section>
      ))}
    </Layout>
  );
}

/** A page for a problem the person can do something about (or at least read). */
export function ErrorPage(props: { title: string; children: Child; signedIn?: PageCtx }) {
  return (
    <Layout title={props.title} signedIn={props.signedIn}>
      <h1>{props.title}</h1>
      <Flash kind="error">{props.children}</Flash>
      <p>
        <a href="/">Back to webhooks</a>
      </p>
    </Layout>
  );
}
