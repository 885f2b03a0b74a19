import type { Hono } from "hono";
import { config } from "../config";
import { type Api, ApiError, type AttemptView, type DeliveryView, type Page, type StatsView, type TestView, type WebhookView } from "./api";
import { hourlyBuckets } from "./chart-data";
import { OFFERED_EVENTS } from "./form";
import { type Ctx, type DashEnv, enc, fieldErrors, idParam, noticeOf, type RouteKit, render } from "./kit";
import { type LogQuery, type Notice, SecretPage, WebhookFormPage, WebhookPage } from "./pages";
import type { Session } from "./session";
import { emptyValues, type FormErrors, toRequestBody, valuesFromForm, valuesFromWebhook } from "./webhook-form";

const STATUSES = new Set(["pending", "delivered", "failed", "cancelled", "expired"]);
/** Deliveries read for the 24-hour charts, at most (the stats route counts all of them for the totals). */
const CHART_LIMIT = 1000;
const LOG_PAGE = 25;

/** The webhook pages: add, show (settings, health, log), edit, and the actions on one (enable, rotate, test, replay, delete). */
export function webhookRoutes(app: Hono<DashEnv>, kit: RouteKit): void {
  const { pageCtx, view, action } = kit;

  app.get(
    "/webhooks/new",
    view(async (c, s) => render(c, <WebhookFormPage ctx={pageCtx(s)} mode="create" values={emptyValues()} errors={{}} />)),
  );

  app.post(
    "/webhooks/new",
    action(async (c, s, api, form) => {
      const values = valuesFromForm(form);
      const { body, errors } = toRequestBody(values, "create");
      const again = (errs: FormErrors) => render(c, <WebhookFormPage ctx={pageCtx(s)} mode="create" values={values} errors={errs} />, 422);
      if (Object.keys(errors).length > 0) return again(errors);
      let created: WebhookView;
      try {
        created = await api.send<WebhookView>("POST", "/v1/webhooks", body);
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) return again(fieldErrors(err));
        throw err;
      }
      return render(c, <SecretPage ctx={pageCtx(s)} webhook={created} rotated={false} graceHours={config(c.env).SECRET_ROTATION_GRACE_HOURS} />);
    }),
  );

  app.get(
    "/webhooks/:id",
    view(async (c, s, api) => webhookPage(c, s, api, idParam(c), noticeOf(c))),
  );

  /** The webhook page, for a GET or to show what went wrong with an action on it. */
  async function webhookPage(c: Ctx, s: Session, api: Api, id: string, notice: Notice, status: 200 | 409 | 422 = 200): Promise<Response> {
    const now = Date.now();
    const status_ = c.req.query("status");
    const query: LogQuery = {
      status: status_ && STATUSES.has(status_) ? status_ : undefined,
      event_type: c.req.query("event_type") || undefined,
      cursor: c.req.query("cursor") || undefined,
    };
    const logParams = new URLSearchParams({ limit: String(LOG_PAGE) });
    for (const [k, v] of Object.entries(query)) if (v) logParams.set(k, v);
    const base = `/v1/webhooks/${enc(id)}`;
    const testId = c.req.query("test");
    const [webhook, stats, log, recent, test] = await Promise.all([
      api.get<WebhookView>(base),
      api.get<StatsView>(`${base}/stats?window=24h`),
      api.get<Page<DeliveryView>>(`${base}/deliveries?${logParams}`),
      recentDeliveries(api, base, now),
      testId ? api.get<DeliveryView & { attempts: AttemptView[] }>(`/v1/deliveries/${enc(testId)}`).catch(() => null) : null,
    ]);
    return render(
      c,
      <WebhookPage
        ctx={{ csrf: s.csrf, now }}
        webhook={webhook}
        stats={stats}
        buckets={hourlyBuckets(recent.data, now)}
        truncatedAt={recent.truncated ? recent.data.length : null}
        log={log}
        query={query}
        test={test}
        notice={notice}
        graceHours={config(c.env).SECRET_ROTATION_GRACE_HOURS}
        failingAfter={config(c.env).FAILING_ALERT_AFTER}
      />,
      status,
    );
  }

  app.get(
    "/webhooks/:id/edit",
    view(async (c, s, api) => {
      const webhook = await api.get<WebhookView>(`/v1/webhooks/${enc(idParam(c))}`);
      return render(c, <WebhookFormPage ctx={pageCtx(s)} mode="edit" webhook={webhook} values={valuesFromWebhook(webhook, OFFERED_EVENTS)} errors={{}} />);
    }),
  );

  app.post(
    "/webhooks/:id/edit",
    action(async (c, s, api, form) => {
      const path = `/v1/webhooks/${enc(idParam(c))}`;
      const webhook = await api.get<WebhookView>(path);
      const values = valuesFromForm(form);
      const { body, errors } = toRequestBody(values, "edit");
      const again = (errs: FormErrors) => render(c, <WebhookFormPage ctx={pageCtx(s)} mode="edit" webhook={webhook} values={values} errors={errs} />, 422);
      if (Object.keys(errors).length > 0) return again(errors);
      try {
        await api.send("PATCH", path, body);
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) return again(fieldErrors(err));
        throw err;
      }
      return c.redirect(`/webhooks/${enc(webhook.id)}?done=saved`, 303);
    }),
  );

  app.post(
    "/webhooks/:id/active",
    action(async (c, _s, api, form) => {
      const id = idParam(c);
      const active = form.active === "true";
      // Enabling a webhook that is off asks what becomes of what it held: the banner's two buttons.
      const held = active && (form.held === "deliver" || form.held === "discard") ? form.held : undefined;
      const before = held === "discard" ? await api.get<WebhookView>(`/v1/webhooks/${enc(id)}`) : null;
      await api.send("PATCH", `/v1/webhooks/${enc(id)}`, held ? { active, held } : { active });
      const done = held === "discard" ? `discarded&n=${before?.held?.count ?? 0}` : active ? "activated" : "deactivated";
      return c.redirect(`/webhooks/${enc(id)}?done=${done}`, 303);
    }),
  );

  app.post(
    "/webhooks/:id/rotate",
    action(async (c, s, api, form) => {
      const signing = form.signing === "hmac" || form.signing === "ed25519" ? form.signing : undefined;
      const rotated = await api.send<WebhookView>("POST", `/v1/webhooks/${enc(idParam(c))}/rotate-secret`, signing ? { signing } : {});
      return render(c, <SecretPage ctx={pageCtx(s)} webhook={rotated} rotated={true} graceHours={config(c.env).SECRET_ROTATION_GRACE_HOURS} />);
    }),
  );

  app.post(
    "/webhooks/:id/test",
    action(async (c, s, api, form) => {
      const id = idParam(c);
      const type = typeof form.type === "string" && form.type ? form.type : "webhook.test";
      let result: TestView;
      try {
        result = await api.send<TestView>("POST", `/v1/webhooks/${enc(id)}/test`, { type });
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) return webhookPage(c, s, api, id, { kind: "error", text: err.detail }, 422);
        throw err;
      }
      // Redirect (so a reload does not send another) to the page, which shows the logged request and response.
      return c.redirect(`/webhooks/${enc(id)}?test=${enc(result.delivery_id)}#test-result-title`, 303);
    }),
  );

  app.post(
    "/webhooks/:id/replay",
    action(async (c, s, api, form) => {
      const id = idParam(c);
      const hours = Math.min(720, Math.max(1, Number(form.since) || 24));
      let replayed: number;
      try {
        ({ replayed } = await api.send<{ replayed: number }>("POST", `/v1/webhooks/${enc(id)}/replay`, {
          since: new Date(Date.now() - hours * 3_600_000).toISOString(),
        }));
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) return webhookPage(c, s, api, id, { kind: "error", text: err.detail }, 422);
        throw err;
      }
      return c.redirect(`/webhooks/${enc(id)}?done=replayed&n=${replayed}#deliveries`, 303);
    }),
  );

  app.post(
    "/webhooks/:id/delete",
    action(async (c, _s, api) => {
      await api.send("DELETE", `/v1/webhooks/${enc(idParam(c))}`);
      return c.redirect("/?done=deleted", 303);
    }),
  );
}

/** The deliveries created in the last 24 hours, newest first, up to CHART_LIMIT. */
async function recentDeliveries(api: Api, base: string, now: number): Promise<{ data: DeliveryView[]; truncated: boolean }> {
  const since = now - 86_400_000;
  const data: DeliveryView[] = [];
  let cursor: string | null = null;
  while (data.length < CHART_LIMIT) {
    const page: Page<DeliveryView> = await api.get(`${base}/deliveries?limit=200${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    const fresh = page.data.filter((d) => Date.parse(d.created_at) >= since);
    data.push(...fresh);
    if (!page.next_cursor || fresh.length < page.data.length) return { data, truncated: false };
    cursor = page.next_cursor;
  }
  return { data, truncated: true };
}
