import type { Hono } from "hono";
import { type Api, ApiError, type AttemptView, type DeliveryView, type WebhookView } from "./api";
import { type Ctx, type DashEnv, enc, idParam, noticeOf, type RouteKit, render } from "./kit";
import { DeliveryPage, type Notice } from "./pages";
import type { Session } from "./session";

/** One delivery with every attempt, and its retry. */
export function deliveryRoutes(app: Hono<DashEnv>, kit: RouteKit): void {
  const { pageCtx, view, action } = kit;

  /** The delivery page, for a GET or to show why a retry was refused. */
  async function deliveryPage(c: Ctx, s: Session, api: Api, id: string, notice: Notice, status: 200 | 409 = 200): Promise<Response> {
    const delivery = await api.get<DeliveryView & { attempts: AttemptView[] }>(`/v1/deliveries/${enc(id)}`);
    const webhook = await api.get<WebhookView>(`/v1/webhooks/${enc(delivery.webhook_id)}`).catch(() => null);
    return render(c, <DeliveryPage ctx={pageCtx(s)} delivery={delivery} webhook={webhook} notice={notice} />, status);
  }

  app.get(
    "/deliveries/:id",
    view(async (c, s, api) => deliveryPage(c, s, api, idParam(c), noticeOf(c))),
  );

  app.post(
    "/deliveries/:id/retry",
    action(async (c, s, api) => {
      const id = idParam(c);
      try {
        await api.send("POST", `/v1/deliveries/${enc(id)}/retry`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) return deliveryPage(c, s, api, id, { kind: "error", text: err.detail }, 409);
        throw err;
      }
      return c.redirect(`/deliveries/${enc(id)}?done=retried`, 303);
    }),
  );
}
