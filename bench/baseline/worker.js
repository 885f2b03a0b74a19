// The baseline: the least a Worker can do to get a request to the receiver in this runtime. No storage, no
// signing, no retries, no parsing. `?async` answers 202 at once and forwards in waitUntil (the shape of the
// service: accept, then deliver); without it the Worker answers once the receiver has answered.
//
// `/floor/<tag>` is the least a *durable* path can do with the service's primitives and shape: one D1 insert, then
// one RPC to a Durable Object that writes the event to its SQLite and answers, then the 202; the object sends from
// the hand-off and deletes its row once the receiver has answered. No validation, matching, signing, ordering,
// retries or delivery log: what the service costs above it is its own, and what the floor costs above the
// forward-only Worker is the runtime's price of storing before answering. `?object-only` leaves out the D1 insert.
import { DurableObject } from "cloudflare:workers";

let tableReady = false;

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    // The runtime's own floor (no outbound request at all), for diagnosis.
    if (url.searchParams.has("noop")) return new Response(null, { status: 202 });
    const id = request.headers.get("webhook-id") ?? "";
    if (url.pathname.startsWith("/floor/")) {
      const tag = url.pathname.slice("/floor/".length);
      const body = await request.text();
      // Once per isolate (a promise made in one request is not awaited in another, so a flag, not the promise).
      if (!tableReady) {
        await env.DB.prepare("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, body TEXT NOT NULL)").run();
        tableReady = true;
      }
      // `?object-only`: the object is the one durable hop (what "one landing place" would cost at the least).
      if (!url.searchParams.has("object-only")) await env.DB.prepare("INSERT INTO events (id, body) VALUES (?, ?)").bind(id, body).run();
      await env.FLOOR.get(env.FLOOR.idFromName(tag)).enqueue(id, body, `${env.RECEIVER}/floor/${tag}`);
      return new Response(null, { status: 202 });
    }
    const init = {
      method: "POST",
      headers: { "content-type": "application/json", "webhook-id": id },
      body: await request.text(),
    };
    const target = `${env.RECEIVER}${url.pathname}`;
    if (url.searchParams.has("async")) {
      ctx.waitUntil(fetch(target, init).then((r) => r.arrayBuffer()));
      return new Response(null, { status: 202 });
    }
    const res = await fetch(target, init);
    await res.arrayBuffer();
    return new Response(null, { status: res.ok ? 202 : 502 });
  },
};

/** The floor's queue: stores the event, answers, sends it from the hand-off, and lets go of the row once delivered. */
export class FloorQueue extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS q (id TEXT PRIMARY KEY, body TEXT NOT NULL)");
  }

  async enqueue(id, body, target) {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO q (id, body) VALUES (?, ?)", id, body);
    this.ctx.waitUntil(this.#send(id, body, target));
  }

  async #send(id, body, target) {
    try {
      const res = await fetch(target, { method: "POST", headers: { "content-type": "application/json", "webhook-id": id }, body });
      await res.arrayBuffer();
      if (res.ok) this.ctx.storage.sql.exec("DELETE FROM q WHERE id = ?", id);
    } catch {
      // The floor has no retries: what it did not deliver, the round reports as not delivered.
    }
  }
}
