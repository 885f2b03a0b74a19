import * as z from "zod";
import { OPERATIONAL_ENTRIES } from "./operational";
import type { EventCategory, EventTypeInfo } from "./types";

export type { EventCategory, EventTypeInfo };

// Every object is loose: the platform may add fields before this catalog learns about them, and receivers
// should get them rather than have the event rejected (SPEC: "unknown extra fields are kept").
// Nothing here may transform or coerce, so that each schema round-trips through z.toJSONSchema.

const id = (description: string) => z.string().min(1).max(256).describe(description);
const isoTime = (description: string) => z.iso.datetime({ offset: true }).describe(description);
const durationMs = z.number().nonnegative().describe("Elapsed time in milliseconds");
const count = (description: string) => z.number().int().nonnegative().describe(description);

const errorInfo = z
  .looseObject({
    code: z.string().min(1).describe("Machine-readable error code"),
    message: z.string().describe("Human-readable error message"),
    component_id: id("The component that raised the error, when one did").optional(),
  })
  .describe("What went wrong");

const outputs = z.record(z.string(), z.unknown()).describe("The values the run produced");

const workflowBase = {
  workflow_id: id("The workflow"),
  execution_id: id("This run of the workflow"),
  workflow_name: z.string().optional().describe("The workflow's display name"),
};

const componentBase = {
  ...workflowBase,
  component_id: id("The component within the workflow"),
  component_type: z.string().min(1).describe("The kind of component, e.g. llm, prompt, api_request"),
  component_name: z.string().optional().describe("The component's display name"),
};

const userBase = {
  session_id: id("The chat session"),
  user_id: id("The end user"),
  workflow_id: id("The workflow serving the session").optional(),
};

const quota = z
  .looseObject({
    name: z.string().min(1).describe("The quota, e.g. api_requests or tokens"),
    limit: z.number().nonnegative().describe("The allowance for the period"),
    used: z.number().nonnegative().describe("How much of it is used"),
    period: z.string().min(1).describe("The period the allowance covers, e.g. day or month"),
  })
  .describe("The quota concerned");

// A maintenance window that ends before it starts is a typo upstream; better a 422 than a wrong notice.
const maintenanceWindow = z
  .looseObject({
    starts_at: isoTime("When the maintenance begins"),
    ends_at: isoTime("When the service is expected back"),
  })
  .refine((w) => Date.parse(w.ends_at) >= Date.parse(w.starts_at), {
    message: "ends_at must not be before starts_at",
    path: ["ends_at"],
  })
  .describe("The maintenance window");

const entries: EventTypeInfo[] = [
  {
    type: "workflow.started",
    category: "workflow",
    description: "A workflow execution started.",
    schema: z.looseObject({
      ...workflowBase,
      started_at: isoTime("When the execution started").optional(),
      inputs: z.record(z.string(), z.unknown()).optional().describe("The inputs the run was given"),
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QA7W4H2P8S6F0E9G3K1MZ",
      workflow_name: "Customer support triage",
      started_at: "2026-11-27T09:00:00.000Z",
      inputs: { ticket_id: "T-4821" },
    },
  },
  {
    type: "workflow.completed",
    category: "workflow",
    description: "A workflow execution finished successfully.",
    schema: z.looseObject({
      ...workflowBase,
      started_at: isoTime("When the execution started").optional(),
      completed_at: isoTime("When the execution finished").optional(),
      duration_ms: durationMs,
      outputs: outputs.optional(),
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QA7W4H2P8S6F0E9G3K1MZ",
      workflow_name: "Customer support triage",
      started_at: "2026-11-27T09:00:00.000Z",
      completed_at: "2026-11-27T09:00:05.230Z",
      duration_ms: 5230,
      outputs: { priority: "high", assigned_team: "billing" },
    },
  },
  {
    type: "workflow.failed",
    category: "workflow",
    description: "A workflow execution stopped with an error.",
    schema: z.looseObject({
      ...workflowBase,
      started_at: isoTime("When the execution started").optional(),
      completed_at: isoTime("When the execution stopped").optional(),
      duration_ms: durationMs.optional(),
      error: errorInfo,
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QC1N8T5R2V7Y4B6D0X3JQ",
      workflow_name: "Customer support triage",
      started_at: "2026-11-27T09:10:00.000Z",
      completed_at: "2026-11-27T09:10:03.412Z",
      duration_ms: 3412,
      error: {
        code: "llm_rate_limited",
        message: "OpenAI returned 429 Too Many Requests",
        component_id: "cmp_classify_ticket",
      },
    },
  },
  {
    type: "workflow.timeout",
    category: "workflow",
    description: "A workflow execution ran longer than its time limit and was stopped.",
    schema: z.looseObject({
      ...workflowBase,
      started_at: isoTime("When the execution started").optional(),
      completed_at: isoTime("When the execution was stopped").optional(),
      duration_ms: durationMs,
      timeout_ms: z.number().nonnegative().optional().describe("The time limit it exceeded, in milliseconds"),
      error: errorInfo.optional(),
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QF6B2M9K4W1T8C5Z7H0NV",
      workflow_name: "Nightly report",
      started_at: "2026-11-27T02:00:00.000Z",
      completed_at: "2026-11-27T02:05:00.000Z",
      duration_ms: 300000,
      timeout_ms: 300000,
    },
  },
  {
    type: "workflow.cancelled",
    category: "workflow",
    description: "A workflow execution was cancelled before it finished.",
    schema: z.looseObject({
      ...workflowBase,
      started_at: isoTime("When the execution started").optional(),
      completed_at: isoTime("When the execution was cancelled").optional(),
      duration_ms: durationMs.optional(),
      cancelled_by: z.string().optional().describe("Who or what cancelled it (a user id, or system)"),
      reason: z.string().optional().describe("Why it was cancelled"),
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QH3V7P1X5D9R2M8K6F4TB",
      workflow_name: "Customer support triage",
      started_at: "2026-11-27T09:20:00.000Z",
      completed_at: "2026-11-27T09:20:41.000Z",
      duration_ms: 41000,
      cancelled_by: "usr_8f2k1m",
      reason: "Superseded by a newer run",
    },
  },
  {
    type: "component.started",
    category: "component",
    description: "A component within a workflow execution started.",
    schema: z.looseObject({
      ...componentBase,
      started_at: isoTime("When the component started").optional(),
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QA7W4H2P8S6F0E9G3K1MZ",
      component_id: "cmp_classify_ticket",
      component_type: "llm",
      component_name: "Classify ticket",
      started_at: "2026-11-27T09:00:01.020Z",
    },
  },
  {
    type: "component.completed",
    category: "component",
    description: "A component within a workflow execution finished successfully.",
    schema: z.looseObject({
      ...componentBase,
      started_at: isoTime("When the component started").optional(),
      completed_at: isoTime("When the component finished").optional(),
      duration_ms: durationMs,
      outputs: outputs.optional(),
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QA7W4H2P8S6F0E9G3K1MZ",
      component_id: "cmp_classify_ticket",
      component_type: "llm",
      component_name: "Classify ticket",
      started_at: "2026-11-27T09:00:01.020Z",
      completed_at: "2026-11-27T09:00:02.870Z",
      duration_ms: 1850,
      outputs: { label: "billing", confidence: 0.94 },
    },
  },
  {
    type: "component.failed",
    category: "component",
    description: "A component within a workflow execution stopped with an error.",
    schema: z.looseObject({
      ...componentBase,
      started_at: isoTime("When the component started").optional(),
      completed_at: isoTime("When the component stopped").optional(),
      duration_ms: durationMs.optional(),
      error: errorInfo,
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QC1N8T5R2V7Y4B6D0X3JQ",
      component_id: "cmp_fetch_crm",
      component_type: "api_request",
      component_name: "Fetch CRM record",
      duration_ms: 812,
      error: { code: "http_502", message: "CRM API answered 502 Bad Gateway" },
    },
  },
  {
    type: "component.timeout",
    category: "component",
    description: "A component ran longer than its time limit and was stopped.",
    schema: z.looseObject({
      ...componentBase,
      started_at: isoTime("When the component started").optional(),
      completed_at: isoTime("When the component was stopped").optional(),
      duration_ms: durationMs,
      timeout_ms: z.number().nonnegative().optional().describe("The time limit it exceeded, in milliseconds"),
    }),
    example: {
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      execution_id: "exe_01JD3QF6B2M9K4W1T8C5Z7H0NV",
      component_id: "cmp_summarize",
      component_type: "llm",
      component_name: "Summarize thread",
      duration_ms: 60000,
      timeout_ms: 60000,
    },
  },
  {
    type: "user.message.received",
    category: "user",
    description: "An end user sent a message in a chat session.",
    schema: z.looseObject({
      ...userBase,
      message: z
        .looseObject({
          id: id("The message"),
          role: z.enum(["user", "assistant", "system", "tool"]).describe("Who wrote the message"),
          content: z.string().describe("The message text"),
        })
        .describe("The message"),
      received_at: isoTime("When the message arrived").optional(),
    }),
    example: {
      session_id: "ses_01JD3R0T5K8M2X7C4V9B1N6P3Q",
      user_id: "usr_4821",
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      message: { id: "msg_01JD3R1A9F4H7K2M5P8S3V6X0Z", role: "user", content: "Hi, I was charged twice this month." },
      received_at: "2026-11-27T09:30:12.000Z",
    },
  },
  {
    type: "user.session.started",
    category: "user",
    description: "An end user opened a chat session.",
    schema: z.looseObject({
      ...userBase,
      started_at: isoTime("When the session started").optional(),
    }),
    example: {
      session_id: "ses_01JD3R0T5K8M2X7C4V9B1N6P3Q",
      user_id: "usr_4821",
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      started_at: "2026-11-27T09:30:00.000Z",
    },
  },
  {
    type: "user.session.ended",
    category: "user",
    description: "A chat session ended, closed by the user or expired.",
    schema: z.looseObject({
      ...userBase,
      started_at: isoTime("When the session started").optional(),
      ended_at: isoTime("When the session ended").optional(),
      duration_ms: durationMs.optional(),
      message_count: count("Messages exchanged in the session").optional(),
      reason: z.string().optional().describe("Why it ended, e.g. closed or idle_timeout"),
    }),
    example: {
      session_id: "ses_01JD3R0T5K8M2X7C4V9B1N6P3Q",
      user_id: "usr_4821",
      workflow_id: "wf_01JD3Q8M2KX7C9ZV4T6N5B1R0A",
      started_at: "2026-11-27T09:30:00.000Z",
      ended_at: "2026-11-27T09:42:30.000Z",
      duration_ms: 750000,
      message_count: 14,
      reason: "closed",
    },
  },
  {
    type: "api.quota.warning",
    category: "system",
    description: "An account is close to one of its quotas.",
    schema: z.looseObject({
      quota,
      threshold: z.number().min(0).max(1).optional().describe("The fraction of the limit that triggered the warning"),
      resets_at: isoTime("When the quota period starts over").optional(),
    }),
    example: {
      quota: { name: "api_requests", limit: 100000, used: 90125, period: "month" },
      threshold: 0.9,
      resets_at: "2026-12-01T00:00:00.000Z",
    },
  },
  {
    type: "api.quota.exceeded",
    category: "system",
    description: "An account used up one of its quotas; further requests are refused until it resets.",
    schema: z.looseObject({
      quota,
      resets_at: isoTime("When the quota period starts over").optional(),
    }),
    example: {
      quota: { name: "api_requests", limit: 100000, used: 100000, period: "month" },
      resets_at: "2026-12-01T00:00:00.000Z",
    },
  },
  {
    type: "system.maintenance",
    category: "system",
    description: "BroxiAI announces a maintenance window; without an account it goes to every account.",
    schema: z.looseObject({
      window: maintenanceWindow,
      message: z.string().min(1).describe("What is changing and what to expect"),
      services: z.array(z.string()).optional().describe("The services affected"),
    }),
    example: {
      window: { starts_at: "2026-12-05T02:00:00.000Z", ends_at: "2026-12-05T03:00:00.000Z" },
      message: "Database upgrade: workflow runs may be delayed by up to five minutes.",
      services: ["workflows", "api"],
    },
  },
  {
    type: "webhook.test",
    category: "test",
    description: "A test event, sent only by the test route, to check that an endpoint receives and verifies deliveries.",
    schema: z.looseObject({
      message: z.string().describe("A note saying this is a test"),
    }),
    example: { message: "This is a test event from BroxiAI Webhooks." },
  },
  // The service's own events about an account's webhooks (src/events/operational.ts).
  ...OPERATIONAL_ENTRIES,
];

/** Every event type a webhook can subscribe to, in the order the SPEC lists them. */
export const EVENT_TYPES: readonly string[] = Object.freeze(entries.map((e) => e.type));

/** The catalog, keyed by event type. */
export const catalog: ReadonlyMap<string, EventTypeInfo> = new Map(entries.map((e) => [e.type, e]));

/** Whether `type` is a known event type (wildcards and the `batch` envelope are not). */
export function isEventType(type: string): boolean {
  return catalog.has(type);
}

/** Validates `data` for a type; unknown extra fields are kept, and issue paths start at `data`. */
export function validateEventData(
  type: string,
  data: unknown,
): { ok: true; data: Record<string, unknown> } | { ok: false; issues: { path: string; message: string }[] } {
  const info = catalog.get(type);
  if (!info) return { ok: false, issues: [{ path: "type", message: `Unknown event type "${type}"` }] };
  const result = info.schema.safeParse(data);
  if (result.success) return { ok: true, data: result.data as Record<string, unknown> };
  return {
    ok: false,
    issues: result.error.issues.map((issue) => ({
      path: ["data", ...issue.path.map(String)].join("."),
      message: issue.message,
    })),
  };
}

type CatalogDocument = {
  data: { type: string; category: EventCategory; description: string; schema: unknown; example: Record<string, unknown> }[];
};

let documentCache: string | undefined;

/** The body of GET /v1/event-types: each type with its description, JSON Schema of `data`, and an example. */
export function catalogDocument(): CatalogDocument {
  // Converting every schema on every request is wasted work; a fresh parse of the cached JSON keeps
  // one caller's edits from leaking into the next answer.
  documentCache ??= JSON.stringify({
    data: entries.map((e) => ({
      type: e.type,
      category: e.category,
      description: e.description,
      schema: z.toJSONSchema(e.schema),
      example: e.example,
    })),
  });
  return JSON.parse(documentCache) as CatalogDocument;
}
