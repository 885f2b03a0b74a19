import { createPublicKey, verify } from "node:crypto";
import type { Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { expect, test } from "vitest";
import { browserStack, reloadUntil } from "../support/browser";

// A person in Debian's Chromium, against the real service (`npm start` → wrangler dev) and a real receiver: sign
// in, add a webhook, test it, watch a delivery fail, retry it, see it delivered. Screenshots go to
// test-artifacts/dashboard/ so a failure can be looked at, not just read about.

const ARTIFACTS = "test-artifacts/dashboard";
const stack = browserStack(ARTIFACTS);
const { shot } = stack;

/** Waits for the message at the top of the page that reports an action's outcome. */
const notice = (page: Page, text: string) => page.locator(".flash", { hasText: text }).waitFor();

async function received(name: string): Promise<{ headers: Record<string, string>; body: string }[]> {
  return (await fetch(`${stack.receiver.url}/__received/${name}`)).json();
}

test("a person signs in, adds a webhook, tests it, sees a delivery fail, retries it and sees it delivered", async () => {
  const account = (await (await stack.server.fetch("/v1/accounts", { method: "POST", bearer: stack.server.token, json: { name: "Dashboard" } })).json()) as {
    id: string;
  };
  const key = (await (
    await stack.server.fetch(`/v1/accounts/${account.id}/api-keys`, { method: "POST", bearer: stack.server.token, json: { name: "browser" } })
  ).json()) as { id: string; key: string };
  // First answer for the test event, then a 500 for the real event (one attempt, so it dead-letters), then fine.
  await fetch(`${stack.receiver.url}/__script/dash`, {
    method: "PUT",
    body: JSON.stringify({
      answers: [
        { status: 200, body: '{"hello":"from the receiver"}' },
        { status: 500, body: "receiver is down" },
      ],
      otherwise: { status: 200, body: "back up" },
    }),
  });

  const context = await stack.browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.server.url });
  const page = await context.newPage();
  // Script errors and CSP violations would show here; 4xx answers (a mistyped key or form, the page asked for a missing id) are expected and are not.
  const consoleErrors: string[] = [];
  page.on("pageerror", (err) => consoleErrors.push(err.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4(0[14]|22)/.test(m.text())) consoleErrors.push(m.text());
  });

  // Sign in, by keyboard.
  await page.goto(`${stack.server.url}/`);
  await page.getByLabel("Account API key").fill("bxk_not-a-real-key");
  await page.keyboard.press("Enter");
  await expect.poll(() => page.locator("#key-error").textContent()).toMatch(/unknown or has been revoked/);
  await page.getByLabel("Account API key").fill(key.key);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor();
  const [cookie] = await context.cookies();
  expect(cookie).toMatchObject({ name: "__Host-bx_session", httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
  expect(cookie.value).not.toContain(key.key.slice(4)); // sealed: the browser never holds a usable API key
  await shot(page, "01-signed-in");

  // Add a webhook; the API's validation error appears next to the field it names.
  await page.getByRole("link", { name: "Add webhook" }).click();
  await page.getByLabel("Endpoint URL").fill(`${stack.receiver.url}/r/dash`);
  await page.getByLabel("Description").fill("Orders service");
  await page.getByRole("checkbox", { name: /^workflow\.completed/ }).check();
  await page.getByText("Advanced settings").click();
  await page.getByLabel("Maximum attempts").fill("1");
  await page.getByLabel("Payload filter (JSON)").fill('{"data.duration_ms": {"$bogus": 1}}');
  // Page-side code is given as text: this project's TypeScript has no DOM types.
  const unlabelled = await page.evaluate(`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
    .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label")).map((el) => el.outerHTML)`);
  expect(unlabelled).toEqual([]);
  await page.getByRole("button", { name: "Add webhook" }).click();
  await expect.poll(() => page.locator("#f-filter-error").textContent()).toMatch(/unknown operator \$bogus/);
  expect(await page.evaluate("document.activeElement.id")).toBe("form-errors");
  expect(await page.getByLabel("Payload filter (JSON)").getAttribute("aria-invalid")).toBe("true");
  expect(await page.getByLabel("Endpoint URL").inputValue()).toBe(`${stack.receiver.url}/r/dash`); // nothing typed is lost
  await shot(page, "02-validation-error");
  await page.getByLabel("Payload filter (JSON)").fill('{"data.duration_ms": {"$gte": 0}}');
  await page.getByRole("button", { name: "Add webhook" }).click();

  // The secret, once, with a copy button and verification code.
  await page.getByRole("heading", { name: "Webhook added" }).waitFor();
  const secret = (await page.locator("#secret").textContent()) ?? "";
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  await page.getByRole("button", { name: "Copy signing secret" }).click();
  await expect.poll(() => page.locator("#secret-status").textContent()).toBe("Copied to the clipboard.");
  expect(await page.evaluate("navigator.clipboard.readText()")).toBe(secret);
  expect(await page.locator("pre#snippet-0").textContent()).toContain('from "standardwebhooks"');
  await shot(page, "03-secret-shown-once");
  await page.getByRole("link", { name: "Continue to the webhook" }).click();
  const webhookUrl = page.url();
  expect(webhookUrl).toMatch(/\/webhooks\/wh_/);
  expect(await page.content()).not.toContain(secret);

  // Send a test event and see what the receiver answered.
  await page.locator("#test-type").selectOption("webhook.test");
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.getByRole("heading", { name: "Test event delivered" }).waitFor();
  const testPanel = page.locator("section[aria-labelledby=test-result-title]");
  expect(await testPanel.textContent()).toContain("200");
  expect(await testPanel.locator("pre").textContent()).toContain('"hello": "from the receiver"');
  let got = await received("dash");
  expect(got).toHaveLength(1);
  expect((new Webhook(secret).verify(got[0].body, got[0].headers) as { type: string }).type).toBe("webhook.test");
  await shot(page, "04-test-event");

  // A real event; the receiver fails it, and with one attempt allowed it is dead-lettered.
  const ingest = await stack.server.fetch("/v1/events", {
    method: "POST",
    bearer: stack.server.token,
    json: { type: "workflow.completed", account_id: account.id, data: { workflow_id: "wf_1", execution_id: "exe_1", duration_ms: 5230 } },
  });
  expect(await ingest.json()).toMatchObject({ deliveries: 1 });
  await page.locator("#log-status").selectOption("failed");
  await page.getByRole("button", { name: "Show" }).click();
  const failedRow = page.locator("section[aria-label='Delivery log'] tbody tr", { hasText: "workflow.completed" });
  await reloadUntil(page, async () => (await failedRow.count()) === 1, "the failed delivery in the log");
  expect(await failedRow.textContent()).toContain("failed");
  await shot(page, "05-failed-delivery");

  // Its page shows the attempt in full; "Retry now" redelivers it.
  await failedRow.getByRole("link").click();
  await page.getByRole("heading", { name: /^Attempt 1/ }).waitFor();
  expect(await page.locator("main").textContent()).toContain("receiver is down");
  expect(await page.locator("main").textContent()).toContain("webhook-signature");
  await shot(page, "06-delivery-failed-attempt");
  await page.getByRole("button", { name: "Retry now" }).click();
  await notice(page, "The delivery was queued again");
  await reloadUntil(page, async () => (await page.locator("dd .badge", { hasText: "delivered" }).count()) === 1, "the retried delivery to succeed");
  await page.getByRole("heading", { name: /^Attempt 2/ }).waitFor();
  await shot(page, "07-delivery-retried-delivered");
  got = await received("dash");
  expect(got).toHaveLength(3);
  expect(got[2].headers["webhook-id"]).toBe(got[1].headers["webhook-id"]);
  expect((new Webhook(secret).verify(got[2].body, got[2].headers) as { type: string }).type).toBe("workflow.completed");

  // The list shows its health at a glance.
  await page.goto(`${stack.server.url}/`);
  const card = page.locator("li.card", { hasText: "Orders service" });
  expect(await card.textContent()).toMatch(/Active.*Success \(24 h\): 100%.*Last delivery: delivered/s);
  await shot(page, "08-webhook-list");

  // Edit: the form comes back filled in; its own syntax errors and then the change are shown.
  await card.getByRole("link").click();
  await page.getByRole("link", { name: "Edit settings" }).click();
  expect(await page.getByLabel("Maximum attempts").inputValue()).toBe("1");
  expect(await page.getByRole("checkbox", { name: /^workflow\.completed/ }).isChecked()).toBe(true);
  await page.getByLabel("Description").fill("Orders service (prod)");
  await page.getByText("Advanced settings").click();
  await page.getByLabel("Custom headers").fill("X-Team billing");
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect.poll(() => page.locator("#f-headers-error").textContent()).toContain('Line 1: write "Name: value".');
  await page.getByLabel("Custom headers").fill("X-Team: billing");
  await page.getByRole("button", { name: "Save changes" }).click();
  await notice(page, "Changes saved.");
  const webhookId = new URL(webhookUrl).pathname.split("/")[2];
  const stored = (await (await stack.server.fetch(`/v1/webhooks/${webhookId}`, { bearer: key.key })).json()) as Record<string, any>;
  // Custom header values are secrets: the API shows them masked.
  expect(stored).toMatchObject({ description: "Orders service (prod)", headers: { "X-Team": "…" }, retry: { max_attempts: 1 } });
  expect(stored.filter).toEqual({ "data.duration_ms": { $gte: 0 } });

  // Deactivate, activate.
  await page.getByRole("button", { name: "Deactivate" }).click();
  await notice(page, "The webhook is inactive.");
  await page.getByRole("button", { name: "Activate" }).click();
  await notice(page, "The webhook is active.");

  // Rotate to Ed25519: the public key is shown with code for it, and the next delivery verifies with it alone.
  await page.getByText("Rotate the signing key…").click();
  await page.getByLabel("Scheme").selectOption({ label: "Switch to Ed25519" });
  await page.getByRole("button", { name: "Rotate now" }).click();
  await page.getByRole("heading", { name: "The signing key was rotated" }).waitFor();
  const publicKey = (await page.locator("#secret").textContent()) ?? "";
  expect(publicKey).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
  expect(await page.locator("pre#snippet-0").textContent()).toContain(`const PUBLIC_KEY = "${publicKey}"`);
  await shot(page, "09-rotated-to-ed25519");
  await page.getByRole("link", { name: "Continue to the webhook" }).click();
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.getByRole("heading", { name: "Test event delivered" }).waitFor();
  got = await received("dash");
  const last = got[got.length - 1];
  const signed = Buffer.from(`${last.headers["webhook-id"]}.${last.headers["webhook-timestamp"]}.${last.body}`);
  const edKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey.slice(5), "base64").toString("base64url") }, format: "jwk" });
  const v1a = last.headers["webhook-signature"].split(" ").find((s) => s.startsWith("v1a,")) ?? "";
  expect(verify(null, signed, edKey, Buffer.from(v1a.slice(4), "base64"))).toBe(true);

  // Replay failed: nothing is failed any more, and the page says so.
  await page.getByRole("button", { name: "Replay failed" }).click();
  await notice(page, "0 failed deliveries were queued again.");

  // The webhook page on a phone: everything reachable without sideways scrolling of the page itself.
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(webhookUrl);
  expect(await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
  await shot(phone, "10-webhook-page-phone");
  await phone.close();

  // Forms that change something refuse a request that did not come from a dashboard page, cookie or not.
  const noOrigin = await page.request.post(`${stack.server.url}/webhooks/${webhookId}/delete`, { form: { x: "1" } });
  expect(noOrigin.status()).toBe(403);
  const noToken = await page.request.post(`${stack.server.url}/webhooks/${webhookId}/delete`, { form: { x: "1" }, headers: { origin: stack.server.url } });
  expect(noToken.status()).toBe(403);
  expect((await stack.server.fetch(`/v1/webhooks/${webhookId}`, { bearer: key.key })).status).toBe(200);

  // A page that does not exist in this account says so.
  const missing = await page.goto(`${stack.server.url}/webhooks/wh_01JD3S4K2M0000000000000000`);
  expect(missing?.status()).toBe(404);
  await page.getByRole("heading", { name: "Not found" }).waitFor();

  // Sign out: the next visit asks for the key again, and signing in leads back to the page asked for.
  await page.goto(webhookUrl);
  await page.getByRole("button", { name: "Sign out" }).click();
  await notice(page, "You are signed out.");
  expect(await context.cookies()).toEqual([]);
  await page.goto(webhookUrl);
  await page.getByLabel("Account API key").fill(key.key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: "Orders service (prod)" }).waitFor();

  // Revoking the key ends the session at once.
  const revoked = await stack.server.fetch(`/v1/accounts/${account.id}/api-keys/${key.id}`, { method: "DELETE", bearer: stack.server.token });
  expect(revoked.ok).toBe(true);
  await page.reload();
  await notice(page, "Your session ended");
  expect(await context.cookies()).toEqual([]);
  expect(consoleErrors).toEqual([]);
  await context.close();
});
