// The typed client of the BroxiAI Webhooks API: openapi-fetch over the types that openapi-typescript generates
// from GET /openapi.json (schema.d.ts, by `npm run generate`). Plain ESM with its types beside it (index.d.ts), so
// a Node script imports it as it is, with no build step and no bundler:
//
//   import { createClient, unwrap } from "./client/index.js";
//   const api = createClient({ baseUrl: "http://localhost:8787", token: process.env.BROXIAI_KEY });
//   const webhook = unwrap(await api.GET("/v1/webhooks/{webhook_id}", { params: { path: { webhook_id: "wh_…" } } }));
import createFetchClient from "openapi-fetch";

/** A client of the service at `baseUrl` that sends `token` (the platform token or an account's bxk_ key) as a bearer. */
export function createClient({ baseUrl, token, headers = {}, fetch } = {}) {
  if (typeof baseUrl !== "string" || !/^https?:\/\//.test(baseUrl)) {
    throw new TypeError(`createClient needs baseUrl, the service's http(s) address (e.g. http://localhost:8787), not ${JSON.stringify(baseUrl)}`);
  }
  return createFetchClient({
    baseUrl,
    headers: token ? { ...headers, authorization: `Bearer ${token}` } : headers,
    ...(fetch ? { fetch } : {}),
  });
}

/** An answer the API refused: its HTTP status and, when the body was one, its problem document. */
export class ApiError extends Error {
  constructor(response, body) {
    const problem = body && typeof body === "object" ? body : undefined;
    const said = problem ? `${problem.title ?? ""}${problem.detail ? `: ${problem.detail}` : ""}` : String(body ?? response.statusText).slice(0, 300);
    super(`${response.status} from ${new URL(response.url || "http://unknown").pathname}: ${said}`);
    this.name = "ApiError";
    this.status = response.status;
    this.problem = problem;
  }
}

/** The data of a successful answer; an ApiError for any other. */
export function unwrap({ data, error, response }) {
  if (!response.ok) throw new ApiError(response, error);
  return data;
}

/** Every item of a cursor-paged list, page by page: `fetchPage(cursor)` asks for one page (no cursor: the first). */
export async function* paginate(fetchPage) {
  let cursor;
  do {
    const page = unwrap(await fetchPage(cursor));
    yield* page.data;
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
}
