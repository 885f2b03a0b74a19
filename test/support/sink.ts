import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One request as a sink path saw it, with the headers the tests reason about already picked out. */
export interface Hit {
  name: string;
  /** webhook-id: the message id, the same on every retry of one event. */
  id: string;
  /** x-broxiai-sequence (a number for single deliveries). */
  seq: number;
  /** x-broxiai-attempt. */
  attempt: number;
  /** x-broxiai-delivery. */
  delivery: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  /** The status this sink answered (null: it hung up or never answered). */
  answered: number | null;
}

/** What a sink path does with one request. */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** A body of this many bytes, streamed in 64 KiB chunks (huge bodies without holding them in a string). */
  bodyBytes?: number;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Destroy the socket without answering. */
  hangup?: boolean;
  /** Never answer; the socket stays open until the sender gives up or the sink goes down. */
  hang?: boolean;
}

/** Decides the reply to a request: `n` is its 1-based number on that path. */
export type Behaviour = (hit: Hit, n: number) => Reply;

/**
 * A receiver on 127.0.0.1 that the test drives in-process: each path `/<name>` has a behaviour function, and the
 * sink can go `down()` (the port refuses connections) and come back `up()` on the same port while keeping what it
 * recorded — a receiver outage as the dispatcher sees it.
 */
export class Sink {
  readonly hits = new Map<string, Hit[]>();
  readonly #behaviours = new Map<string, Behaviour>();
  readonly #sockets = new Set<Socket>();
  #server: Server | null = null;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts a sink on a free port (or on `port`). */
  static async start(port = 0): Promise<Sink> {
    const sink = new Sink();
    sink.port = port;
    await sink.up();
    return sink;
  }

  /** The URL of a path that behaves as `behaviour` (200 "ok" when none is given). */
  path(name: string, behaviour: Behaviour = () => ({ status: 200, body: "ok" })): string {
    this.#behaviours.set(name, behaviour);
    return `${this.url}/${name}`;
  }

  /** What a path received, in arrival order. */
  received(name: string): Hit[] {
    return this.hits.get(name) ?? [];
  }

  /** Listens (again) on the sink's port. */
  async up(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const name = (req.url ?? "/").split("?")[0].slice(1);
        const h = req.headers;
        const hit: Hit = {
          name,
          id: String(h["webhook-id"] ?? ""),
          seq: Number(h["x-broxiai-sequence"] ?? Number.NaN),
          attempt: Number(h["x-broxiai-attempt"] ?? Number.NaN),
          delivery: String(h["x-broxiai-delivery"] ?? ""),
          headers: h,
          body: Buffer.concat(chunks).toString("utf8"),
          at: Date.now(),
          answered: null,
        };
        const list = this.hits.get(name) ?? [];
        list.push(hit);
        this.hits.set(name, list);
        const behaviour: Behaviour = this.#behaviours.get(name) ?? (() => ({ status: 404, body: "no such path" }));
        const reply = behaviour(hit, list.length);
        const send = () => {
          if (reply.hang) return;
          if (reply.hangup) {
            req.socket.destroy();
            return;
          }
          hit.answered = reply.status ?? 200;
          res.writeHead(reply.status ?? 200, reply.headers ?? {});
          if (reply.bodyBytes) streamBytes(res, reply.bodyBytes);
          else res.end(reply.body ?? "");
        };
        if (reply.delayMs) setTimeout(send, reply.delayMs);
        else send();
      });
    });
    server.on("connection", (s) => {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening and drops every open connection: from now on the port refuses connections. */
  async down(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function streamBytes(res: import("node:http").ServerResponse, total: number): void {
  const chunk = Buffer.alloc(64 * 1024, "x");
  let left = total;
  const write = () => {
    while (left > 0) {
      const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= part.length;
      if (!res.write(part)) {
        res.once("drain", write);
        return;
      }
    }
    res.end();
  };
  res.on("error", () => {});
  write();
}
