import { Hono } from "hono";
import { config } from "../config";
import { ApiError, type ApiFetch, apiClient, type DeliveryView, type Page, type StatsView, type WebhookView } from "./api";
import { deliveryRoutes } from "./delivery-routes";
import { type DashEnv, enc, noticeOf, render, routeKit } from "./kit";
import { attentionRank, ErrorPage, SignInPage, WebhookListPage } from "./pages";
import { endSession, fromOurOrigin, readSession, startSession } from "./session";
import { webhookRoutes } from "./webhook-routes";

const WEBHOOKS_PER_PAGE = 20;

const HERE = "https://dashboard.invalid";

/**
 * Only a path of this site may be the post-sign-in destination, so the sign-in form cannot send a person elsewhere.
 * Browsers drop tabs and line breaks from a URL and read a backslash as "/", so "/\t/evil.example" would lead to
 * //evil.example: the path must be printable ASCII without a backslash, must not begin with "//", and must resolve,
 * as a browser resolves it, to this origin.
 */
function safeNext(next: unknown): string {
  if (typeof next !== "string" || next.length > 2048 || !/^\/(?!\/)[\x21-\x5b\x5d-\x7e]*$/.test(next)) return "/";
  try {
    return new URL(next, HERE).origin === HERE ? next : "/";
  } catch {
    return "/";
  }
}

/**
 * The dashboard (Settings → Webhooks), server-rendered. It calls the public API in-process through `fetchApi`
 * with the signed-in key, so authentication, the key's IP allowlist and every validation rule are the API's own.
 */
export function dashboardRoutes(fetchApi: ApiFetch) {
  const app = new Hono<DashEnv>();

  const kit = routeKit(fetchApi);
  const { pageCtx, client, forbidden } = kit;

  app.get("/", async (c) => {
    const s = await readSession(c);
    if (!s) return render(c, <SignInPage notice={noticeOf(c)} />);
    const api = client(c, s);
    const cursor = c.req.query("cursor");
    const page = await api.get<Page<WebhookView>>(`/v1/webhooks?limit=${WEBHOOKS_PER_PAGE}${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    // Health at a glance is a nicety: a webhook whose numbers cannot be read right now still gets its row.
    const items = await Promise.all(
      page.data.map(async (webhook) => {
        const [stats, last] = await Promise.all([
          api.get<StatsView>(`/v1/webhooks/${enc(webhook.id)}/stats?window=24h`).catch(() => null),
          api
            .get<Page<DeliveryView>>(`/v1/webhooks/${enc(webhook.id)}/deliveries?limit=1`)
            .then((p) => p.data[0] ?? null)
            .catch(() => null),
        ]);
        return { webhook, stats, last };
      }),
    );
    // Failing ones first (the disabled, then those failing, then the inactive), each group in the API's order.
    const failingAfter = config(c.env).FAILING_ALERT_AFTER;
    const ranked = items.map((item, i) => ({ item, i, rank: attentionRank(item.webhook, failingAfter) }));
    ranked.sort((a, b) => a.rank - b.rank || a.i - b.i);
    return render(
      c,
      <WebhookListPage
        ctx={pageCtx(s)}
        items={ranked.map((r) => r.item)}
        failingAfter={failingAfter}
        nextCursor={page.next_cursor}
        paged={Boolean(cursor)}
        notice={noticeOf(c)}
      />,
    );
  });

  app.post("/sign-in", async (c) => {
    if (!(await fromOurOrigin(c))) return forbidden(c);
    const form = await c.req.parseBody();
    const key = typeof form.key === "string" ? form.key.trim() : "";
    const next = safeNext(form.next);
    if (!key) return render(c, <SignInPage next={next} error="Enter your account API key." />, 422);
    try {
      // The API itself judges the key (known, not revoked, this address allowed); a key it refuses never becomes a session.
      await apiClient(c, fetchApi, key).get("/v1/webhooks?limit=1");
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403))
        return render(c, <SignInPage next={next} error={err.detail} />, err.status === 401 ? 422 : 403);
      throw err;
    }
    await startSession(c, key);
    return c.redirect(next, 303);
  });

  app.post("/sign-out", async (c) => {
    if (!(await fromOurOrigin(c))) return forbidden(c);
    endSession(c);
    return c.redirect("/?done=signed_out", 303);
  });

  webhookRoutes(app, kit);
  deliveryRoutes(app, kit);

  app.onError(async (err, c) => {
    if (err instanceof ApiError) {
      // The key was revoked (or the session outlived it): the cookie is worthless, so drop it and ask again.
      if (err.status === 401) {
        endSession(c);
        return c.redirect("/?done=expired", 303);
      }
      if (err.status === 403) return render(c, <ErrorPage title="Not allowed from this address">{err.detail}</ErrorPage>, 403);
      if (err.status === 404) return render(c, <ErrorPage title="Not found">{err.detail}</ErrorPage>, 404);
      return render(c, <ErrorPage title="That did not work">{err.detail}</ErrorPage>, err.status === 409 ? 409 : err.status >= 500 ? 503 : 422);
    }
    console.error("dashboard error", c.req.method, c.req.path, err instanceof Error ? (err.stack ?? err.message) : String(err));
    return render(
      c,
      <ErrorPage title="Something went wrong">Something went wrong on our side; it has been logged. Reload the page to try again.</ErrorPage>,
      500,
    );
  });

  return app;
}
