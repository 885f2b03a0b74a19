// The client's public types, named after the API's own schemas. A regular TypeScript module rather than part of
// index.d.ts, so that `tsc --noEmit` checks it (declaration files are skipped): a schema renamed in the routes
// breaks here, and in every caller, instead of quietly becoming `any`.
import type { Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, operations, paths } from "./schema";

/** A client of every route in the OpenAPI document, typed by path, method, parameters, body and answer. */
export type BroxiClient = Client<paths>;

export interface ClientOptions {
  /** The service's address, e.g. http://localhost:8787 or https://webhooks.example.com. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`: the platform token, or an account's API key (bxk_…). */
  token?: string;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** What every call of the client answers: the parsed body as `data` on a 2xx, as `error` otherwise. */
export interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** One page of a cursor-paged list. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

type Schemas = components["schemas"];
export type Account = Schemas["Account"];
export type ApiKey = Schemas["ApiKey"];
export type EventInput = Schemas["EventInput"];
export type IngestAnswer = Schemas["IngestAnswer"];
export type Event = Schemas["Event"];
export type EventWithDeliveries = Schemas["EventWithDeliveries"];
export type Webhook = Schemas["Webhook"];
export type WebhookWithSecret = Schemas["WebhookWithSecret"];
export type WebhookCreate = Schemas["WebhookCreate"];
export type WebhookUpdate = Schemas["WebhookUpdate"];
export type WebhookFailing = Schemas["WebhookFailing"];
export type WebhookHeld = Schemas["WebhookHeld"];
export type TestResult = Schemas["TestResult"];
export type Delivery = Schemas["Delivery"];
export type Attempt = Schemas["Attempt"];
export type Stats = Schemas["Stats"];
/** A relay of `npm run listen` (README, "Develop from a laptop (relay)"). */
export type Relay = Schemas["Relay"];
export type RelayCreate = Schemas["RelayCreate"];
export type RelayCreated = Schemas["RelayCreated"];
/** An error answer (RFC 9457 application/problem+json). */
export type Problem = Schemas["Problem"];
