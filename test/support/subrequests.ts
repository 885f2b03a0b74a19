import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Env } from "../../src/config";
import type { FanoutMessage } from "../../src/events/fanout-contract";
import worker from "../../src/index";

// Subrequests counted per invocation: the Env's bindings (each D1 database, the queues' Durable Object namespace, the
// FANOUT queue) wrapped so that every call that leaves the Worker — a D1 query or batch, an RPC to a queue, a send to
// the Cloudflare Queue — adds one, as the runtime's 1,000-subrequest limit counts them. And the FANOUT queue replaced
// by one that keeps what is sent, so the test delivers the pages itself (as the platform would, or not at all).

/** What one invocation did: the subrequests it made. */
export interface Meter {
  subrequests: number;
}

const TARGET = Symbol("statement");

function countedDb(db: D1Database, meter: Meter): D1Database {
  const statement = (s: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(s, {
      get(t, k) {
        if (k === TARGET) return t;
        if (k === "bind") return (...a: unknown[]) => statement(t.bind(...a));
        if (k === "first" || k === "all" || k === "run" || k === "raw") {
          return (...a: unknown[]) => {
            meter.subrequests++;
            return (t[k] as (...x: unknown[]) => unknown).apply(t, a);
          };
        }
        const v = Reflect.get(t, k);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  return new Proxy(db, {
    get(t, k) {
      if (k === "prepare") return (sql: string) => statement(t.prepare(sql));
      if (k === "batch") {
        return (list: D1PreparedStatement[]) => {
          meter.subrequests++;
          return t.batch(list.map((s) => (s as unknown as Record<symbol, D1PreparedStatement>)[TARGET] ?? s));
        };
      }
      if (k === "exec") {
        return (sql: string) => {
          meter.subrequests++;
          return t.exec(sql);
        };
      }
      const v = Reflect.get(t, k);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

/** A queue's hand-off refused (the runtime's error, as an RPC that fails mid-page would throw). */
export type Refuse = (webhookHandoffs: number) => boolean;

function countedQueues(ns: Env["WEBHOOK_QUEUE"], meter: Meter, refuse: Refuse): Env["WEBHOOK_QUEUE"] {
  let enqueues = 0;
  const stub = (s: DurableObjectStub) =>
    new Proxy(s, {
      get(t, k) {
        const v = Reflect.get(t, k);
        if (typeof k !== "string" || k === "id" || k === "name" || k === "then" || typeof v !== "function") return v;
        return (...a: unknown[]) => {
          meter.subrequests++;
          if (k === "enqueue" && refuse(++enqueues)) return Promise.reject(new Error("Network connection lost."));
          return (t as unknown as Record<string, (...x: unknown[]) => unknown>)[k](...a);
        };
      },
    });
  return new Proxy(ns, {
    get(t, k) {
      if (k === "get") return (id: DurableObjectId) => stub(t.get(id) as unknown as DurableObjectStub);
      const v = Reflect.get(t, k);
      return typeof v === "function" ? v.bind(t) : v;
    },
  }) as Env["WEBHOOK_QUEUE"];
}

/** The FANOUT queue as the test holds it: what was sent, in order, waiting for the test to deliver it. */
export class HeldQueue {
  sent: FanoutMessage[] = [];

  binding(meter: Meter): Env["FANOUT"] {
    return {
      send: async (body: FanoutMessage) => {
        meter.subrequests++;
        this.sent.push(body);
      },
      sendBatch: async (messages: Iterable<MessageSendRequest<FanoutMessage>>) => {
        meter.subrequests++;
        for (const m of messages) this.sent.push(m.body);
      },
    } as unknown as Env["FANOUT"];
  }

  /** Everything sent so far, taken off the queue. */
  take(): FanoutMessage[] {
    const out = this.sent;
    this.sent = [];
    return out;
  }
}

/** The test's env with every binding counted into `meter`, the FANOUT queue held by `queue`, and `vars` over it. */
export function countedEnv(meter: Meter, queue: HeldQueue, opts: { vars?: Partial<Env>; refuse?: Refuse } = {}): Env {
  return {
    ...env,
    ...opts.vars,
    DB: countedDb(env.DB, meter),
    LOG_DB_1: countedDb(env.LOG_DB_1!, meter),
    WEBHOOK_QUEUE: countedQueues(env.WEBHOOK_QUEUE, meter, opts.refuse ?? (() => false)),
    FANOUT: queue.binding(meter),
  };
}

/** One request to the Worker as one invocation, with its subrequests counted. */
export async function countedFetch(
  queue: HeldQueue,
  method: string,
  path: string,
  body: unknown,
  vars: Partial<Env> = {},
): Promise<{ res: Response; subrequests: number; ms: number }> {
  const meter: Meter = { subrequests: 0 };
  const ctx = createExecutionContext();
  const started = performance.now();
  const res = await worker.fetch(
    new Request(`https://webhooks.test${path}`, {
      method,
      headers: { authorization: `Bearer ${env.PLATFORM_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
    countedEnv(meter, queue, { vars }),
    ctx,
  );
  const ms = performance.now() - started;
  await waitOnExecutionContext(ctx);
  return { res, subrequests: meter.subrequests, ms };
}

let delivered = 0;

/**
 * Delivers messages to the Worker's queue handler as one invocation (one batch, as the platform would with
 * max_batch_size 5), with its subrequests counted; answers which were acknowledged and which are to be retried.
 */
export async function consume(
  queue: HeldQueue,
  messages: FanoutMessage[],
  opts: { attempts?: number; refuse?: Refuse } = {},
): Promise<{ subrequests: number; acked: FanoutMessage[]; retried: FanoutMessage[] }> {
  const meter: Meter = { subrequests: 0 };
  const ids = messages.map(() => `msg-${++delivered}`);
  const batch = createMessageBatch<FanoutMessage>(
    "broxiai-webhooks-fanout",
    messages.map((body, i) => ({ id: ids[i], timestamp: new Date(), attempts: opts.attempts ?? 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, countedEnv(meter, queue, { refuse: opts.refuse }));
  const result = await getQueueResult(batch, ctx);
  const retried = new Set(result.retryMessages.map((m) => m.msgId));
  const acked = new Set(result.explicitAcks);
  return {
    subrequests: meter.subrequests,
    acked: messages.filter((_, i) => acked.has(ids[i])),
    retried: messages.filter((_, i) => retried.has(ids[i])),
  };
}
