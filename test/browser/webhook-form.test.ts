import { describe, expect, test } from "vitest";
import { emptyValues, type FormValues, placeErrors, toRequestBody, valuesFromForm, valuesFromWebhook } from "../../src/dashboard/webhook-form";

// The dashboard form's mapping to and from the API, without a browser: what is sent for what was typed, and
// where each of the API's field errors lands.

const form = (over: Partial<FormValues>): FormValues => ({ ...emptyValues(), url: "https://example.com/h", events: ["workflow.completed"], ...over });

describe("toRequestBody", () => {
  test("create leaves blank settings to the API's defaults", () => {
    expect(toRequestBody(form({}), "create")).toEqual({
      body: { url: "https://example.com/h", events: ["workflow.completed"], ordering: "strict", format: "json", signing: "hmac" },
      errors: {},
    });
  });

  test("edit clears blank optional settings and never sends the signing scheme", () => {
    const { body } = toRequestBody(form({ signing: "ed25519" }), "edit");
    expect(body).toEqual({
      url: "https://example.com/h",
      events: ["workflow.completed"],
      description: "",
      ordering: "strict",
      ordering_key: null,
      rate_limit_per_s: null,
      batch: null,
      ttl_s: null,
      filter: null,
      format: "json",
      redact: [],
    });
  });

  describe("edit sends only the header lines a person changed (the API merges them; values come back masked)", () => {
    const shown = { Authorization: "Bearer …3f9a", "X-Team": "…" };
    const edit = (headers: string) => toRequestBody(form({ headers, headers_shown: JSON.stringify(shown) }), "edit").body.headers;
    test.each([
      ["lines left as shown: nothing", "Authorization: Bearer …3f9a\nX-Team: …", undefined],
      ["one value replaced", "Authorization: Bearer new-token\nX-Team: …", { Authorization: "Bearer new-token" }],
      ["a line deleted", "Authorization: Bearer …3f9a", { "X-Team": null }],
      ["a line added", "Authorization: Bearer …3f9a\nX-Team: …\nX-Env: prod", { "X-Env": "prod" }],
      ["every line deleted", "", { Authorization: null, "X-Team": null }],
      ["a name in another case is the same header", "authorization: Bearer …3f9a\nx-team: …", undefined],
    ])("%s", (_, headers, expected) => {
      expect(edit(headers)).toEqual(expected);
    });
  });

  test.each([
    [
      "numbers",
      { "retry.max_attempts": "3", "retry.multiplier": "1.5", timeout_ms: " 2000 " },
      { retry: { max_attempts: 3, multiplier: 1.5 }, timeout_ms: 2000 },
    ],
    ["text in a number field goes to the API to judge", { timeout_ms: "soon" }, { timeout_ms: "soon" }],
    ["half a batch is sent as it is, for the API to name the missing half", { "batch.max_size": "10" }, { batch: { max_size: 10, max_wait_ms: undefined } }],
    [
      "other patterns join the checked ones",
      { events_other: "user.session.*, workflow.completed\napi.*" },
      { events: ["workflow.completed", "user.session.*", "api.*"] },
    ],
    [
      "headers and redact, one per line",
      { headers: "X-Team: billing\n\nX-Env:prod", redact: "data.a\n data.b " },
      { headers: { "X-Team": "billing", "X-Env": "prod" }, redact: ["data.a", "data.b"] },
    ],
    ["filter JSON", { filter: '{"data.n": {"$gt": 1}}' }, { filter: { "data.n": { $gt: 1 } } }],
  ])("%s", (_, over, expected) => {
    const { body, errors } = toRequestBody(form(over), "create");
    expect(errors).toEqual({});
    expect(body).toMatchObject(expected);
  });

  test.each([
    ["no event", { events: [] }, "events", "Choose at least one event type."],
    ["filter that is not JSON", { filter: "{data.n: 1}" }, "filter", /^This is not valid JSON/],
    ["filter that is not an object", { filter: "[1]" }, "filter", /^Write a JSON object/],
    ["header line without a colon", { headers: "X-Ok: 1\nX-Team billing" }, "headers", 'Line 2: write "Name: value".'],
  ])("%s is the form's own error", (_, over, field, message) => {
    expect(toRequestBody(form(over as Partial<FormValues>), "create").errors[field]).toEqual([expect.stringMatching(message)]);
  });
});

test("placeErrors puts each API error on the field a person can fix", () => {
  expect(
    placeErrors([
      { path: "url", message: "must be https" },
      { path: "events.1", message: 'unknown event type "workflw.*"' },
      { path: "retry.max_attempts", message: "Too big" },
      { path: "retry", message: "unknown field" },
      { path: "batch", message: "Slack-formatted webhooks cannot be batched" },
      { path: "batch.max_wait_ms", message: "Required" },
      { path: "headers.Host", message: "cannot be overridden" },
      { path: "redact.2", message: "not a path" },
      { path: "filter", message: 'filter.$and[0]: unknown operator "$gtt"' },
      { path: "(body)", message: "Malformed" },
    ]),
  ).toEqual({
    url: ["must be https"],
    events: ['unknown event type "workflw.*"'],
    "retry.max_attempts": ["Too big", "unknown field"],
    "batch.max_size": ["Slack-formatted webhooks cannot be batched"],
    "batch.max_wait_ms": ["Required"],
    headers: ["Host: cannot be overridden"],
    redact: ["Line 3: not a path"],
    filter: ['filter.$and[0]: unknown operator "$gtt"'],
    "": ["(body): Malformed"],
  });
});

test("a stored webhook round-trips through the edit form", () => {
  const webhook = {
    id: "wh_1",
    url: "https://example.com/h",
    events: ["workflow.*", "user.session.*"],
    description: "d",
    active: true,
    disabled_reason: null,
    headers: { "X-Team": "billing" },
    filter: { "data.n": { $gt: 1 } },
    ordering: "key" as const,
    ordering_key: "data.execution_id",
    retry: { max_attempts: 3, base_delay_ms: 1000, multiplier: 2, max_delay_ms: 60000 },
    timeout_ms: 5000,
    rate_limit_per_s: 10,
    batch: { max_size: 5, max_wait_ms: 1000 },
    format: "json" as const,
    redact: ["data.message.content"],
    ttl_s: 3600,
    signing: "hmac" as const,
    created_at: "",
    updated_at: "",
  };
  const values = valuesFromWebhook(webhook, ["workflow.*", "workflow.completed"]);
  expect(values.events).toEqual(["workflow.*"]);
  expect(values.events_other).toBe("user.session.*");
  // What the browser posts back (checkboxes repeat their name) is what the form showed.
  const posted = valuesFromForm({ ...values, events: values.events[0] });
  const { body, errors } = toRequestBody(posted, "edit");
  expect(errors).toEqual({});
  // Headers untouched are not sent: the API keeps their stored (sealed) values.
  const { id, active, disabled_reason, signing, created_at, updated_at, headers, ...settings } = webhook;
  expect(body).toEqual(settings);
  expect(values.headers).toBe("X-Team: billing");
});
