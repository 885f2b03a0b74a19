// Seams the workerd tests give every webhook queue (see ./worker.ts). The queues run in the same isolate as the
// tests, so both see these module-level values.

let offset = 0;

/** The queues' clock: real time, moved ahead by the test. */
export const testClock = {
  now: () => Date.now() + offset,
  /** Moves the queues' time ahead by ms. */
  advance(ms: number) {
    offset += ms;
  },
  /** Back to real time, between tests (each test makes its own webhooks, so no queue sees time go back). */
  reset() {
    offset = 0;
  },
};

const wanted = new Map<string, number>();
/** Far enough ahead that a real alarm never fires by itself during a test. */
const NEVER = 4_000_000_000_000;

/**
 * A queue's alarm as the test sees it: the time the queue asked for is kept here, and the runtime's own alarm is set
 * far ahead, so `runDurableObjectAlarm` can still run it when the test decides it is due (see fireAlarm).
 */
export function testAlarm(id: string, storage: DurableObjectStorage) {
  return {
    get: async () => wanted.get(id) ?? null,
    async set(at: number) {
      wanted.set(id, at);
      await storage.setAlarm(NEVER);
    },
    async clear() {
      wanted.delete(id);
      await storage.deleteAlarm();
    },
  };
}

/** When the queue with this object id wants its alarm, or null. */
export function wantedAlarm(id: string): number | null {
  return wanted.get(id) ?? null;
}

/** Forgets a queue's alarm once it has run (the runtime removes its own). */
export function alarmRan(id: string): void {
  wanted.delete(id);
}

const pending = new Map<string, Set<Promise<unknown>>>();

/** waitUntil, keeping each promise so that a test can wait until the queue has finished its work. */
export function track(id: string, waitUntil: (p: Promise<unknown>) => void) {
  return (p: Promise<unknown>) => {
    let set = pending.get(id);
    if (!set) pending.set(id, (set = new Set()));
    const entry = p.finally(() => set.delete(entry));
    set.add(entry);
    waitUntil(p);
  };
}

/** Resolves once the queue with this object id has no work left running in the background. */
export async function idle(id: string): Promise<void> {
  for (;;) {
    const set = pending.get(id);
    if (!set || set.size === 0) return;
    await Promise.allSettled([...set]);
  }
}

const meters = new Map<string, SqlStorageCursor<Record<string, SqlStorageValue>>[]>();

/**
 * The queue's SQL, watched: while a test meters the queue (see `metered`), every statement's cursor is kept, so the
 * test can read the rows each one read and wrote — never what the statement said.
 */
export function meteredSql(id: string, sql: SqlStorage): SqlStorage {
  return new Proxy(sql, {
    get(target, prop) {
      if (prop === "exec") {
        return (query: string, ...bindings: SqlStorageValue[]) => {
          const cursor = target.exec(query, ...bindings);
          meters.get(id)?.push(cursor);
          return cursor;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Runs `fn`, waits until the queue is idle, and answers the rows read and written by each statement it ran meanwhile. */
export async function metered(id: string, fn: () => Promise<unknown>): Promise<{ read: number; written: number }[]> {
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  meters.set(id, cursors);
  try {
    await fn();
    await idle(id);
  } finally {
    meters.delete(id);
  }
  return cursors.map((c) => ({ read: c.rowsRead, written: c.rowsWritten }));
}

/** Resolves once no queue has work left running in the background. */
export async function idleAll(): Promise<void> {
  for (const id of [...pending.keys()]) await idle(id);
}
