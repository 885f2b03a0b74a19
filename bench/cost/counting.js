// The counters of the counting build (entry.js): one record per Worker request or Durable Object, and the wrappers
// that count into a record, where it happens, what the code does with D1 (round trips, statements, rows) and with
// object stubs (RPC calls and their wall time).

/** A fresh record: every counter at zero. */
export const zero = () => ({
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
  rpc_wall_ms: 0,
  rpc_in_flight: 0,
  rpc_wall_since: 0,
  handler_ms: 0,
  alarm_lateness_ms: [],
  /** Per SQL statement (D1 and the object's SQLite): how often it ran and the rows it read and wrote. */
  by_sql: {},
});

/** A statement's text, shortened to a readable key. */
export function sqlKey(store, sql) {
  return `${store}: ${String(sql).replace(/\s+/g, " ").trim().slice(0, 90)}`;
}

/** Books one statement's run and rows to its key. */
export function book(c, key, read, written) {
  const b = c.by_sql[key] ?? (c.by_sql[key] = { count: 0, rows_read: 0, rows_written: 0 });
  b.count++;
  b.rows_read += read;
  b.rows_written += written;
}

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

/** A Durable Object stub whose method calls (each an RPC) are counted and timed. */
function countedStub(stub, c) {
  return new Proxy(stub, {
    get(t, k) {
      // Not thenable, so that awaiting a stub (or returning one from an async function) does not call it.
      if (k === "then" || typeof k !== "string") return undefined;
      return async (...args) => {
        c.rpc_calls++;
        c.rpc_by_method[k] = (c.rpc_by_method[k] ?? 0) + 1;
        const start = performance.now();
        // rpc_ms adds up every call; rpc_wall_ms is the time with at least one under way (a fan-out's calls overlap).
        if (c.rpc_in_flight++ === 0) c.rpc_wall_since = start;
        try {
          return await t[k](...args);
        } finally {
          const end = performance.now();
          c.rpc_ms += end - start;
          if (--c.rpc_in_flight === 0) c.rpc_wall_ms += end - c.rpc_wall_since;
        }
      };
    },
  });
}

function countedNamespace(ns, c) {
  return new Proxy(ns, {
    get(t, k) {
      if (k === "get" || k === "getByName") return (...args) => countedStub(t[k](...args), c);
      const v = Reflect.get(t, k);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

const wrappedEnvs = new WeakMap();
/** `env` with its D1 database and queue namespace counting into `c` (one wrapper per record and env). */
export function countedEnv(env, c) {
  let wrapped = wrappedEnvs.get(c)?.get(env);
  if (!wrapped) {
    wrapped = { ...env, DB: countedD1(env.DB, c), WEBHOOK_QUEUE: countedNamespace(env.WEBHOOK_QUEUE, c) };
    if (!wrappedEnvs.has(c)) wrappedEnvs.set(c, new WeakMap());
    wrappedEnvs.get(c).set(env, wrapped);
  }
  return wrapped;
}

/** Fields that track a call under way rather than count anything. */
const STATE = new Set(["rpc_in_flight", "rpc_wall_since"]);

/** Adds the counts of `from` into `into` (numbers, the per-method and per-statement tables). */
export function addInto(into, from) {
  for (const [k, v] of Object.entries(from)) {
    if (typeof v === "number" && !STATE.has(k)) into[k] = (into[k] ?? 0) + v;
  }
  for (const [m, n] of Object.entries(from.rpc_by_method)) into.rpc_by_method[m] = (into.rpc_by_method[m] ?? 0) + n;
  for (const [k, v] of Object.entries(from.by_sql)) {
    const b = into.by_sql[k] ?? (into.by_sql[k] = { count: 0, rows_read: 0, rows_written: 0 });
    b.count += v.count;
    b.rows_read += v.rows_read;
    b.rows_written += v.rows_written;
  }
  into.alarm_lateness_ms.push(...from.alarm_lateness_ms);
}
