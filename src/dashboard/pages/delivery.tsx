import { catalog } from "../../events/catalog";
import type { AttemptView, DeliveryView, WebhookView } from "../api";
import { fmtMs } from "../chart";
import { CodeBadge, CsrfField, Layout, StatusBadge, Time } from "../layout";
import { Crumbs, NoticeBox, pretty, webhookName } from "./parts";
import type { Notice, PageCtx } from "./types";

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
