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

/** What the fake resolver answers for one name: its addresses, or a CNAME to follow, or a DNS status. */
export interface DnsRecord {
  A?: string[];
  AAAA?: string[];
  CNAME?: string;
  /** Answer this DNS status instead (2 SERVFAIL, 3 NXDOMAIN). */
  status?: number;
  ttl?: number;
}

/**
 * A DNS-over-HTTPS resolver on 127.0.0.1 speaking the JSON API (`GET /dns-query?name=&type=`, as
 * cloudflare-dns.com does), with a table that tests program over HTTP: `PUT /__dns/<name>` sets a record, `GET
 * /__dns-log` lists the questions asked (to see caching). Unknown names are NXDOMAIN. CNAMEs are followed as a
 * recursive resolver does: the chain and the final addresses in one answer.
 */
export async function startResolver(port = 0): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const records = new Map<string, DnsRecord>();
  const log: { name: string; type: string; at: number }[] = [];
  const canonical = (name: string) => name.toLowerCase().replace(/\.+$/, "");
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const json = (status: number, body: unknown, type = "application/json") => res.writeHead(status, { "content-type": type }).end(JSON.stringify(body));
      if (url.pathname.startsWith("/__dns/") && req.method === "PUT") {
        records.set(canonical(decodeURIComponent(url.pathname.slice("/__dns/".length))), JSON.parse(Buffer.concat(chunks).toString("utf8")) as DnsRecord);
        res.writeHead(204).end();
        return;
      }
      if (url.pathname === "/__dns-log") return json(200, log);
      if (url.pathname !== "/dns-query" || req.headers.accept !== "application/dns-json") return json(400, { error: "not a DNS JSON question" });
      const name = canonical(url.searchParams.get("name") ?? "");
      const type = (url.searchParams.get("type") ?? "A").toUpperCase();
      log.push({ name, type, at: Date.now() });
      const code = type === "1" || type === "A" ? 1 : type === "28" || type === "AAAA" ? 28 : 0;
      const answer: { name: string; type: number; TTL: number; data: string }[] = [];
      let current = name;
      for (let hop = 0; hop < 10; hop++) {
        const record = records.get(current);
        if (!record) return json(200, { Status: answer.length ? 0 : 3, Answer: answer }, "application/dns-json");
        if (record.status !== undefined) return json(200, { Status: record.status, Answer: answer }, "application/dns-json");
        const ttl = record.ttl ?? 300;
        if (record.CNAME) {
          answer.push({ name: `${current}.`, type: 5, TTL: ttl, data: `${canonical(record.CNAME)}.` });
          current = canonical(record.CNAME);
          continue;
        }
        const data = code === 1 ? (record.A ?? []) : code === 28 ? (record.AAAA ?? []) : [];
        for (const d of data) answer.push({ name: `${current}.`, type: code, TTL: ttl, data: d });
        break;
      }
      json(200, { Status: 0, Answer: answer }, "application/dns-json");
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}/dns-query`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sets what the fake resolver at `resolverUrl` (its /dns-query address) answers for `name`. */
export async function setDns(resolverUrl: string, name: string, record: DnsRecord): Promise<void> {
  const res = await fetch(new URL(`/__dns/${encodeURIComponent(name)}`, resolverUrl), { method: "PUT", body: JSON.stringify(record) });
  if (res.status !== 204) throw new Error(`fake resolver refused the record for ${name}: ${res.status}`);
}
