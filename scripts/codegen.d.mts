// Types of codegen.mjs, for the drift test that imports it.

/** The documents the generated files come from: GET /openapi.json and GET /v1/event-types. */
export interface Documents {
  openapi: unknown;
  catalog: unknown;
}

export const COMMAND: string;
export const SCHEMA_FILE: string;
export const CATALOG_FILE: string;
export function fetchDocuments(baseUrl: string, fetchImpl?: (url: URL) => Promise<Response>): Promise<Documents>;
export function documentsFromLocalWorker(root: string): Promise<Documents>;
export function render(documents: Documents): Promise<Record<string, string>>;
export function staleFiles(root: string, files: Record<string, string>): Promise<string[]>;
export function driftMessage(stale: string[]): string;
