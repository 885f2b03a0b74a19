/** SQLite (D1 and a Durable Object's storage) binds at most 100 parameters per statement: id lists go in runs of this many. */
export const IN_LIST_MAX = 90;

/** Splits a list into runs short enough to bind, each with its `?,?,…` for an `IN (…)`. */
export function* inLists<T>(items: T[], size = IN_LIST_MAX): Generator<{ items: T[]; marks: string }> {
  for (let i = 0; i < items.length; i += size) {
    const run = items.slice(i, i + size);
    yield { items: run, marks: run.map(() => "?").join(",") };
  }
}
