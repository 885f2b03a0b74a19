import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { type DevServer, startDevServer } from "../support/dev-server";
import { completedData, expectStatus, listAll, waitFor } from "../support/e2e-kit";
import { Sink } from "../support/sink";

/** One scenario's counts, as docs/RELIABILITY.md reports them. */
export interface ScenarioResult {
  scenario: string;
  sent: number;
  delivered: number;
  duplicated: number;
  lost: number;
  [extra: string]: unknown;
}

const results: ScenarioResult[] = [];

/** Records a scenario's counts: printed as one `RELIABILITY` line and written to test-artifacts/chaos/<file>.json. */
export function record(file: string, result: ScenarioResult): void {
  results.push(result);
  console.log(`RELIABILITY ${JSON.stringify(result)}`);
  const dir = join(process.cwd(), "test-artifacts", "chaos");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${file}.json`), `${JSON.stringify(results, null, 2)}\n`);
}

/** Writes the service's own output (wrangler and the Worker's console) to test-artifacts/chaos/<file>.server.log. */
export function saveServerLog(file: string, server: DevServer | undefined): void {
  if (!server) return;
  const dir = join(process.cwd(), "test-artifacts", "chaos");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${file}.server.log`), server.output());
}

/** Ingests `count` workflow.completed events for one account in order (batch route, 50 a request); answers their ids. */
export async function ingestInOrder(server: DevServer, accountId: string, prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}_${String(i).padStart(4, "0")}`);
  for (let i = 0; i < ids.length; i += 50) {
    const events = ids.slice(i, i + 50).map((id, k) => ({ id, type: "workflow.completed", account_id: accountId, data: completedData(i + k) }));
    let res = await server.fetch("/v1/events/batch", { method: "POST", bearer: server.token, json: { events } });
    // wrangler dev's own ProxyWorker sometimes answers a POST 503 without passing it on (workers-sdk#14641); resend.
    for (let retry = 0; res.status === 503 && retry < 5 && (await res.clone().text()).startsWith("Your worker restarted mid-request"); retry++) {
      res = await server.fetch("/v1/events/batch", { method: "POST", bearer: server.token, json: { events } });
    }
    const answer = await expectStatus(res, 202);
    if (!answer.data.every((r: any) => r.deliveries === 1)) throw new Error(`expected one delivery per event: ${JSON.stringify(answer.data[0])}`);
  }
  return ids;
}

/** A webhook's deliveries from the log, all pages. */
export function deliveriesOf(server: DevServer, key: string, webhookId: string, status?: string): Promise<any[]> {
  return listAll(server, key, `/v1/webhooks/${webhookId}/deliveries${status ? `?status=${status}` : ""}`);
}

/**
 * Waits until the log holds `count` deliveries of the webhook, none of them pending; answers them by status.
 * On a timeout it throws with the unsettled deliveries, their attempts and the service's recent errors.
 */
export async function settled(server: DevServer, key: string, webhookId: string, count: number, timeoutMs: number): Promise<Record<string, number>> {
  let last: any[] = [];
  const done = await waitFor(
    async () => {
      last = await deliveriesOf(server, key, webhookId);
      return last.length === count && last.every((d) => d.status !== "pending");
    },
    timeoutMs,
    300,
  );
  if (!done) {
    const open = last.filter((d) => d.status === "pending").slice(0, 5);
    const details = await Promise.all(open.map((d) => deliveryDetail(server, key, d.id)));
    const errors = server
      .output()
      .split("\n")
      .filter((l) => /error|fail|exception|uncaught/i.test(l))
      .slice(-20);
    throw new Error(
      `webhook ${webhookId} not settled within ${timeoutMs} ms: ${last.length}/${count} deliveries, pending: ${JSON.stringify(
        details.map((d) => ({ ...d, attempts: d.attempts.map((a: any) => [a.number, a.started_at, a.status_code, a.error]) })),
      )}\nservice errors:\n${errors.join("\n")}`,
    );
  }
  const by: Record<string, number> = {};
  for (const d of last) by[d.status] = (by[d.status] ?? 0) + 1;
  return by;
}

/** One delivery with its attempts. */
export function deliveryDetail(server: DevServer, key: string, id: string): Promise<any> {
  return expectStatus(server.fetch(`/v1/deliveries/${id}`, { bearer: key }), 200);
}

/**
 * A dev server and a sink for one chaos file: started before its tests, stopped after them (SIGKILL, state
 * deleted) with the server's log saved under the file's name.
 */
export function serverAndSink(file: string): { server: DevServer; sink: Sink } {
  const scenario = {} as { server: DevServer; sink: Sink };
  beforeAll(async () => {
    [scenario.server, scenario.sink] = await Promise.all([startDevServer(), Sink.start()]);
  });
  afterAll(async () => {
    saveServerLog(file, scenario.server);
    await scenario.server?.stop("SIGKILL");
    scenario.server?.cleanup();
    await scenario.sink?.down();
  });
  return scenario;
}
