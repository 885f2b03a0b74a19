import { SELF } from "cloudflare:test";
import { expect } from "vitest";

// The dashboard as a browser drives it: sign in with a key, fetch pages with the session cookie, read form fields.

const ORIGIN = "https://webhooks.test";

/** A dashboard page as a signed-in browser asks for it (a form posted when `form` is given). */
export function page(path: string, cookie: string, init: { method?: string; form?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { cookie, origin: ORIGIN };
  let body: string | undefined;
  if (init.form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(init.form).toString();
  }
  return SELF.fetch(`${ORIGIN}${path}`, { method: init.method ?? "GET", headers, body, redirect: "manual" });
}

/** Signs in with an API key, as the sign-in form does, and answers the session cookie. */
export async function signIn(key: string): Promise<string> {
  const res = await SELF.fetch(`${ORIGIN}/sign-in`, {
    method: "POST",
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ key, next: "/" }).toString(),
    redirect: "manual",
  });
  expect(res.status).toBe(303);
  // workerd has Headers.getSetCookie(); the Workers types this project builds with do not declare it.
  return (res.headers as Headers & { getSetCookie(): string[] })
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}

const unescapeHtml = (html: string) =>
  html
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");

/** The value of the input or textarea named `name` in a rendered form. */
export function field(html: string, name: string): string {
  const input = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html);
  if (input) return unescapeHtml(input[1]);
  const area = new RegExp(`<textarea[^>]*name="${name}"[^>]*>([^<]*)</textarea>`).exec(html);
  if (area) return unescapeHtml(area[1]);
  throw new Error(`no field ${name} in the page`);
}
