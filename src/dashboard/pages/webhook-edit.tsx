import type { WebhookView } from "../api";
import { WebhookForm } from "../form";
import { Layout } from "../layout";
import type { FormErrors, FormValues } from "../webhook-form";
import { Crumbs, webhookName } from "./parts";
import type { PageCtx } from "./types";

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
