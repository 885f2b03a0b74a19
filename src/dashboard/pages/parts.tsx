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

/** Active, inactive or disabled (with the reason), in words. */
export function WebhookState(props: { w: WebhookView }) {
  const { w } = props;
  if (w.disabled_reason)
    return (
      <span>
        <span class="badge bad">Disabled</span> <span class="small">{w.disabled_reason}</span>
      </span>
    );
  return w.active ? <span class="badge ok">Active</span> : <span class="badge">Inactive</span>;
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
