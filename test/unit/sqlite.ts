import { DatabaseSync } from "@photostructure/sqlite";

/**
 * The part of a Durable Object's `SqlStorage` the queue uses, over an in-memory SQLite in Node (the `node:sqlite` API,
 * prebuilt: nothing compiles at install), so the queue's parts run outside workerd. Each statement commits on its
 * own, so a "crash" between two of them keeps what was written (a Durable Object commits each synchronous stretch;
 * finer commits only make the test harder to pass).
 */
export function nodeSql(): SqlStorage {
  const db = new DatabaseSync(":memory:");
  const exec = (query: string, ...bindings: SqlStorageValue[]) => {
    const statements = query.split(/;\s*(?=\S)/).filter((s) => s.trim() !== "");
    let rows: Record<string, SqlStorageValue>[] = [];
    let written = 0;
    for (const text of statements) {
      const stmt = db.prepare(text);
      // A statement with result columns (a SELECT, or RETURNING) is read; any other is run.
      if (stmt.columns().length > 0) rows = stmt.all(...(bindings as never[])).map((r) => ({ ...r }) as Record<string, SqlStorageValue>);
      else written += Number(stmt.run(...(bindings as never[])).changes);
    }
    let i = 0;
    const cursor = {
      toArray: () => rows.slice(i),
      one: () => {
        if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`);
        return rows[0];
      },
      next: () => (i < rows.length ? { done: false, value: rows[i++] } : { done: true, value: undefined }),
      [Symbol.iterator]() {
        return this;
      },
      raw: () => {
        throw new Error("not used");
      },
      columnNames: [],
      rowsRead: rows.length,
      rowsWritten: written,
    };
    return cursor as unknown as SqlStorageCursor<Record<string, SqlStorageValue>>;
  };
  return { exec, databaseSize: 0 } as unknown as SqlStorage;
}
