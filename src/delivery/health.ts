import { readMeta, writeMeta } from "./meta";

/**
 * The webhook's health as its queue sees it: since when every attempt has failed. Stored, so a wake-up keeps
 * counting toward DISABLE_AFTER_FAILING_HOURS; written only when it changes, so a healthy webhook writes nothing.
 */
export class Health {
  readonly #sql: SqlStorage;
  #failingSince: number | null;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#failingSince = readMeta<number>(sql, "failing_since");
  }

  get failingSince(): number | null {
    return this.#failingSince;
  }

  set failingSince(since: number | null) {
    if (since === this.#failingSince) return;
    this.#failingSince = since;
    writeMeta(this.#sql, "failing_since", since);
  }
}
