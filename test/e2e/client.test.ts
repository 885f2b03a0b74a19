import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { CATALOG_FILE, documentsFromLocalWorker, driftMessage, fetchDocuments, render, SCHEMA_FILE, staleFiles } from "../../scripts/codegen.mjs";
import { type DevServer, startDevServer } from "../support/dev-server";

// The typed client (client/) and the receivers' fixture catalog are generated from the service's own documents.
// Here they are generated again, in memory, from a running `npm start`, and compared with what is committed, so a
// route that changes without `npm run generate` fails `npm test` and says what to run.

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let server: DevServer;
let generated: Record<string, string>;
const scratch = mkdtempSync(join(tmpdir(), "broxiai-client-"));

beforeAll(async () => {
  server = await startDevServer();
  generated = await render(await fetchDocuments(server.url));
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

test("the committed client types and fixture catalog are what the running service's /openapi.json and /v1/event-types generate", async () => {
  expect(Object.keys(generated)).toEqual([SCHEMA_FILE, CATALOG_FILE]);
  const stale = await staleFiles(root, generated);
  expect(stale, driftMessage(stale)).toEqual([]);
});

test("a generated file that no longer matches, or is missing, is named with the command that fixes it", async () => {
  for (const [path, content] of Object.entries(generated)) {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), content);
  }
  expect(await staleFiles(scratch, generated)).toEqual([]);
  // A field renamed in the routes since the file was generated.
  writeFileSync(join(scratch, SCHEMA_FILE), generated[SCHEMA_FILE].replaceAll("next_cursor", "next_page"));
  rmSync(join(scratch, CATALOG_FILE));
  const stale = await staleFiles(scratch, generated);
  expect(stale).toEqual([SCHEMA_FILE, CATALOG_FILE]);
  expect(driftMessage(stale)).toBe(
    "client/schema.d.ts and examples/receiver-fixtures/event-types.json do not match what the service answers now: run `npm run generate` and commit the result",
  );
});

test("`npm run generate` without a running service (the Worker started in workerd for a moment) writes the same files", async () => {
  expect(await render(await documentsFromLocalWorker(root))).toEqual(generated);
});

/** Runs an ES module with plain `node` from the repository root, as a script of the listen CLI would run; answers its stdout. */
function runNode(source: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", source], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node exited ${code}:\n${err}${out}`));
    });
  });
}

test("a plain Node script, with no build step, drives the API through createClient: create, ingest, page through, and a refusal as ApiError", async () => {
  const script = `
    import { ApiError, createClient, paginate, unwrap } from "./client/index.js";
    const platform = createClient({ baseUrl: process.env.BASE_URL, token: process.env.PLATFORM_TOKEN });
    const account = unwrap(await platform.POST("/v1/accounts", { body: { name: "Plain Node" } }));
    const { key } = unwrap(await platform.POST("/v1/accounts/{account_id}/api-keys", { params: { path: { account_id: account.id } }, body: { name: "script" } }));
    const api = createClient({ baseUrl: process.env.BASE_URL, token: key });
    const webhook = unwrap(await api.POST("/v1/webhooks", { body: { url: "http://127.0.0.1:9/hooks", events: ["user.*"] } }));
    for (const n of [0, 1, 2]) {
      const data = { workflow_id: "wf_plain", execution_id: "exe_" + n };
      unwrap(await platform.POST("/v1/events", { body: { id: "evt_plain_" + n, type: "workflow.started", account_id: account.id, data } }));
    }
    const events = [];
    for await (const e of paginate((cursor) => api.GET("/v1/events", { params: { query: { cursor, limit: 2 } } }))) events.push(e.id);
    let refused = null;
    try {
      unwrap(await api.POST("/v1/webhooks", { body: { url: "ftp://example.com/hooks", events: ["*"] } }));
    } catch (err) {
      refused = { isApiError: err instanceof ApiError, status: err.status, problemStatus: err.problem?.status, message: err.message };
    }
    const outsider = await createClient({ baseUrl: process.env.BASE_URL, token: "bxk_not_a_key" }).GET("/v1/webhooks");
    console.log(JSON.stringify({ webhook: { id: webhook.id, secret: webhook.secret.slice(0, 6) }, events, refused, outsider: outsider.response.status }));
  `;
  const answer = JSON.parse(await runNode(script, { BASE_URL: server.url, PLATFORM_TOKEN: server.token }));
  expect(answer.webhook.id).toMatch(/^wh_/);
  expect(answer.webhook.secret).toBe("whsec_");
  // Three events over pages of two, newest first: the cursor was followed.
  expect(answer.events).toEqual(["evt_plain_2", "evt_plain_1", "evt_plain_0"]);
  expect(answer.refused).toMatchObject({ isApiError: true, status: 422, problemStatus: 422 });
  expect(answer.refused.message).toMatch(/^422 from \/v1\/webhooks: /);
  expect(answer.outsider).toBe(401);
});
