import type { Context } from "hono";
import type { Env } from "../config";
import { type Api, type ApiError, type ApiFetch, apiClient } from "./api";
import { ErrorPage, type Notice, type PageCtx, SignInPage } from "./pages";
import { fromOurOrigin, hasCsrfToken, readSession, type Session } from "./session";
import { type FormErrors, placeErrors } from "./webhook-form";

// What every dashboard route shares: rendering a page, the notices a redirect leaves, and the two guards (a page that
// needs a signed-in person, a form post that changes something).

export type DashEnv = { Bindings: Env };
export type Ctx = Context<DashEnv>;
export type Form = Record<string, unknown>;

export const enc = encodeURIComponent;

// Outcomes of actions travel back through the redirect as fixed codes, never as text from the query string, so a
// crafted link cannot make the dashboard display words of someone else's choosing.
const NOTICES: Record<string, (n: string | undefined) => Notice> = {
  saved: () => ({ kind: "ok", text: "Changes saved. They apply from the next attempt, retries included." }),
  activated: () => ({ kind: "ok", text: "The webhook is active. Held deliveries go out first, in order." }),
  discarded: (n) => ({
    kind: "ok",
    text: `The webhook is active. ${Number(n) || 0} held ${Number(n) === 1 ? "delivery was" : "deliveries were"} discarded (cancelled); new events are sent as they come.`,
  }),
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

/** The notice the redirect to this page asked for, if any. */
export function noticeOf(c: Ctx): Notice {
  const code = c.req.query("done");
  return code && NOTICES[code] ? NOTICES[code](c.req.query("n")) : null;
}

/** Answers a page. */
export async function render(c: Ctx, node: { toString(): string | Promise<string> }, status: 200 | 403 | 404 | 409 | 422 | 500 | 503 = 200): Promise<Response> {
  // Pages hold account data and, once, signing secrets: no cache, shared or private, may keep them.
  c.header("cache-control", "no-store");
  // A JSX tree renders to a string, or to a promise of one when a component is async.
  return c.html(`<!doctype html>${await node.toString()}`, status);
}

/** The :id of the route (the wrappers below hide the path's type from Hono, so it cannot vouch for it). */
export function idParam(c: Ctx): string {
  return c.req.param("id") ?? "";
}

/** The API's 422 as form errors; a problem without field errors still shows its detail. */
export function fieldErrors(err: ApiError): FormErrors {
  return err.errors.length > 0 ? placeErrors(err.errors) : { "": [err.detail] };
}

/** The guards and helpers the routes are built with, for one way of calling the API in-process. */
export function routeKit(fetchApi: ApiFetch) {
  const pageCtx = (s: Session): PageCtx => ({ csrf: s.csrf, now: Date.now() });
  const client = (c: Ctx, s: Session) => apiClient(c, fetchApi, s.key);

  const forbidden = (c: Ctx) =>
    render(
      c,
      <ErrorPage title="This form could not be accepted">
        It did not come from a page of this dashboard, or the page was open across a sign-in. Go back, reload the page and try again.
      </ErrorPage>,
      403,
    );

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

  return { pageCtx, client, forbidden, view, action };
}

export type RouteKit = ReturnType<typeof routeKit>;
