import { beforeAll, describe, expect, test } from "vitest";
import { runMaintenance } from "../src/cron";
import { FANOUT_PAGE } from "../src/events/fanout";
import type { FanoutMessage } from "../src/events/fanout-contract";
import { call, completed, expectJson, newAccount, receiver, sendEvent } from "./support/api";
import { settleAll } from "./support/delivery";
import { shardOf } from "./support/shards";
import { consume, countedEnv, countedFetch, HeldQueue, type Meter } from "./support/subrequests";

// Large broadcasts through the FANOUT queue (src/events/fanout.ts), with the log in two shards. The test holds the
// queue: it delivers the pages to the Worker's queue handler itself — once, twice, after a crash, or never — and
// counts each invocation's subrequests through the Env's bindings.

const MAINTENANCE = { window: { starts_at: "2026-12-05T02:00:00.000Z", ends_at: "2026-12-05T03:00:00.000Z" }, message: "Database upgrade" };
const LIMIT = 1000;

type Receiver = Awaited<ReturnType<typeof receiver>>;
interface Account {
  accountId: string;
  key: string;
  hooks: { id: string; r: Receiver }[];
}

/** An account with `n` webhooks for system.maintenance, each at its own receiver. */
async function account(n: number): Promise<Account> {
  const { accountId, key } = await newAccount();
  const hooks: Account["hooks"] = [];
  for (let i = 0; i < n; i++) {
    const r = await receiver();
    const wh = await expectJson(call("POST", "/v1/webhooks", { token: key, body: { url: r.url, events: ["system.maintenance"] } }), 201);
    hooks.push({ id: wh.id, r });
  }
  return { accountId, key, hooks };
}

/** What each receiver got of one event: the deliveries (x-broxiai-delivery) it was sent, by webhook. */
async function receivedOf(accounts: Account[], eventId: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  await Promise.all(
    accounts.flatMap((a) =>
      a.hooks.map(async (h) => {
        const got = (await h.r.received()).filter((x) => JSON.parse(x.body).id === eventId);
        out.set(
          h.id,
          got.map((x) => x.headers["x-broxiai-delivery"]),
        );
      }),
    ),
  );
  return out;
}

/** Delivers every held page, five to an invocation as the consumer is configured; answers each invocation's count. */
async function drain(queue: HeldQueue): Promise<number[]> {
  const counts: number[] = [];
  for (let pages = queue.take(); pages.length > 0; pages = queue.take()) {
    for (let i = 0; i < pages.length; i += 5) {
      const r = await consume(queue, pages.slice(i, i + 5));
      expect(r.retried).toEqual([]);
      counts.push(r.subrequests);
    }
  }
  await settleAll();
  return counts;
}

const broadcast = (queue: HeldQueue, id: string, vars = {}) =>
  countedFetch(queue, "POST", "/v1/events", { id, type: "system.maintenance", data: MAINTENANCE }, vars);

describe("at most FANOUT_DIRECT_MAX webhooks", () => {
  test("a broadcast is handed off within its ingest call, as before: nothing is queued", async () => {
    const a = await account(3);
    const queue = new HeldQueue();
    const { res, subrequests } = await broadcast(queue, "mnt_direct");
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ id: "mnt_direct", deliveries: 3 });
    expect(queue.sent).toEqual([]);
    expect(subrequests).toBeLessThan(20);
    await settleAll();
    for (const got of (await receivedOf([a], "mnt_direct")).values()) expect(got).toHaveLength(1);
    // The same broadcast past a threshold of 2 goes through the queue instead.
    const past = await broadcast(queue, "mnt_past", { FANOUT_DIRECT_MAX: "2" });
    expect(await past.res.json()).toEqual({ id: "mnt_past", deliveries: 3 });
    expect(queue.sent).toEqual([{ event_id: "mnt_past", page: 0 }]);
    await drain(queue);
    for (const got of (await receivedOf([a], "mnt_past")).values()) expect(got).toHaveLength(1);
  });
});

describe("a broadcast to 600 webhooks across 60 accounts on both shards", { timeout: 60_000 }, () => {
  const accounts: Account[] = [];
  let quiet: { accountId: string; key: string };
  beforeAll(async () => {
    for (let i = 0; i < 60; i++) accounts.push(await account(10));
    quiet = await newAccount();
  }, 120_000);
  const all = () => accounts.flatMap((a) => a.hooks);

  test("ingest answers at once and queues pages; each consumer invocation stays under 1,000 subrequests; every webhook gets exactly one delivery", async () => {
    expect(new Set(await Promise.all(accounts.map((a) => shardOf(a.accountId))))).toEqual(new Set([0, 1]));
    const queue = new HeldQueue();
    // One account has an event of its own with the broadcast's id: it keeps it, and the broadcast leaves it out.
    const own = accounts[7];
    await expectJson(sendEvent({ id: "mnt_big", type: "workflow.completed", account_id: own.accountId, data: completed(1) }), 202);
    await settleAll();
    const hooks = all().length + 3; // the first describe's account
    const ingest = await broadcast(queue, "mnt_big");
    expect(ingest.res.status).toBe(202);
    expect(await ingest.res.json()).toEqual({ id: "mnt_big", deliveries: hooks - 10 });
    expect(ingest.subrequests).toBeLessThan(20);
    const pages = queue.sent.length;
    expect(pages).toBeGreaterThanOrEqual(Math.ceil((hooks - 10) / FANOUT_PAGE));
    expect(pages).toBeLessThanOrEqual(Math.ceil((hooks - 10) / FANOUT_PAGE) + 1);
    // Nothing is sent before its page runs.
    expect([...(await receivedOf(accounts, "mnt_big")).values()].flat()).toEqual([]);

    const counts = await drain(queue);
    expect(counts.length).toBe(Math.ceil(pages / 5));
    for (const n of counts) expect(n).toBeLessThanOrEqual(LIMIT);
    // A full invocation of 5 pages makes ~100 hand-offs a page, and its D1 calls.
    expect(Math.max(...counts)).toBeGreaterThan(400);
    console.log(`fan-out of ${hooks - 10} webhooks: ingest ${ingest.subrequests} subrequests, ${pages} pages, invocations ${counts.join(", ")}`);

    const got = await receivedOf(accounts, "mnt_big");
    for (const a of accounts) {
      for (const h of a.hooks) expect(got.get(h.id), h.id).toHaveLength(a === own ? 0 : 1);
    }
    // Each account lists the notice (its own event, for the one that had the id), with the deliveries it made.
    for (const a of [accounts[0], accounts[59]]) {
      const e = await expectJson(call("GET", "/v1/events/mnt_big", { token: a.key }), 200);
      expect(e).toMatchObject({ id: "mnt_big", type: "system.maintenance", account_id: a.accountId, data: MAINTENANCE });
      const listed = await expectJson(call("GET", "/v1/deliveries?event_id=mnt_big", { token: a.key }), 200);
      expect(listed.data.map((d: { webhook_id: string }) => d.webhook_id).sort()).toEqual(a.hooks.map((h) => h.id).sort());
      expect(listed.data.map((d: { id: string }) => d.id).sort()).toEqual(a.hooks.map((h) => got.get(h.id)![0]).sort());
    }
    expect(await expectJson(call("GET", "/v1/events/mnt_big", { token: own.key }), 200)).toMatchObject({ type: "workflow.completed" });
    expect(await expectJson(call("GET", "/v1/events/mnt_big", { token: quiet.key }), 200)).toMatchObject({ type: "system.maintenance" });
    // Its repeat is answered as the first time and queues nothing.
    const repeat = await broadcast(queue, "mnt_big");
    expect(await repeat.res.json()).toEqual({ id: "mnt_big", deliveries: hooks - 10 });
    expect(repeat.res.status).toBe(200);
    expect(queue.sent).toEqual([]);
  });

  test("a redelivered page, and an account's own event stored while its page waited, create nothing twice", async () => {
    const queue = new HeldQueue();
    await broadcast(queue, "mnt_twice");
    const pages = queue.take();
    const late = accounts[0];
    await expectJson(sendEvent({ id: "mnt_twice", type: "workflow.completed", account_id: late.accountId, data: completed(2) }), 202);
    for (let i = 0; i < pages.length; i += 5) await consume(queue, pages.slice(i, i + 5));
    await settleAll();
    const first = await receivedOf(accounts, "mnt_twice");
    // The platform delivers every message again (at least once): the pages run a second time.
    for (let i = 0; i < pages.length; i += 5)
      expect((await consume(queue, pages.slice(i, i + 5), { attempts: 2 })).acked).toHaveLength(Math.min(5, pages.length - i));
    await settleAll();
    expect(await receivedOf(accounts, "mnt_twice")).toEqual(first);
    for (const a of accounts) for (const h of a.hooks) expect(first.get(h.id), h.id).toHaveLength(a === late ? 0 : 1);
    expect(await expectJson(call("GET", "/v1/events/mnt_twice", { token: late.key }), 200)).toMatchObject({ type: "workflow.completed" });
  });

  test("a consumer that fails mid-page is retried; the retry sends only what had not gone, under the same delivery ids", async () => {
    const queue = new HeldQueue();
    await broadcast(queue, "mnt_crash");
    const pages = queue.take();
    // The first invocation's hand-offs fail after 150 of them: page 0 is handed off whole, page 1 half, the rest not.
    const crashed = await consume(queue, pages.slice(0, 5), { refuse: (n) => n > 150 });
    expect(crashed.acked.length).toBe(1);
    expect(crashed.retried.length).toBe(4);
    await settleAll();
    const before = await receivedOf(accounts, "mnt_crash");
    // (150 hand-offs, less the first describe's account, which this test does not watch.)
    const sentBefore = [...before.values()].filter((d) => d.length > 0).length;
    expect(sentBefore).toBeGreaterThanOrEqual(150 - 3);
    expect(sentBefore).toBeLessThanOrEqual(150);
    // The retries, and the pages not yet run.
    await consume(queue, crashed.retried, { attempts: 2 });
    for (let i = 5; i < pages.length; i += 5) await consume(queue, pages.slice(i, i + 5));
    await settleAll();
    const after = await receivedOf(accounts, "mnt_crash");
    for (const h of all()) {
      expect(after.get(h.id), h.id).toHaveLength(1);
      if (before.get(h.id)!.length > 0) expect(after.get(h.id)).toEqual(before.get(h.id));
    }
    // What the receivers got is what the log lists.
    const a = accounts[12];
    const listed = await expectJson(call("GET", "/v1/deliveries?event_id=mnt_crash", { token: a.key }), 200);
    expect(listed.data.map((d: { id: string }) => d.id).sort()).toEqual(a.hooks.map((h) => after.get(h.id)![0]).sort());
  });

  test("a batch larger than the consumer's share runs pages until 500 hand-offs and leaves the rest for a retry", async () => {
    const queue = new HeldQueue();
    await broadcast(queue, "mnt_budget");
    const pages = queue.take();
    expect(pages.length).toBeGreaterThanOrEqual(7);
    // All of them in one invocation (more than max_batch_size allows, as a larger setting or a large account would).
    const first = await consume(queue, pages);
    expect(first.subrequests).toBeLessThanOrEqual(LIMIT);
    expect(first.retried.length).toBeGreaterThanOrEqual(1);
    expect(first.acked.length + first.retried.length).toBe(pages.length);
    expect(await consume(queue, first.retried, { attempts: 2 })).toMatchObject({ retried: [] });
    await settleAll();
    for (const got of (await receivedOf(accounts, "mnt_budget")).values()) expect(got).toHaveLength(1);
  });

  test("pages whose messages were lost are queued again by the cron, once they are overdue", async () => {
    const queue = new HeldQueue();
    await broadcast(queue, "mnt_lost");
    const lost = queue.take();
    const meter: Meter = { subrequests: 0 };
    expect((await runMaintenance(countedEnv(meter, queue), Date.now() + 60_000)).requeued).toBe(0);
    expect(queue.sent).toEqual([]);
    // FANOUT_REQUEUE_AFTER_S is 10 minutes by default.
    const overdue = Date.now() + 11 * 60_000;
    expect((await runMaintenance(countedEnv(meter, queue), overdue)).requeued).toBe(lost.length);
    expect(queue.sent.map((m: FanoutMessage) => m.page).sort((x, y) => x - y)).toEqual(lost.map((m) => m.page).sort((x, y) => x - y));
    await drain(queue);
    for (const got of (await receivedOf(accounts, "mnt_lost")).values()) expect(got).toHaveLength(1);
    // Done pages are not queued again.
    expect((await runMaintenance(countedEnv(meter, queue), overdue + 20 * 60_000)).requeued).toBe(0);
  });
});
