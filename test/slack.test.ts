import { describe, expect, test } from "vitest";
import { toSlackMessage } from "../src/delivery/slack";
import { catalog, EVENT_TYPES } from "../src/events/catalog";

type Block = { type: string; text?: { type: string; text: string }; fields?: { type: string; text: string }[]; elements?: { type: string; text: string }[] };

function payload(type: string, data: Record<string, unknown>) {
  return { id: "evt_01JD3Z", type, timestamp: "2026-11-27T09:00:05.230Z", account_id: "acc_01JD3A", data };
}

function render(type: string, data: Record<string, unknown>, options?: { dashboardUrl?: string }) {
  const message = toSlackMessage(payload(type, data), options);
  const blocks = message.blocks as Block[];
  const all = [message.text, JSON.stringify(blocks)].join("\n");
  return { ...message, blocks, all };
}

describe("toSlackMessage", () => {
  test.each([
    {
      type: "workflow.failed",
      data: {
        workflow_id: "wf_42",
        execution_id: "exe_7",
        duration_ms: 3412,
        error: { code: "llm_rate_limited", message: "OpenAI returned 429", component_id: "cmp_classify" },
      },
      inText: [":x:", "wf_42", "failed", "3.4 s", "OpenAI returned 429", "cmp_classify"],
      inFields: ["`exe_7`", "`llm_rate_limited`"],
    },
    {
      type: "workflow.completed",
      data: { workflow_id: "wf_42", workflow_name: "Triage", execution_id: "exe_7", duration_ms: 125_000, outputs: { label: "x" } },
      inText: [":white_check_mark:", "Triage (wf_42)", "completed in 2 min 5 s"],
      inFields: ["2 min 5 s", "`wf_42`"],
    },
    {
      type: "workflow.completed",
      data: { workflow_id: "wf_42", execution_id: "exe_7", duration_ms: 850 },
      inText: ["completed in 850 ms"],
      inFields: ["850 ms"],
    },
    {
      type: "workflow.timeout",
      data: { workflow_id: "wf_42", execution_id: "exe_7", duration_ms: 3_780_000 },
      inText: [":hourglass:", "timed out after 1 h 3 min"],
      inFields: [],
    },
    {
      type: "component.failed",
      data: {
        workflow_id: "wf_42",
        execution_id: "exe_7",
        component_id: "cmp_crm",
        component_type: "api_request",
        error: { code: "http_502", message: "CRM answered 502" },
      },
      inText: [":x:", "Component cmp_crm (api_request) in workflow wf_42 failed", "CRM answered 502"],
      inFields: ["`cmp_crm`", "`http_502`"],
    },
    {
      type: "component.completed",
      data: {
        workflow_id: "wf_42",
        execution_id: "exe_7",
        component_id: "cmp_1",
        component_type: "llm",
        component_name: "Classify ticket",
        duration_ms: 1850,
      },
      inText: [":white_check_mark:", "Component Classify ticket (llm, cmp_1) in workflow wf_42 completed in 1.9 s"],
      inFields: ["Classify ticket\n`cmp_1`", "llm"],
    },
    {
      type: "user.message.received",
      data: { session_id: "ses_1", user_id: "usr_9", message: { id: "msg_1", role: "user", content: "I was charged twice." } },
      inText: [":speech_balloon:", "usr_9", "ses_1", "I was charged twice."],
      inFields: ["`usr_9`", "`ses_1`", "user"],
    },
    {
      type: "user.session.ended",
      data: { session_id: "ses_1", user_id: "usr_9", ended_at: "2026-11-27T09:42:30Z", duration_ms: 750_000, message_count: 14 },
      inText: ["ses_1", "ended after 12 min 30 s", "14 messages"],
      inFields: ["<!date^"],
    },
    {
      type: "api.quota.warning",
      data: { quota: { name: "api_requests", limit: 100_000, used: 90_125, period: "month" } },
      inText: [":warning:", "api_requests", "90%", "90,125 of 100,000 per month"],
      inFields: ["`api_requests`", "(90%)"],
    },
    {
      type: "api.quota.exceeded",
      data: { quota: { name: "tokens", limit: 1000, used: 1000, period: "day" } },
      inText: [":rotating_light:", "tokens", "exceeded", "1,000 of 1,000 per day"],
      inFields: [],
    },
    {
      type: "system.maintenance",
      data: { window: { starts_at: "2026-12-05T02:00:00Z", ends_at: "2026-12-05T03:00:00Z" }, message: "Database upgrade" },
      inText: [":wrench:", "maintenance", "Database upgrade", `<!date^${Date.parse("2026-12-05T02:00:00Z") / 1000}^`],
      inFields: ["1 h"],
    },
    {
      type: "webhook.test",
      data: { message: "Hello from the test route" },
      inText: ["Test", "Hello from the test route"],
      inFields: ["`webhook.test`"],
    },
  ])("$type: $inText", ({ type, data, inText, inFields }) => {
    const { text, blocks } = render(type, data);
    expect(text).not.toContain("\n");
    for (const s of inText) expect(text).toContain(s);

    const [summary, facts] = blocks;
    expect(summary).toMatchObject({ type: "section", text: { type: "mrkdwn" } });
    expect(facts.type).toBe("section");
    expect(facts.fields!.length).toBeGreaterThan(0);
    expect(facts.fields!.length).toBeLessThanOrEqual(10);
    const fieldText = facts.fields!.map((f) => f.text).join("\n");
    for (const s of inFields) expect(fieldText).toContain(s);
  });

  test.each([...EVENT_TYPES])("renders the catalog example of %s with a context block naming the event", (type) => {
    const { text, blocks } = render(type, catalog.get(type)!.example);
    expect(text.length).toBeGreaterThan(10);
    expect(text).not.toMatch(/undefined|null|NaN|\[object Object\]/);
    expect(blocks.map((b) => b.type)).toEqual(["section", "section", "context"]);
    const context = blocks[2].elements!.map((e) => e.text).join(" ");
    expect(context).toContain("`evt_01JD3Z`");
    expect(context).toContain(`<!date^${Math.floor(Date.parse("2026-11-27T09:00:05.230Z") / 1000)}^`);
    expect(context).toContain("2026-11-27T09:00:05.230Z");
    expect(context).toContain("`acc_01JD3A`");
  });

  test.each([
    [
      "an error message",
      "workflow.failed",
      { workflow_id: "wf_1", execution_id: "e", error: { code: "x", message: "<script>alert(1)</script> & <!channel>" } },
    ],
    [
      "a user message",
      "user.message.received",
      { session_id: "s", user_id: "u", message: { id: "m", role: "user", content: "<script>alert(1)</script> & <!channel>" } },
    ],
    [
      "a workflow name",
      "workflow.completed",
      { workflow_id: "wf_1", workflow_name: "<script>alert(1)</script> & <!channel>", execution_id: "e", duration_ms: 1 },
    ],
    ["an id", "workflow.started", { workflow_id: "<script>alert(1)</script> & <!channel>", execution_id: "e" }],
    ["a quota name", "api.quota.warning", { quota: { name: "<script>alert(1)</script> & <!channel>", limit: 10, used: 9, period: "<day>" } }],
  ])("escapes &, < and > in %s", (_what, type, data) => {
    const { text, all } = render(type, data);
    expect(all).not.toContain("<script>");
    expect(all).not.toContain("<!channel>");
    expect(text).toContain("&lt;script&gt;");
    expect(all).toContain("&amp;");
  });

  test("truncates long user content to 300 characters and keeps the text on one line", () => {
    const content = `${"line one\n".repeat(5)}${"x".repeat(1000)}`;
    const { text, blocks } = render("user.message.received", {
      session_id: "s",
      user_id: "u",
      message: { id: "m", role: "user", content },
    });
    expect(text).not.toContain("\n");
    expect(text).toContain("line one line one");
    expect(text).toContain("…");
    expect(text).not.toContain("x".repeat(300));
    const summary = blocks[0].text!.text;
    expect(summary).toContain(">line one");
    const quoted = summary
      .split("\n")
      .filter((l) => l.startsWith(">"))
      .map((l) => l.slice(1))
      .join("\n");
    expect(Array.from(quoted).length).toBe(300);
    expect(quoted.endsWith("…")).toBe(true);
  });

  test("does not split an escape or a surrogate pair when truncating", () => {
    const content = `${"a".repeat(298)}😀&&&`;
    const { text } = render("user.message.received", { session_id: "s", user_id: "u", message: { id: "m", role: "user", content } });
    expect(text).toContain(`${"a".repeat(298)}😀…`);
    expect(text).not.toMatch(/&am…|&a…/);
  });

  test("copes with redacted content", () => {
    const { text } = render("user.message.received", { session_id: "s", user_id: "u", message: "[redacted]" });
    expect(text).toContain("[redacted]");
  });

  test("links to the dashboard when given a URL, and only http(s) ones", () => {
    const withLink = render("workflow.completed", catalog.get("workflow.completed")!.example, {
      dashboardUrl: "https://webhooks.example.com/?event=evt_01JD3Z&tab=deliveries",
    });
    expect(withLink.blocks.map((b) => b.type)).toEqual(["section", "section", "section", "context"]);
    expect(withLink.blocks[2].text!.text).toBe("<https://webhooks.example.com/?event=evt_01JD3Z&amp;tab=deliveries|View in the BroxiAI dashboard>");

    const bad = render("workflow.completed", catalog.get("workflow.completed")!.example, { dashboardUrl: "javascript:alert(1)" });
    expect(bad.blocks.map((b) => b.type)).toEqual(["section", "section", "context"]);
  });

  test("an unknown type still says something useful", () => {
    const { text, blocks } = render("workflow.paused", { workflow_id: "wf_1", execution_id: "e", note: 3 });
    expect(text).toContain("wf_1");
    const { text: other, blocks: otherBlocks } = render("billing.invoice.paid", { invoice_id: "inv_1", amount: 12 });
    expect(other).toContain("billing.invoice.paid");
    expect(otherBlocks[1].fields!.map((f) => f.text).join("\n")).toContain("inv_1");
    expect(blocks.length).toBe(3);
  });

  test("survives data missing fields the schema would require", () => {
    const { text } = render("workflow.failed", {});
    expect(text).toContain("unknown workflow");
    expect(text).not.toMatch(/undefined|NaN/);
  });
});
