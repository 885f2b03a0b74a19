import { describe, expect, test } from "vitest";
import { toSlackMessage } from "../src/delivery/slack";
import { catalog } from "../src/events/catalog";

// "Alert my ops channel" is one webhook with format: "slack": each operational event reads as a message that says
// which webhook broke, how, and where to look.

type Block = { type: string; text?: { text: string }; fields?: { text: string }[] };

function render(type: string, data: Record<string, unknown> = catalog.get(type)!.example, dashboardUrl?: string) {
  const m = toSlackMessage({ id: "evt_01JD3Z", type, timestamp: "2026-11-28T09:00:00.000Z", account_id: "acc_1", data }, { dashboardUrl });
  const blocks = m.blocks as Block[];
  return { text: m.text, blocks, fields: blocks.flatMap((b) => b.fields ?? []).map((f) => f.text), all: JSON.stringify(m) };
}

describe("operational events in Slack", () => {
  test.each([
    [
      "webhook.failing",
      ":rotating_light: Webhook Orders service is failing (4 failed attempts in a row): HTTP 503",
      ["*Time left*\n4 d 23 h", "*Last failure*\nHTTP 503"],
    ],
    [
      "webhook.disabled",
      ":no_entry: Webhook Orders service was disabled: it kept failing. Matching events are held until it is enabled again: no successful delivery for 120 h (last: HTTP 503)",
      ["*Held*\n212 deliveries", "*Reason*\nfailing"],
    ],
    ["webhook.recovered", ":white_check_mark: Webhook Orders service delivers again", ["*Down for*\n2 h 42 min"]],
    [
      "delivery.exhausted",
      ":warning: A delivery to webhook Orders service failed after its last attempt; they can be redelivered: HTTP 503; no attempts left (12 of 12)",
      ["*Dead-lettered*\n1", "*Deliveries*\n`dlv_01JD3T0K2M7Q9X0C5V8B6N1R2T`"],
    ],
  ])("%s says what happened", (type, text, fields) => {
    const m = render(type);
    expect(m.text).toBe(text);
    for (const f of fields) expect(m.fields).toContain(f);
    expect(m.fields).toContain("*Endpoint*\n`https://api.example.com/hooks/broxiai`");
  });

  test("links to the webhook's page, not the alert's own delivery", () => {
    const m = render("webhook.failing", undefined, "https://webhooks.example.com/deliveries/dlv_x");
    const links = m.blocks.filter((b) => b.text?.text.startsWith("<")).map((b) => b.text!.text);
    expect(links).toEqual(["<https://webhooks.example.com/webhooks/wh_01JD3S4K2M7Q9X0C5V8B6N1R2T|Open the webhook in the BroxiAI dashboard>"]);
    // Without a dashboard_url in the data, the delivery's link stays.
    const plain = render("webhook.failing", { ...catalog.get("webhook.failing")!.example, dashboard_url: undefined }, "https://webhooks.example.com/d");
    expect(plain.all).toContain("<https://webhooks.example.com/d|View in the BroxiAI dashboard>");
  });

  test("a description written to look like a mention or a link is shown as text", () => {
    const data = {
      ...catalog.get("webhook.disabled")!.example,
      webhook: { id: "wh_1", url: "https://x.test/", description: "<!channel> <https://evil.test|click>" },
      reason: "gone",
    };
    const m = render("webhook.disabled", data);
    expect(m.all).not.toContain("<!channel>");
    expect(m.text).toContain("&lt;!channel&gt;");
    expect(m.text).toContain("its receiver answered 410 Gone");
  });

  test("a count of several dead letters reads in the plural", () => {
    const m = render("delivery.exhausted", { ...catalog.get("delivery.exhausted")!.example, count: 7 });
    expect(m.text).toMatch(/^:warning: 7 deliveries to webhook Orders service failed after their last attempt/);
  });
});
