// Counting mode: the service exactly as src/index.ts builds it, wrapped so that every billable operation on the
// happy path is counted where it happens, without a line of src/ changed. Bundled by wrangler from
// bench/cost/wrangler.toml and used only by `npm run bench` (its cost and profile phase).
//
// Counted: Worker requests; Durable Object RPC calls and alarm invocations; D1 queries, batches, rows read and
// rows written (D1's own meta.rows_read / meta.rows_written); Durable Object SQLite rows read and written
// (cursor.rowsRead / cursor.rowsWritten) and alarm writes (setAlarm/deleteAlarm, billed as a row written each).
// Timed (the profile): wall time inside D1 calls, outbound fetches, alarm runs and RPC calls, and how late each
// alarm fired after the time it was set for.
import app, { WebhookQueue as Queue } from "../../src/index";

const zero = () => ({
  worker_requests: 0,
  rpc_calls: 0,
  rpc_by_method: {},
  alarms: 0,
  d1_queries: 0,
  d1_batches: 0,
  d1_statements_in_batches: 0,
  d1_rows_read: 0,
  d1_rows_written: 0,
  d1_ms: 0,
  sql_execs: 0,
  sql_rows_read: 0,
  sql_rows_written: 0,
  alarm_sets: 0,
  alarm_deletes: 0,
  alarm_gets: 0,
  alarm_pending: 0,
  fetches: 0,
  fetch_ms: 0,
  alarm_ms: 0,
  rpc_ms: 0,
  alarm_lateness_ms: [],
  /** Per SQL statement (D1 and the object's SQLite): how often it ran and the rows it read and wrote. */
  by_sql: {},
});

/** A statement's text, shortened to a readable key. */
function sqlKey(store, sql) {
  return `${store}: ${String(sql).replace(/\s+/g, " ").trim().slice(0, 90)}`;
}

function book(c, key, read, written) {
  const b = c.by_sql[key] ?? (c.by_sql[key] = { count: 0, rows_read: 0, rows_written: 0 });
  b.count++;
  b.rows_read += read;
  b.rows_written += written;
}

const workerCounts = zero();

function addMeta(c, result, sql) {
  const read = result?.meta?.rows_read ?? 0;
  const written = result?.meta?.rows_written ?? 0;
  c.d1_rows_read += read;
  c.d1_rows_written += written;
  book(c, sqlKey("D1", sql), read, written);
}

const TARGET = Symbol("target");
const SQL = Symbol("sql");

function countedStatement(stmt, c, sql) {
  return new Proxy(stmt, {
    get(t, k) {
      if (k === TARGET) return t;
      if (k === SQL) return sql;
      if (k === "bind") return (...args) => countedStatement(t.bind(...args), c, sql);
      if (k === "run" || k === "all") {
        return async (...args) => {
          const start = performance.now();
          const r = await t[k](...args);
          c.d1_ms += performance.now() - start;
          c.d1_queries++;
          addMeta(c, r, sql);
          return r;
        };
      }
      if (k === "first") {
        // first() hides meta; all() runs the same query and shows it.
        return async (column) => {
          const start = performance.now();
          const r = await t.all();
          c.d1_ms += performance.now() - start;
          c.d1_queries++;
          addMeta(c, r, sql);
          const row = r.results[0] ?? null;
          return column === undefined ? row : (row?.[column] ?? null);
        };
      }
      const v = Reflect.get(t, k);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

function countedD1(db, c) {
  return new Proxy(db, {
    get(t, k) {
      if (k === "prepare") return (sql) => countedStatement(t.prepare(sql), c, sql);
      if (k === "batch") {
        return async (statements) => {
          const start = performance.now();
          const results = await t.batch(statements.map((s) => s[TARGET] ?? s));
          c.d1_ms += performance.now() - start;
          c.d1_queries++;
          c.d1_batches++;
          c.d1_statements_in_batches += statements.length;
          results.forEach((r, i) => {
            addMeta(c, r, statements[i][SQL] ?? "?");
          });
          return results;
        };
      }
      const v = Reflect.get(t, k);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

const wrappedEnvs = new WeakMap();
function countedEnv(env, c) {
  let wrapped = wrappedEnvs.get(c)?.get(env);
  if (!wrapped) {
    wrapped = { ...env, DB: countedD1(env.DB, c) };
    if (!wrappedEnvs.has(c)) wrappedEnvs.set(c, new WeakMap());
    wrappedEnvs.get(c).set(env, wrapped);
  }
  return wrapped;
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
      return Response.json({ worker: workerCounts, queues });
    }
    workerCounts.worker_requests++;
    return app.fetch(request, countedEnv(env, workerCounts), ctx);
  },
  scheduled: app.scheduled,
};
