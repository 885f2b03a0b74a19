import { describe, expect, test } from "vitest";
import { catalog, catalogDocument, EVENT_TYPES, isEventType, validateEventData } from "../src/events/catalog";

const expectedCategories: [string, string][] = [
  ["workflow.started", "workflow"],
  ["workflow.completed", "workflow"],
  ["workflow.failed", "workflow"],
  ["workflow.timeout", "workflow"],
  ["workflow.cancelled", "workflow"],
  ["component.started", "component"],
  ["component.completed", "component"],
  ["component.failed", "component"],
  ["component.timeout", "component"],
  ["user.message.received", "user"],
  ["user.session.started", "user"],
  ["user.session.ended", "user"],
  ["api.quota.warning", "system"],
  ["api.quota.exceeded", "system"],
  ["system.maintenance", "system"],
  ["webhook.test", "test"],
  ["webhook.failing", "operational"],
  ["webhook.disabled", "operational"],
  ["webhook.recovered", "operational"],
  ["delivery.exhausted", "operational"],
];

describe("catalog", () => {
  test("lists the SPEC's platform types, webhook.test and the operational types, in SPEC order", () => {
    expect(EVENT_TYPES).toEqual(expectedCategories.map(([type]) => type));
    expect([...catalog.keys()]).toEqual(EVENT_TYPES);
  });

  test.each(expectedCategories)("%s is in category %s", (type, category) => {
    const info = catalog.get(type);
    expect(info?.category).toBe(category);
    expect(info?.type).toBe(type);
    expect(info?.description.length).toBeGreaterThan(10);
    expect(isEventType(type)).toBe(true);
  });

  test.each(["batch", "workflow.*", "*", "workflow", "workflow.finished", ""])("%j is not an event type", (type) => {
    expect(isEventType(type)).toBe(false);
  });

  test.each([...EVENT_TYPES])("the example of %s passes its own schema", (type) => {
    const result = validateEventData(type, catalog.get(type)!.example);
    expect(result).toEqual({ ok: true, data: catalog.get(type)!.example });
  });
});

describe("validateEventData", () => {
  const completed = catalog.get("workflow.completed")!.example;

  test("keeps unknown extra fields, at the top and nested", () => {
    const failed = catalog.get("workflow.failed")!.example as { error: object };
    const result = validateEventData("workflow.failed", {
      ...failed,
      region: "eu-west",
      error: { ...failed.error, retryable: true },
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.data.region).toBe("eu-west");
    expect(result.data.error).toMatchObject({ retryable: true, code: "llm_rate_limited" });
  });

  test.each([
    ["workflow.completed", "workflow_id"],
    ["workflow.completed", "execution_id"],
    ["workflow.completed", "duration_ms"],
    ["workflow.failed", "error"],
    ["component.started", "component_id"],
    ["user.message.received", "message"],
    ["api.quota.warning", "quota"],
    ["system.maintenance", "window"],
    ["webhook.test", "message"],
  ])("%s without %s names data.%s", (type, field) => {
    const data = { ...catalog.get(type)!.example };
    delete data[field];
    const result = validateEventData(type, data);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path)).toContain(`data.${field}`);
  });

  test.each([
    ["a number where an id belongs", "workflow.completed", { ...completed, workflow_id: 42 }, "data.workflow_id"],
    ["an empty id", "workflow.completed", { ...completed, execution_id: "" }, "data.execution_id"],
    ["a negative duration", "workflow.completed", { ...completed, duration_ms: -5 }, "data.duration_ms"],
    ["a duration as a string", "workflow.completed", { ...completed, duration_ms: "5230" }, "data.duration_ms"],
    ["a timestamp that is not ISO 8601", "workflow.completed", { ...completed, completed_at: "yesterday" }, "data.completed_at"],
    ["outputs as an array", "workflow.completed", { ...completed, outputs: [1, 2] }, "data.outputs"],
    ["an error without a message", "workflow.failed", { workflow_id: "wf_1", execution_id: "exe_1", error: { code: "boom" } }, "data.error.message"],
    [
      "a message role outside the enum",
      "user.message.received",
      { session_id: "s", user_id: "u", message: { id: "m", role: "robot", content: "hi" } },
      "data.message.role",
    ],
    ["a negative quota", "api.quota.exceeded", { quota: { name: "tokens", limit: -1, used: 0, period: "day" } }, "data.quota.limit"],
    [
      "a maintenance window that ends before it starts",
      "system.maintenance",
      { message: "m", window: { starts_at: "2026-12-05T03:00:00Z", ends_at: "2026-12-05T02:00:00Z" } },
      "data.window.ends_at",
    ],
  ])("rejects %s", (_what, type, data, path) => {
    const result = validateEventData(type, data);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path)).toContain(path);
    expect(result.issues.every((i) => i.message.length > 0)).toBe(true);
  });

  test.each([null, "a string", [1, 2], 7])("rejects data that is not an object: %j", (data) => {
    const result = validateEventData("workflow.started", data);
    expect(result).toMatchObject({ ok: false, issues: [{ path: "data" }] });
  });

  test("accepts timestamps with an offset and adds no defaults", () => {
    const result = validateEventData("workflow.started", {
      workflow_id: "wf_1",
      execution_id: "exe_1",
      started_at: "2026-11-27T10:00:00+01:00",
    });
    expect(result).toEqual({
      ok: true,
      data: { workflow_id: "wf_1", execution_id: "exe_1", started_at: "2026-11-27T10:00:00+01:00" },
    });
  });

  test("an unknown type is an issue on the type, not a throw", () => {
    expect(validateEventData("workflow.finished", {})).toEqual({
      ok: false,
      issues: [{ path: "type", message: expect.stringContaining("workflow.finished") }],
    });
  });
});

describe("catalogDocument", () => {
  const doc = catalogDocument();

  test("has one entry per type, in order, with description and example", () => {
    expect(doc.data.map((e) => e.type)).toEqual(EVENT_TYPES);
    for (const entry of doc.data) {
      const info = catalog.get(entry.type)!;
      expect(entry).toMatchObject({ category: info.category, description: info.description, example: info.example });
    }
  });

  test.each(doc.data.map((e) => [e.type, e] as const))("%s has a JSON Schema object with properties", (_type, entry) => {
    const schema = entry.schema as { type: string; properties: Record<string, unknown>; required: string[] };
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties).length).toBeGreaterThan(0);
    // The example is a usable sample: it has every key the published schema requires.
    for (const key of schema.required ?? []) expect(entry.example).toHaveProperty(key);
  });

  test("schemas describe the required ids, formats and loose objects", () => {
    const failed = doc.data.find((e) => e.type === "workflow.failed")!.schema as Record<string, any>;
    expect(failed.required).toEqual(expect.arrayContaining(["workflow_id", "execution_id", "error"]));
    expect(failed.properties.error.required).toEqual(expect.arrayContaining(["code", "message"]));
    expect(failed.properties.started_at.format).toBe("date-time");
    expect(failed.properties.duration_ms.minimum).toBe(0);
    // Loose objects: extra fields are allowed, as validateEventData keeps them.
    expect(failed.additionalProperties).not.toBe(false);
  });

  test("is JSON-serialisable and callers cannot corrupt the next answer", () => {
    const first = catalogDocument();
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
    first.data[0].description = "changed";
    (first.data[0].example as Record<string, unknown>).workflow_id = "changed";
    const second = catalogDocument();
    expect(second.data[0].description).toBe(catalog.get(EVENT_TYPES[0])!.description);
    expect(second.data[0].example.workflow_id).toBe(catalog.get(EVENT_TYPES[0])!.example.workflow_id);
  });
});

describe("the SPEC's own examples", () => {
  test("the base webhook structure's workflow.completed data is accepted as it stands", () => {
    const data = { workflow_id: "wf_1", execution_id: "exe_1", duration_ms: 5230, outputs: {} };
    expect(validateEventData("workflow.completed", data)).toEqual({ ok: true, data });
  });
});
