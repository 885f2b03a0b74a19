// Pieces several pages share: the notice box, breadcrumbs, a webhook's name and state, bodies pretty-printed, and
// the verification snippets.

import type { WebhookView } from "../api";
import { CopyBlock, Flash } from "../layout";
import { ed25519Snippets, hmacSnippets } from "../snippets";
import type { Notice } from "./types";

/** The flash message a redirect left for this page, if any. */
export function NoticeBox(props: { notice: Notice }) {
  return props.notice ? <Flash kind={props.notice.kind}>{props.notice.text}</Flash> : null;
}

/** The breadcrumb trail; the last item, without a link, is the current page. */
export function Crumbs(props: { items: [href: string | null, label: string][] }) {
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

/** What a webhook is called on the pages: its description, or its URL when it has none. */
export function webhookName(w: Pick<WebhookView, "description" | "url">): string {
  return w.description || w.url;
}

/** Active, failing, inactive or disabled (with the reason), in words; and what a webhook that is off holds. */
export function WebhookState(props: { w: WebhookView; failingAfter?: number }) {
  const { w } = props;
  const held = w.held?.count ? <span class="small"> {plural(w.held.count, "delivery", "deliveries")} held</span> : null;
  if (w.disabled_reason)
    return (
      <span>
        <span class="badge bad">Disabled</span> <span class="small">{w.disabled_reason}</span>
        {held}
      </span>
    );
  if (!w.active)
    return (
      <span>
        <span class="badge">Inactive</span>
        {held}
      </span>
    );
  if (props.failingAfter !== undefined && isFailing(w, props.failingAfter))
    return (
      <span>
        <span class="badge bad">Failing</span>{" "}
        <span class="small">{plural(w.failing!.consecutive_failures, "failed attempt", "failed attempts")} in a row</span>
      </span>
    );
  return <span class="badge ok">Active</span>;
}

/** "1 delivery", "3 deliveries". */
export function plural(n: number, one: string, many: string): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** A request or response body, indented when it is JSON and shown as it came otherwise. */
export function pretty(body: string | null): string {
  if (body === null || body === "") return "(empty)";
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** Code that verifies this webhook's signatures, one sample per language, the first open. */
export function Snippets(props: { webhook: WebhookView; publicKey?: string | null }) {
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

/** Whether a webhook counts as failing on the pages: as many failed attempts in a row as make a webhook.failing alert. */
export function isFailing(w: WebhookView, failingAfter: number): boolean {
  return !!w.failing && w.failing.consecutive_failures >= failingAfter && !w.disabled_reason && w.active;
}

/** How urgently a webhook needs a person, for the list's order: disabled, failing, inactive, then the rest. */
export function attentionRank(w: WebhookView, failingAfter: number): number {
  if (w.disabled_reason) return 0;
  if (isFailing(w, failingAfter)) return 1;
  return w.active ? 3 : 2;
}
