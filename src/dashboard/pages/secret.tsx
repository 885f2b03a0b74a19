import type { WebhookView } from "../api";
import { CopyBlock, Flash, Layout } from "../layout";
import { Crumbs, Snippets, webhookName } from "./parts";
import type { PageCtx } from "./types";

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
