// The webhook page's delivery log: filters, the table, paging and the replay of failed deliveries.
import { EVENT_TYPES } from "../../events/catalog";
import type { DeliveryView, Page, WebhookView } from "../api";
import { CodeBadge, CsrfField, StatusBadge, Time } from "../layout";
import type { LogQuery, PageCtx } from "./types";

const DELIVERY_STATUSES = ["pending", "delivered", "failed", "cancelled", "expired"] as const;

function logHref(webhookId: string, q: LogQuery): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) params.set(k, v);
  const s = params.toString();
  return `/webhooks/${webhookId}${s ? `?${s}` : ""}#deliveries`;
}

/** The log section of the webhook page, under its "Deliveries" heading. */
export function DeliveryLog(props: { ctx: PageCtx; webhook: WebhookView; log: Page<DeliveryView>; query: LogQuery }) {
  const { ctx, webhook: w, log, query } = props;
  return (
    <>
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
    </>
  );
}
