import { z } from "@hono/zod-openapi";

/** An event as the platform sends it. */
export const EventInputSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_\-.:]{1,128}$/, "1–128 characters of A-Z a-z 0-9 _ - . :")
      .optional()
      .openapi({ description: "Your id for the event; sending the same id again is answered 200 with the first answer and creates nothing." }),
    type: z.string().max(100).openapi({ example: "workflow.completed" }),
    account_id: z
      .string()
      // "" must not pass for "absent": it would broadcast, yet be stored under no account and sent as "".
      .min(1)
      .max(100)
      .nullable()
      .optional()
      .openapi({ description: "Required, except for system.maintenance, which without it goes to every account." }),
    data: z.record(z.string(), z.unknown()),
    timestamp: z.iso.datetime({ offset: true }).optional(),
  })
  .openapi("EventInput");

export type EventInput = z.infer<typeof EventInputSchema>;

/** An event that passed validation, with its id (given or made) and the account it is stored under. */
export interface Accepted {
  index: number;
  input: EventInput;
  id: string;
  /** Its account, or BROADCAST. */
  scope: string;
}
