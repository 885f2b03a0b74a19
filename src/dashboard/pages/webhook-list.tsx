import { Layout, StatusBadge, Time } from "../layout";
import { NoticeBox, WebhookState, webhookName } from "./parts";
import type { Notice, PageCtx, WebhookSummary } from "./types";

/** The share delivered of the deliveries finished in the window, in words. */
function successRate(stats: WebhookSummary["stats"]): string {
  if (!stats || stats.total === 0) return "no deliveries";
  if (stats.success_rate === null) return `none finished yet (${stats.pending} pending)`;
  return `${Math.round(stats.success_rate * 1000) / 10}%`;
}

/** Settings → Webhooks: every webhook of the account. */
export function WebhookListPage(props: {
  ctx: PageCtx;
  items: WebhookSummary[];
  /** FAILING_ALERT_AFTER, for the failing badge. */
  failingAfter: number;
  nextCursor: string | null;
  paged: boolean;
  notice: Notice;
}) {
  const { ctx } = props;
  return (
    <Layout title="Webhooks" signedIn={ctx}>
      <h1>Webhooks</h1>
      <NoticeBox notice={props.notice} />
      <p>
        BroxiAI sends an HTTPS POST, signed, to each endpoint below when a subscribed event happens in your workflows. Those that need you (disabled, failing,
        inactive) come first.
      </p>
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
                <WebhookState w={w} failingAfter={props.failingAfter} />
                <span>
                  Events: <code>{w.events.join(", ")}</code>
                </span>
              </p>
              <p class="meta muted">
                <span>
                  Success (24 h): <strong>{successRate(stats)}</strong>
                  {stats && stats.success_rate !== null ? ` of ${stats.delivered + stats.failed} finished` : ""}
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
