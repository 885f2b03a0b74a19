// Counting mode: the service exactly as src/index.ts builds it, wrapped so that every billable operation on the
// happy path is counted where it happens, without a line of src/ changed. Bundled by wrangler from
// bench/cost/wrangler.toml and used only by `npm run bench` (its cost and profile phase).
//
// Counted: Worker requests; Durable Object RPC calls and alarm invocations; D1 queries, batches, rows read and
// rows written (D1's own meta.rows_read / meta.rows_written); Durable Object SQLite rows read and written
// (cursor.rowsRead / cursor.rowsWritten) and alarm writes (setAlarm/deleteAlarm, billed as a row written each).
// Timed (the profile): wall time inside D1 calls, outbound fetches, alarm runs and RPC calls, and how late each
// alarm fired after the time it was set for. Each Worker request is also counted until its answer is ready
// (`before_202`: its D1 round trips, the object RPCs it made, their wall time and the handler's), apart from what
// it does after (waitUntil).
import app, { WebhookQueue as Queue } from "../../src/index";
import { addInto, book, countedEnv, sqlKey, zero } from "./counting.js";

// Each Worker request counts into its own record, so that what it did before its answer can be told from what its
// waitUntil work did after; the totals are the sum of them all.
const requestCounts = [];
const before202 = zero();
function workerTotals() {
  const total = zero();
  for (const c of requestCounts) addInto(total, c);
  return { ...total, before_202: before202 };
}

// The runtime refuses a wrapped DurableObjectState, so the storage classes' own methods are wrapped instead,
// once per isolate, and each call is booked to the object whose storage it is.
const bookOf = new WeakMap();
let patched = false;
function patchStorage(storage) {
  if (patched) return;
  patched = true;
  const sqlProto = Object.getPrototypeOf(storage.sql);
  const exec = sqlProto.exec;
  sqlProto.exec = function (query, ...args) {
    const cursor = exec.call(this, query, ...args);
    const b = bookOf.get(this);
    if (b) {
      b.c.sql_execs++;
      b.cursors.push([sqlKey("DO", query), cursor]);
    }
    return cursor;
  };
  const storageProto = Object.getPrototypeOf(storage);
  const { setAlarm, deleteAlarm, getAlarm } = storageProto;
  storageProto.setAlarm = function (at, ...rest) {
    const b = bookOf.get(this);
    if (b) {
      b.c.alarm_sets++;
      b.alarmAt.value = Number(at);
    }
    return setAlarm.call(this, at, ...rest);
  };
  storageProto.deleteAlarm = function (...a) {
    const b = bookOf.get(this);
    if (b) {
      b.c.alarm_deletes++;
      b.alarmAt.value = null;
    }
    return deleteAlarm.apply(this, a);
  };
  storageProto.getAlarm = function (...a) {
    const b = bookOf.get(this);
    if (b) b.c.alarm_gets++;
    return getAlarm.apply(this, a);
  };
}

// Outbound fetches happen only in the Durable Object (the queue's sendRequest calls the global fetch).
let currentQueueCounts = null;
const realFetch = globalThis.fetch;
globalThis.fetch = async (...args) => {
  const c = currentQueueCounts;
  const start = performance.now();
  try {
    return await realFetch(...args);
  } finally {
    if (c) {
      c.fetches++;
      c.fetch_ms += performance.now() - start;
    }
  }
};

function fold(c, cursors) {
  for (const [key, cur] of cursors.splice(0)) {
    c.sql_rows_read += cur.rowsRead;
    c.sql_rows_written += cur.rowsWritten;
    book(c, key, cur.rowsRead, cur.rowsWritten);
  }
}

/** The queue with every public method counted; `benchCounts()` (not counted) reports the totals. */
export class WebhookQueue extends Queue {
  #c;
  #cursors;
  #alarmAt;
  constructor(ctx, env) {
    const c = zero();
    const cursors = [];
    const alarmAt = { value: null };
    patchStorage(ctx.storage);
    const own = { c, cursors, alarmAt };
    bookOf.set(ctx.storage, own);
    bookOf.set(ctx.storage.sql, own);
    super(ctx, countedEnv(env, c));
    this.#c = c;
    this.#cursors = cursors;
    this.#alarmAt = alarmAt;
  }
  async #counted(method, fn) {
    this.#c.rpc_calls++;
    this.#c.rpc_by_method[method] = (this.#c.rpc_by_method[method] ?? 0) + 1;
    const start = performance.now();
    currentQueueCounts = this.#c;
    try {
      return await fn();
    } finally {
      this.#c.rpc_ms += performance.now() - start;
    }
  }
  configure(...a) {
    return this.#counted("configure", () => super.configure(...a));
  }
  enqueue(...a) {
    return this.#counted("enqueue", () => super.enqueue(...a));
  }
  redeliver(...a) {
    return this.#counted("redeliver", () => super.redeliver(...a));
  }
  sendTest(...a) {
    return this.#counted("sendTest", () => super.sendTest(...a));
  }
  status(...a) {
    return this.#counted("status", () => super.status(...a));
  }
  sweep(...a) {
    return this.#counted("sweep", () => super.sweep(...a));
  }
  async alarm(...a) {
    const c = this.#c;
    c.alarms++;
    if (this.#alarmAt.value !== null) c.alarm_lateness_ms.push(Date.now() - this.#alarmAt.value);
    this.#alarmAt.value = null;
    currentQueueCounts = c;
    const start = performance.now();
    try {
      return await super.alarm(...a);
    } finally {
      c.alarm_ms += performance.now() - start;
    }
  }
  async benchCounts() {
    fold(this.#c, this.#cursors);
    // An alarm still set will fire later (one more DO request): the cost phase books it to the scenario that set it.
    this.#c.alarm_pending = this.#alarmAt.value !== null ? 1 : 0;
    return this.#c;
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/counts") {
      const ids = (url.searchParams.get("webhooks") ?? "").split(",").filter(Boolean);
      const queues = await Promise.all(ids.map((id) => env.WEBHOOK_QUEUE.get(env.WEBHOOK_QUEUE.idFromName(id)).benchCounts()));
      return Response.json({ worker: workerTotals(), queues });
    }
    const c = zero();
    requestCounts.push(c);
    c.worker_requests++;
    const start = performance.now();
    const response = await app.fetch(request, countedEnv(env, c), ctx);
    c.handler_ms += performance.now() - start;
    addInto(before202, c);
    return response;
  },
  scheduled: app.scheduled,
};
