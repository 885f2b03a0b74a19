import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the receiver saw it. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver answers on one path: a script of answers used in turn, then `otherwise` forever. */
export interface Script {
  answers?: Answer[];
  otherwise?: Answer;
}
export interface Answer {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (to try timeouts). */
  delay_ms?: number;
  /** Destroy the socket without answering. */
  hangup?: boolean;
}

/**
 * A real HTTP receiver on 127.0.0.1 for tests. Every path under /r/<name> records what it receives and answers
 * from its script; tests program and read it over HTTP (`PUT /__script/<name>`, `GET /__received/<name>`), so
 * code in workerd and in Node drive it the same way.
 */
export async function startReceiver(port = 0): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const received = new Map<string, Received[]>();
  const scripts = new Map<string, Script>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const url = new URL(req.url ?? "/", "http://x");
      const [, kind, name = ""] = url.pathname.split("/");
      if (kind === "__script" && req.method === "PUT") {
        scripts.set(name, JSON.parse(body) as Script);
        received.delete(name);
        res.writeHead(204).end();
        return;
      }
      if (kind === "__received") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(received.get(name) ?? []));
        return;
      }
      const list = received.get(name) ?? [];
      list.push({ path: url.pathname, headers: req.headers, body, at: Date.now() });
      received.set(name, list);
      const script = scripts.get(name) ?? {};
      const answer = script.answers?.shift() ?? script.otherwise ?? { status: 200, body: "ok" };
      const reply = () => {
        if (answer.hangup) {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.status ?? 200, answer.headers ?? {}).end(answer.body ?? "");
      };
      if (answer.delay_ms) setTimeout(reply, answer.delay_ms);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
