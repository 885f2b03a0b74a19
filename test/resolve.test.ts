import { describe, expect, inject, test } from "vitest";
import {
  CACHE_MAX_MS,
  checkDestination,
  DESTINATION_REFUSED,
  type DestinationOptions,
  resolutionError,
  resolveHost,
  sendChecked,
} from "../src/webhooks/resolve";
import { setDns } from "./support/receiver";

type Records = Record<string, { A?: string[]; AAAA?: string[]; CNAME?: string; status?: number; ttl?: number }>;

/** A DoH JSON resolver as a fetch function, answering from a table and counting questions (a recursive resolver's view). */
function fakeDoh(records: Records) {
  const asked: string[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    expect(new Headers(init?.headers).get("accept")).toBe("application/dns-json");
    const name = (url.searchParams.get("name") ?? "").replace(/\.$/, "");
    const type = Number(url.searchParams.get("type"));
    asked.push(`${name}/${type}`);
    const answer: unknown[] = [];
    let current = name;
    for (let hop = 0; hop < 10; hop++) {
      const r = records[current];
      if (!r) return Response.json({ Status: answer.length ? 0 : 3, Answer: answer });
      if (r.status !== undefined) return Response.json({ Status: r.status });
      if (r.CNAME) {
        answer.push({ name: `${current}.`, type: 5, TTL: r.ttl ?? 300, data: `${r.CNAME}.` });
        current = r.CNAME;
        continue;
      }
      for (const data of (type === 1 ? r.A : r.AAAA) ?? []) answer.push({ name: `${current}.`, type, TTL: r.ttl ?? 300, data });
      break;
    }
    return Response.json({ Status: 0, Answer: answer });
  }) as typeof fetch;
  return { fetchFn, asked };
}

function options(records: Records, extra: Partial<DestinationOptions> = {}) {
  const doh = fakeDoh(records);
  const opts: DestinationOptions = { allowPrivate: false, resolverUrl: "https://doh.test/dns-query", fetch: doh.fetchFn, cache: new Map(), ...extra };
  return { opts, asked: doh.asked };
}

const PUBLIC_V4 = "93.184.215.14";
const PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c";

describe("resolveHost judges every address in the answer", () => {
  test.each([
    ["loopback", { A: ["127.0.0.1"] }, "loopback"],
    ["private 10/8", { A: ["10.1.2.3"] }, "private"],
    ["private 192.168", { A: ["192.168.0.10"] }, "private"],
    ["carrier-grade NAT", { A: ["100.64.1.1"] }, "carrier-grade NAT"],
    ["link-local", { A: ["169.254.10.1"] }, "link-local"],
    ["cloud metadata", { A: ["169.254.169.254"] }, "cloud metadata"],
    ["unspecified", { A: ["0.0.0.0"] }, "unspecified"],
    ["IPv6 loopback", { AAAA: ["::1"] }, "loopback"],
    ["IPv6 unique local", { AAAA: ["fd12:3456::1"] }, "unique local"],
    ["IPv6 link-local", { AAAA: ["fe80::1"] }, "link-local"],
    ["IPv4-mapped loopback", { AAAA: ["::ffff:127.0.0.1"] }, "IPv4-mapped form of the loopback address"],
    ["IPv4-mapped private, hex", { AAAA: ["::ffff:a00:1"] }, "IPv4-mapped form of the private address 10.0.0.1"],
    ["NAT64 of metadata", { AAAA: ["64:ff9b::a9fe:a9fe"] }, "NAT64 form of the cloud metadata address"],
    ["AWS IPv6 metadata", { AAAA: ["fd00:ec2::254"] }, "cloud metadata"],
    ["one private among public ones", { A: [PUBLIC_V4, "10.0.0.7"], AAAA: [PUBLIC_V6] }, "private"],
    ["public IPv4 but private IPv6", { A: [PUBLIC_V4], AAAA: ["::1"] }, "loopback"],
  ])("%s → refused (%j)", async (_name, record, problem) => {
    const { opts } = options({ "host.example": record });
    const r = await resolveHost("host.example", opts);
    expect(r.kind).toBe("refused");
    expect(r.kind === "refused" && r.problem).toContain(problem);
  });

  test("public A and AAAA answers → public, with every address", async () => {
    const { opts } = options({ "host.example": { A: [PUBLIC_V4], AAAA: [PUBLIC_V6] } });
    expect(await resolveHost("host.example", opts)).toEqual({ kind: "public", addresses: [PUBLIC_V4, PUBLIC_V6] });
  });

  test("a CNAME chain is followed and its final addresses judged", async () => {
    const { opts } = options({
      "hook.example": { CNAME: "edge.cdn.example" },
      "edge.cdn.example": { CNAME: "rebind.example" },
      "rebind.example": { A: ["127.0.0.1"] },
    });
    const r = await resolveHost("hook.example", opts);
    expect(r).toMatchObject({ kind: "refused", address: "127.0.0.1" });
  });

  test("a CNAME to a refused name (localhost, .internal) is refused by its name", async () => {
    const { opts } = options({ "a.example": { CNAME: "localhost" }, "b.example": { CNAME: "metadata.google.internal" } });
    expect(await resolveHost("a.example", opts)).toMatchObject({ kind: "refused", address: "localhost" });
    expect(await resolveHost("b.example", opts)).toMatchObject({ kind: "refused", address: "metadata.google.internal" });
  });

  test("a resolver that stops at a CNAME gets asked about its target", async () => {
    let step = 0;
    const fetchFn = (async (input: RequestInfo | URL) => {
      const name = new URL(String(input)).searchParams.get("name");
      step++;
      if (name === "short.example") return Response.json({ Status: 0, Answer: [{ name: "short.example.", type: 5, TTL: 60, data: "target.example." }] });
      return Response.json({ Status: 0, Answer: [{ name: "target.example.", type: 1, TTL: 60, data: "10.9.9.9" }] });
    }) as typeof fetch;
    const r = await resolveHost("short.example", { allowPrivate: false, resolverUrl: "https://doh.test/dns-query", fetch: fetchFn, cache: new Map() });
    expect(r).toMatchObject({ kind: "refused", address: "10.9.9.9" });
    expect(step).toBeGreaterThan(2);
  });

  test.each([
    ["no such name", {}, /no such name/],
    ["SERVFAIL", { "host.example": { status: 2 } }, /DNS status 2/],
    ["no A or AAAA records", { "host.example": {} }, /no A or AAAA/],
  ])("%s → unresolved", async (_name, records, reason) => {
    const { opts } = options(records as Records);
    const r = await resolveHost("host.example", opts);
    expect(r.kind).toBe("unresolved");
    expect(r.kind === "unresolved" && r.reason).toMatch(reason);
  });

  test("a resolver that cannot be reached → unresolved, never public", async () => {
    const fetchFn = (async () => {
      throw new Error("connection refused");
    }) as typeof fetch;
    const r = await resolveHost("host.example", { allowPrivate: false, resolverUrl: "https://doh.test/dns-query", fetch: fetchFn, cache: new Map() });
    expect(r).toMatchObject({ kind: "unresolved", reason: expect.stringContaining("resolver unreachable") });
  });
});

describe("answers are cached for their TTL, never longer than a minute", () => {
  test("within the TTL no question is asked again; after it the answer is fresh", async () => {
    let now = 1_000_000;
    const { opts, asked } = options({ "host.example": { A: [PUBLIC_V4], ttl: 30 } }, { now: () => now });
    await resolveHost("host.example", opts);
    const first = asked.length;
    now += 29_000;
    await resolveHost("host.example", opts);
    expect(asked.length).toBe(first);
    now += 2_000;
    await resolveHost("host.example", opts);
    expect(asked.length).toBe(first * 2);
  });

  test("a long TTL is cut to CACHE_MAX_MS, so a changed answer is seen within it", async () => {
    let now = 0;
    const records: Records = { "host.example": { A: [PUBLIC_V4], ttl: 86_400 } };
    const { opts } = options(records, { now: () => now });
    expect((await resolveHost("host.example", opts)).kind).toBe("public");
    records["host.example"] = { A: ["127.0.0.1"], ttl: 86_400 };
    now += CACHE_MAX_MS - 1;
    expect((await resolveHost("host.example", opts)).kind).toBe("public");
    now += 2;
    expect((await resolveHost("host.example", opts)).kind).toBe("refused");
  });

  test("a TTL of 0 is not cached at all", async () => {
    const { opts, asked } = options({ "host.example": { A: [PUBLIC_V4], ttl: 0 } });
    await resolveHost("host.example", opts);
    await resolveHost("host.example", opts);
    expect(asked.filter((q) => q === "host.example/1")).toHaveLength(2);
  });
});

describe("resolutionError, when a webhook is written", () => {
  test("names the host, the address and what kind it is", async () => {
    const { opts } = options({ "127.0.0.1.nip.example": { A: ["127.0.0.1"] } });
    expect(await resolutionError("https://127.0.0.1.nip.example/h", opts)).toBe(
      "The webhook URL's host 127.0.0.1.nip.example resolves to 127.0.0.1 (loopback address), which the dispatcher must not call; use a publicly reachable host.",
    );
  });

  test("a host that does not resolve yet may be stored", async () => {
    const { opts } = options({});
    expect(await resolutionError("https://not-yet.example/h", opts)).toBeNull();
  });

  test("literal addresses and ALLOW_PRIVATE_DESTINATIONS=true ask nothing", async () => {
    const { opts, asked } = options({ "host.example": { A: ["127.0.0.1"] } });
    expect(await resolutionError("https://93.184.215.14/h", opts)).toBeNull();
    expect(await resolutionError("https://host.example/h", { ...opts, allowPrivate: true })).toBeNull();
    expect(asked).toEqual([]);
  });
});

describe("checkDestination and sendChecked, before each send", () => {
  const receiverUrl = () => inject("receiverUrl");

  test.each([
    ["resolves to loopback", "https://loop.example/h"],
    ["resolves to metadata through a CNAME", "https://cname.example/h"],
    ["does not resolve", "https://gone.example/h"],
    ["the resolver fails", "https://servfail.example/h"],
    ["a loopback literal stored while private destinations were allowed", "http://127.0.0.1:9443/h"],
    ["a one-label name from a hosts file", "https://vm:9443/h"],
    ["plain http to a public host", "http://pub.example/h"],
  ])("%s → the one neutral text", async (_name, url) => {
    const { opts } = options({
      "loop.example": { A: ["127.0.0.1"] },
      "cname.example": { CNAME: "meta.example" },
      "meta.example": { A: ["169.254.169.254"] },
      "servfail.example": { status: 2 },
      "pub.example": { A: [PUBLIC_V4] },
    });
    expect(await checkDestination(url, opts)).toBe(DESTINATION_REFUSED);
  });

  test("a public destination may be called", async () => {
    const { opts } = options({ "pub.example": { A: [PUBLIC_V4], AAAA: [PUBLIC_V6] } });
    expect(await checkDestination("https://pub.example/h", opts)).toBeNull();
    expect(await checkDestination("https://93.184.215.14:8443/h", opts)).toBeNull();
  });

  test("a refused send reaches nothing and reads the same whether the port listens or not", async () => {
    const { opts } = options({});
    const listening = new URL(receiverUrl());
    const name = `never-${Date.now()}`;
    const request = (url: string) => ({ url, headers: {}, body: "{}", timeoutMs: 2000 });
    const open = await sendChecked(request(`${listening.origin}/r/${name}`), opts);
    const closed = await sendChecked(request("http://127.0.0.1:1/r/never"), opts);
    for (const sent of [open, closed]) {
      expect(sent.result).toEqual({ error: DESTINATION_REFUSED });
      expect(sent.responseBody).toBeNull();
    }
    const got = await (await fetch(`${listening.origin}/__received/${name}`)).json();
    expect(got).toEqual([]);
  });

  test("with ALLOW_PRIVATE_DESTINATIONS=true the send goes out and nothing is resolved", async () => {
    const { opts, asked } = options({});
    const name = `allowed-${Date.now()}`;
    const sent = await sendChecked({ url: `${receiverUrl()}/r/${name}`, headers: {}, body: "{}", timeoutMs: 2000 }, { ...opts, allowPrivate: true });
    expect(sent.result.status).toBe(200);
    expect(asked).toEqual([]);
    expect(await (await fetch(`${receiverUrl()}/__received/${name}`)).json()).toHaveLength(1);
  });
});

describe("against the fake resolver over HTTP (the path the Worker takes)", () => {
  test("the JSON API is asked with the Worker's fetch and its answer judged", async () => {
    const resolverUrl = inject("resolverUrl");
    const stamp = Date.now().toString(36);
    await setDns(resolverUrl, `pub-${stamp}.example`, { A: [PUBLIC_V4] });
    await setDns(resolverUrl, `priv-${stamp}.example`, { AAAA: ["fd00::5"] });
    const opts: DestinationOptions = { allowPrivate: false, resolverUrl, cache: new Map() };
    expect(await resolveHost(`pub-${stamp}.example`, opts)).toEqual({ kind: "public", addresses: [PUBLIC_V4] });
    expect(await resolveHost(`priv-${stamp}.example`, opts)).toMatchObject({ kind: "refused", address: "fd00::5" });
    expect(await resolveHost(`none-${stamp}.example`, opts)).toMatchObject({ kind: "unresolved" });
  });
});
