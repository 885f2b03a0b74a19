import { z } from "@hono/zod-openapi";

/** The RFC 9457 problem document every error answers with. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: ProblemSchema } } });

/** The error answers a route may give, for the OpenAPI document. */
export const errors = {
  400: problem("Malformed JSON"),
  401: problem("Missing or wrong token"),
  403: problem("Address outside the allowlist"),
  404: problem("No such object in this account"),
  413: problem("Body over 256 KiB"),
  422: problem("Validation failed; `errors` names each field"),
  503: problem("Storage temporarily unavailable; nothing was accepted"),
} as const;

/** A JSON body or answer. */
export function json<T extends z.ZodType>(schema: T, description = "") {
  return { description, content: { "application/json": { schema } } };
}

/** A cursor-paged list answer. */
export function page<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() });
}

/** ?cursor= and ?limit= (default 50, at most 200). */
export const PageQuery = z.object({
  cursor: z.string().max(200).optional().openapi({ description: "next_cursor from the previous page" }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const IdParam = (name: string, example: string) =>
  z.object({
    [name]: z
      .string()
      .max(200)
      .openapi({ param: { name, in: "path" }, example }),
  });

export const bearer = [{ bearerAuth: [] }];
