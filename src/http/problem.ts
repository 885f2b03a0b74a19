import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** One field-level problem: where (a dotted path into the request) and what is wrong. */
export interface FieldError {
  path: string;
  message: string;
}

/** An RFC 9457 problem document. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

const TITLES: Record<number, [slug: string, title: string]> = {
  400: ["malformed-request", "Malformed request"],
  401: ["unauthorized", "Authentication required"],
  403: ["forbidden", "Forbidden"],
  404: ["not-found", "Not found"],
  405: ["method-not-allowed", "Method not allowed"],
  409: ["conflict", "Conflict"],
  413: ["payload-too-large", "Request body too large"],
  415: ["unsupported-media-type", "Unsupported media type"],
  422: ["validation", "Invalid request"],
  426: ["upgrade-required", "Upgrade required"],
  429: ["rate-limited", "Too many requests"],
  500: ["internal", "Internal error"],
  502: ["bad-gateway", "Receiver could not be reached"],
  503: ["unavailable", "Service temporarily unavailable"],
};

/** Builds the problem document for a status. */
export function problemBody(status: number, detail: string, extra: Partial<Problem> = {}): Problem {
  const [slug, title] = TITLES[status] ?? ["error", "Error"];
  return { type: `https://docs.broxi.ai/webhooks/problems/${slug}`, title, status, detail, ...extra };
}

/** A problem+json Response. */
export function problemResponse(status: number, detail: string, extra: Partial<Problem> = {}, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(problemBody(status, detail, extra)), {
    status,
    headers: { ...Object.fromEntries(new Headers(headers)), "content-type": "application/problem+json" },
  });
}

/** An expected failure that the error handler turns into problem+json; throw it from anywhere in a request. */
export class ProblemError extends HTTPException {
  constructor(status: ContentfulStatusCode, detail: string, extra: Partial<Problem> = {}, headers: HeadersInit = {}) {
    super(status, { message: detail, res: problemResponse(status, detail, extra, headers) });
  }
}

/** Shorthand for the commonest problem: a 422 naming the field at fault. */
export function invalid(path: string, message: string): ProblemError {
  return new ProblemError(422, `${path}: ${message}`, { errors: [{ path, message }] });
}

/** A 422 naming every field a zod validation refused. */
export function validationProblem(issues: readonly { path: readonly PropertyKey[]; message: string }[]): ProblemError {
  const errors = zodFieldErrors(issues);
  return new ProblemError(422, errors.map((e) => `${e.path}: ${e.message}`).join("; "), { errors });
}

/** 404 for ids that do not exist *or* belong to another account — the two must be indistinguishable. */
export function notFound(what: string, id: string): ProblemError {
  return new ProblemError(404, `No ${what} with id ${id} in this account.`);
}

/**
 * Turns a zod error (from request validation) into field errors with dotted paths. An unknown field is reported
 * at its own path (zod reports it at the enclosing object's), so the answer names the field to remove.
 */
export function zodFieldErrors(
  issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] }[],
  prefix = "",
): FieldError[] {
  const at = (path: readonly PropertyKey[]) => [prefix, ...path.map(String)].filter(Boolean).join(".") || "(body)";
  return issues.flatMap((i) =>
    i.code === "unrecognized_keys" && i.keys?.length
      ? i.keys.map((key) => ({ path: at([...i.path, key]), message: "unknown field" }))
      : [{ path: at(i.path), message: i.message }],
  );
}

/**
 * The single error handler: expected failures (HTTPException, including hono's own 400 for malformed JSON and
 * body-limit's 413) become problem+json with their status; anything else is logged and answered as a 500
 * that reveals nothing.
 */
export function onError(err: Error, c: Context): Response {
  if (err instanceof HTTPException) {
    const res = err.res;
    if (res && res.headers.get("content-type") === "application/problem+json") return res;
    const status = err.status;
    const detail =
      status === 400 && /json/i.test(err.message)
        ? "The request body is not valid JSON."
        : status === 415
          ? "Send the request body as JSON, with `content-type: application/json`."
          : err.message || "Request failed.";
    return problemResponse(status, detail, {}, res?.headers ?? {});
  }
  if (isD1Unavailable(err)) {
    console.error("storage unavailable", c.req.method, c.req.path, err.message);
    return problemResponse(503, "Storage is temporarily unavailable; nothing was accepted. Retry shortly.", {}, { "retry-after": "5" });
  }
  console.error("unhandled error", c.req.method, c.req.path, err.stack ?? err.message);
  return problemResponse(500, "Something went wrong on our side; it has been logged.");
}

function isD1Unavailable(err: Error): boolean {
  return /D1_ERROR|D1 is overloaded|storage.*(unavailable|reset)|Network connection lost/i.test(err.message);
}
