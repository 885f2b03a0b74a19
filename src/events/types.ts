import type * as z from "zod";

/** The group an event type belongs to; the dashboard and the catalog document sort by it. */
export type EventCategory = "workflow" | "component" | "user" | "system" | "operational" | "test";

/** One catalog entry: what the type means, the zod schema of its `data`, and a sample that passes it. */
export interface EventTypeInfo {
  type: string;
  category: EventCategory;
  description: string;
  schema: z.ZodType;
  example: Record<string, unknown>;
}
