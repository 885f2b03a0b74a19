import { describe, expect, test } from "vitest";
import { call, expectJson } from "./support/api";
import { field, page, signIn } from "./support/dashboard";
import { hook } from "./support/delivery";

// The dashboard never shows a custom header's value, and its edit form, which can only show the masked values,
// keeps the stored ones when a person saves other changes.

const TOKEN = "Bearer dash_0123456789abcdef3f9a";
const SECRET_PART = TOKEN.slice("Bearer ".length);
describe("custom headers on the dashboard", () => {
  test("the edit form shows them masked, a save that leaves them alone keeps them, and no page holds the value", async () => {
    const h = await hook({ headers: { Authorization: TOKEN } });
    const cookie = await signIn(h.key);

    const edit = await (await page(`/webhooks/${h.wh.id}/edit`, cookie)).text();
    expect(field(edit, "headers")).toBe("Authorization: Bearer …3f9a");
    expect(edit).not.toContain(SECRET_PART);

    const saved = await page(`/webhooks/${h.wh.id}/edit`, cookie, {
      method: "POST",
      form: {
        _csrf: field(edit, "_csrf"),
        url: field(edit, "url"),
        events: "workflow.completed",
        description: "saved from the dashboard",
        ordering: "strict",
        format: "json",
        headers: field(edit, "headers"),
        headers_shown: field(edit, "headers_shown"),
      },
    });
    expect(saved.status).toBe(303);
    const read = await expectJson(call("GET", `/v1/webhooks/${h.wh.id}`, { token: h.key }), 200);
    expect(read).toMatchObject({ description: "saved from the dashboard", headers: { Authorization: "Bearer …3f9a" } });

    const test = await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    expect((await h.r.received())[0].headers.authorization).toBe(TOKEN);
    for (const path of [`/webhooks/${h.wh.id}`, `/deliveries/${test.delivery_id}`]) {
      const html = await (await page(path, cookie)).text();
      expect(html).toContain(path.startsWith("/deliveries") ? "Bearer …3f9a" : "Authorization");
      expect(html).not.toContain(SECRET_PART);
    }
  });

  test("a header line changed on the form replaces that value, a deleted line removes the header", async () => {
    const h = await hook({ headers: { Authorization: TOKEN, "X-Old": "remove me please" } });
    const cookie = await signIn(h.key);
    const edit = await (await page(`/webhooks/${h.wh.id}/edit`, cookie)).text();
    const res = await page(`/webhooks/${h.wh.id}/edit`, cookie, {
      method: "POST",
      form: {
        _csrf: field(edit, "_csrf"),
        url: field(edit, "url"),
        events: "workflow.completed",
        headers: "Authorization: Bearer rotated-token-value-0001",
        headers_shown: field(edit, "headers_shown"),
      },
    });
    expect(res.status).toBe(303);
    await expectJson(call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key }), 200);
    const [got] = await h.r.received();
    expect(got.headers.authorization).toBe("Bearer rotated-token-value-0001");
    expect(got.headers["x-old"]).toBeUndefined();
  });
});
