// The dashboard's pages, one module each (the routes import them from here).
export { DeliveryPage } from "./delivery";
export { ErrorPage } from "./error";
export { attentionRank } from "./parts";
export { SecretPage } from "./secret";
export { SignInPage } from "./sign-in";
export type { LogQuery, Notice, PageCtx, WebhookSummary } from "./types";
export { WebhookPage } from "./webhook";
export { WebhookFormPage } from "./webhook-edit";
export { WebhookListPage } from "./webhook-list";
