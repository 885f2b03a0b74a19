import { expect, test } from "vitest";
import { browserStack, reloadUntil } from "../support/browser";

// Issue 20 in the browser: the webhook list puts those that need a person first; a failing webhook's page says so;
// an inactive one's says what it holds and offers the two ways to enable it again, deliver or discard, and each does
// what it says. Screenshots go to test-artifacts/held/.

const ARTIFACTS = "test-artifacts/held";
const stack = browserStack(ARTIFACTS);
const { shot } = stack;

async function api(path: string, init: { method?: string; bearer: string; json?: unknown }) {
  const res = await stack.server.fetch(path, init);
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path} answered ${res.status}: ${await res.text()}`);
  return res.json() as Promise<any>;
}

async function received(name: string): Promise<{ body: string }[]> {
  return (await fetch(`${stack.receiver.url}/__received/${name}`)).json();
}

test("failing ones first; the failing banner; the inactive banner's two buttons deliver or discard what was held", async () => {
  const account = await api("/v1/accounts", { method: "POST", bearer: stack.server.token, json: { name: "Held" } });
  const { key } = await api(`/v1/accounts/${account.id}/api-keys`, { method: "POST", bearer: stack.server.token, json: { name: "browser" } });
  await fetch(`${stack.receiver.url}/__script/broken`, { method: "PUT", body: JSON.stringify({ otherwise: { status: 503 } }) });
  const create = (description: string, path: string, extra: Record<string, unknown> = {}) =>
    api("/v1/webhooks", { method: "POST", bearer: key, json: { url: `${stack.receiver.url}/r/${path}`, events: ["workflow.*"], description, ...extra } });
  // Oldest first, so the API lists them the other way round: healthy, then the two that are off, then the failing one.
  const failing = await create("Broken endpoint", "broken", { retry: { base_delay_ms: 200, multiplier: 1, max_delay_ms: 200, max_attempts: 30 } });
  const keep = await create("Keep what was held", "keep", { active: false });
  const drop = await create("Drop what was held", "drop", { active: false });
  await create("Healthy endpoint", "healthy");
  for (let n = 1; n <= 2; n++) {
    await api("/v1/events", {
      method: "POST",
      bearer: stack.server.token,
      json: { type: "workflow.completed", account_id: account.id, data: { workflow_id: "wf_b", execution_id: `exe_${n}`, duration_ms: n } },
    });
  }

  const page = await (await stack.browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(`${stack.server.url}/`);
  await page.getByLabel("Account API key").fill(key);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor();

  // The list: the failing one first (once it has failed four times in a row), then the two that are off, then the healthy one.
  const names = () => page.locator("li.card h2").allTextContents();
  await reloadUntil(page, async () => (await names())[0] === "Broken endpoint", "the failing webhook to lead the list");
  expect(await names()).toEqual(["Broken endpoint", "Drop what was held", "Keep what was held", "Healthy endpoint"]);
  const cards = page.locator("li.card");
  expect(await cards.nth(0).textContent()).toMatch(/Failing\s*\d+ failed attempts in a row.*Success \(24 h\): none finished yet \(1 pending\)/s);
  expect(await cards.nth(1).textContent()).toMatch(/Inactive\s*2 deliveries held/);
  expect(await cards.nth(3).textContent()).toMatch(/Active.*Success \(24 h\): 100%/s);
  await shot(page, "01-list-failing-first");

  // The failing webhook's banner: how long, how, and when it will be disabled.
  await page.getByRole("link", { name: "Broken endpoint" }).click();
  const banner = page.locator("section[aria-labelledby=health-title]");
  await banner.getByRole("heading", { name: "This webhook is failing" }).waitFor();
  expect(await banner.textContent()).toMatch(/attempts have failed in a row since .*Last: HTTP 503.*it will be disabled .*UTC/s);
  await shot(page, "02-failing-banner");

  // An inactive webhook's banner: what it holds, and the two buttons.
  await page.goto(`${stack.server.url}/webhooks/${keep.id}`);
  await banner.getByRole("heading", { name: "This webhook is inactive" }).waitFor();
  expect(await banner.textContent()).toContain("2 deliveries are held");
  const deliver = banner.getByRole("button", { name: "Enable and deliver the 2 held deliveries" });
  const discard = banner.getByRole("button", { name: "Enable and discard them" });
  expect(await discard.isVisible()).toBe(true);
  await shot(page, "03-inactive-banner");
  await deliver.click();
  await page.locator(".flash", { hasText: "Held deliveries go out first, in order" }).waitFor();
  expect(await banner.count()).toBe(0);
  await reloadUntil(page, async () => (await received("keep")).length === 2, "the held deliveries to arrive");
  expect((await received("keep")).map((r) => JSON.parse(r.body).data.execution_id)).toEqual(["exe_1", "exe_2"]);
  await shot(page, "04-enabled-delivered");

  // The other one: discard.
  await page.goto(`${stack.server.url}/webhooks/${drop.id}`);
  await banner.getByRole("button", { name: "Enable and discard them" }).click();
  await page.locator(".flash", { hasText: "2 held deliveries were discarded" }).waitFor();
  const log = page.locator("section[aria-label='Delivery log'] tbody tr");
  await reloadUntil(page, async () => (await log.filter({ hasText: "cancelled" }).count()) === 2, "the discarded deliveries in the log");
  expect(await received("drop")).toHaveLength(0);
  await shot(page, "05-enabled-discarded");

  expect((await api(`/v1/webhooks/${failing.id}`, { bearer: key })).failing.consecutive_failures).toBeGreaterThanOrEqual(4);
  expect(errors).toEqual([]);
});
