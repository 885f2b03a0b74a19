import type { Answer, BroxiClient, ClientOptions, Page, Problem } from "./types.js";

export type * from "./types.js";

/** A client of the service at `baseUrl` that sends `token` (the platform token or an account's bxk_ key) as a bearer. */
export function createClient(options: ClientOptions): BroxiClient;

/** An answer the API refused: its HTTP status and, when the body was one, its problem document. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;
}

/** The data of a successful answer; an ApiError for any other. */
export function unwrap<T>(answer: Answer<T>): T;

/** Every item of a cursor-paged list, page by page: `fetchPage(cursor)` asks for one page (no cursor: the first). */
export function paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Answer<Page<T>>>): AsyncGenerator<T, void, undefined>;
