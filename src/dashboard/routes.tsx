import { type Context, Hono } from "hono";
import { config, type Env } from "../config";
import {
  type Api,
  ApiError,
  type ApiFetch,
  type AttemptView,
  apiClient,
  type DeliveryView,
  type Page,
  type StatsView,
  type TestView,
  type WebhookView,
} from "./api";
import { hourlyBuckets } from "./chart-data";
import { OFFERED_EVENTS } from "./form";
import {
  DeliveryPage,
  ErrorPage,
  type LogQuery,
  type Notice,
  type PageCtx,
  SecretPage,
  SignInPage,
  WebhookFormPage,
  WebhookListPage,
  WebhookPage,
} from "./pages";
import { endSession, fromOurOrigin, hasCsrfToken, readSession, type Session, startSession } from "./session";
import { emptyValues, type FormErrors, placeErrors, toRequestBody, valuesFromForm, valuesFromWebhook } from "./webhook-form";

type DashEnv = { Bindings: Env };
type Ctx = Context<DashEnv>;
type Form = Record<string, unknown>;

const STATUSES = new Set(["pending", "delivered", "failed", "cancelled", "expired"]);
/** Deliveries read for the 24-hour charts, at most (the stats route counts all of them for the totals). */
const CHART_LIMIT = 1000;
const WEBHOOKS_PER_PAGE = 20;
const LOG_PAGE = 25;

const enc = encodeURIComponent;

// Outcomes of actions travel back through the redirect as fixed codes, never as text from the query string, so a
// crafted link cannot make the dashboard display words of someone else's choosing.
const NOTICES: Record<string, (n: string | undefined) => Notice> = {
  saved: () => ({ kind: "ok", text: "Changes saved. They apply from the next attempt, retries included." }),
  activated: () => ({ kind: "ok", text: "The webhook is active. Held deliveries resume." }),
  deactivated: () => ({ kind: "ok", text: "The webhook is inactive. New deliveries are held, not dropped, until it is activated again." }),
  deleted: () => ({ kind: "ok", text: "The webhook was deleted and its pending deliveries cancelled." }),
  retried: () => ({ kind: "ok", text: "The delivery was queued again and is being sent now. Reload to see the new attempt." }),
  replayed: (n) => ({
    kind: "ok",
    text: `${Number(n) || 0} failed ${Number(n) === 1 ? "delivery was" : "deliveries were"} queued again. Reload the log to follow them.`,
  }),
  signed_out: () => ({ kind: "info", text: "You are signed out." }),
  expired: () => ({ kind: "info", text: "Your session ended (it expired, or the key was revoked). Sign in again." }),
};

function noticeOf(c: Ctx): Notice {
  const code = c.req.query("done");
  return code && NOTICES[code] ? NOTICES[code](c.req.query("n")) : null;
}

async function render(c: Ctx, node: { toString(): string | Promise<string> }, status: 200 | 403 | 404 | 409 | 422 | 500 | 503 = 200): Promise<Response> {
  // Pages hold account data and, once, signing secrets: no cache, shared or private, may keep them.
  c.header("cache-control", "no-store");
  // A JSX tree renders to a string, or to a promise of one when a component is async.
  return c.html(`<!doctype html>${await node.toString()}`, status);
}

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

  const pageCtx = (s: Session): PageCtx => ({ csrf: s.csrf, now: Date.now() });
  const client = (c: Ctx, s: Session) => apiClient(c, fetchApi, s.key);

  /** A page that needs a signed-in person; others go to sign in and come back. */
  const view = (h: (c: Ctx, s: Session, api: Api) => Promise<Response>) => async (c: Ctx) => {
    const s = await readSession(c);
    if (!s) {
      const url = new URL(c.req.url);
      return render(c, <SignInPage next={url.pathname + url.search} />);
    }
    return h(c, s, client(c, s));
  };

  /** A form post that changes something: our origin, a live session and its CSRF token, or nothing happens. */
  const action = (h: (c: Ctx, s: Session, api: Api, form: Form) => Promise<Response>) => async (c: Ctx) => {
    if (!(await fromOurOrigin(c))) return forbidden(c);
    const s = await readSession(c);
    if (!s) return c.redirect("/?done=expired", 303);
    const form = await c.req.parseBody({ all: true });
    if (!(await hasCsrfToken(s, form._csrf))) return forbidden(c);
    return h(c, s, client(c, s), form);
  };

  const forbidden = (c: Ctx) =>
    render(
      c,
      <ErrorPage title="This form could not be accepted">
        It did not come from a page of this dashboard, or the page was open across a sign-in. Go back, reload the page and try again.
      </ErrorPage>,
      403,
    );

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
    return render(c, <WebhookListPage ctx={pageCtx(s)} items={items} nextCursor={page.next_cursor} paged={Boolean(cursor)} notice={noticeOf(c)} />);
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
      await api.send("PATCH", `/v1/webhooks/${enc(id)}`, { active });
      return c.redirect(`/webhooks/${enc(id)}?done=${active ? "activated" : "deactivated"}`, 303);
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

/** The :id of the route (the wrappers above hide the path's type from Hono, so it cannot vouch for it). */
function idParam(c: Ctx): string {
  return c.req.param("id") ?? "";
}

/** The API's 422 as form errors; a problem without field errors still shows its detail. */
function fieldErrors(err: ApiError): FormErrors {
  return err.errors.length > 0 ? placeErrors(err.errors) : { "": [err.detail] };
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
