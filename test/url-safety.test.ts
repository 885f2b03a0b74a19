import { describe, expect, test } from "vitest";
import { addressProblem, destinationError, isIpLiteral, nameProblem } from "../src/webhooks/url-safety";

const strict = { allowPrivate: false };
const local = { allowPrivate: true };

describe("destinationError, private destinations refused", () => {
  test.each([
    // IPv4 literals in every spelling the WHATWG parser folds to the same address
    ["loopback", "https://127.0.0.1/x"],
    ["loopback, not .1", "https://127.255.0.9/x"],
    ["decimal integer", "https://2130706433/x"],
    ["octal", "https://0177.0.0.1/x"],
    ["hex", "https://0x7f.1/x"],
    ["hex integer", "https://0x7f000001/x"],
    ["short form", "https://127.1/x"],
    ["percent-encoded dot", "https://127.0.0.1%2e/x"],
    ["trailing dot", "https://127.0.0.1./x"],
    ["two trailing dots", "https://127.0.0.1../x"],
    ["hex with two trailing dots", "https://0x7f.1../x"],
    ["unspecified", "https://0.0.0.0/x"],
    ["this network", "https://0.1.2.3/x"],
    ["10/8", "https://10.1.2.3/x"],
    ["carrier-grade NAT", "https://100.64.0.1/x"],
    ["carrier-grade NAT top", "https://100.127.255.254/x"],
    ["link-local", "https://169.254.1.1/x"],
    ["cloud metadata", "https://169.254.169.254/latest/meta-data/"],
    ["metadata in decimal", "https://2852039166/x"],
    ["172.16/12 low", "https://172.16.0.1/x"],
    ["172.16/12 high", "https://172.31.255.255/x"],
    ["192.0.0/24", "https://192.0.0.8/x"],
    ["TEST-NET-1", "https://192.0.2.1/x"],
    ["192.168/16", "https://192.168.1.1/x"],
    ["benchmarking", "https://198.19.0.1/x"],
    ["TEST-NET-2", "https://198.51.100.7/x"],
    ["TEST-NET-3", "https://203.0.113.7/x"],
    ["multicast", "https://224.0.0.1/x"],
    ["reserved", "https://240.0.0.1/x"],
    ["broadcast", "https://255.255.255.255/x"],
    // IPv6 literals
    ["IPv6 unspecified", "https://[::]/x"],
    ["IPv6 loopback", "https://[::1]/x"],
    ["IPv6 loopback, long form", "https://[0:0:0:0:0:0:0:1]/x"],
    ["IPv6 link-local", "https://[fe80::1]/x"],
    ["IPv6 unique local", "https://[fc00::1]/x"],
    ["AWS IPv6 metadata", "https://[fd00:ec2::254]/x"],
    ["IPv6 multicast", "https://[ff02::1]/x"],
    ["IPv6 documentation", "https://[2001:db8::1]/x"],
    ["IPv4-mapped dotted", "https://[::ffff:127.0.0.1]/x"],
    ["IPv4-mapped hex", "https://[::ffff:7f00:1]/x"],
    ["IPv4-mapped metadata", "https://[::ffff:169.254.169.254]/x"],
    ["IPv4-mapped private", "https://[::ffff:10.0.0.1]/x"],
    ["IPv4-compatible loopback", "https://[::127.0.0.1]/x"],
    ["IPv4-compatible public (deprecated form)", "https://[::8.8.8.8]/x"],
    ["IPv4-translated loopback", "https://[::ffff:0:127.0.0.1]/x"],
    ["NAT64 of loopback", "https://[64:ff9b::127.0.0.1]/x"],
    ["NAT64 of metadata", "https://[64:ff9b::a9fe:a9fe]/x"],
    ["local-use NAT64", "https://[64:ff9b:1::1]/x"],
    ["6to4 of loopback", "https://[2002:7f00:1::]/x"],
    ["6to4 of 192.168", "https://[2002:c0a8:101::1]/x"],
    ["Teredo", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x"],
    // names
    ["localhost", "https://localhost/x"],
    ["LOCALHOST", "https://LOCALHOST/x"],
    ["localhost with trailing dot", "https://localhost./x"],
    ["localhost with two trailing dots", "https://localhost../x"],
    ["localhost with port", "https://localhost:8443/x"],
    ["subdomain of localhost", "https://api.localhost/x"],
    ["fullwidth localhost (IDNA maps it)", "https://ｌｏｃａｌｈｏｓｔ/x"],
    ["mDNS", "https://printer.local/x"],
    ["internal", "https://service.internal/x"],
    ["GCP metadata", "https://metadata.google.internal/computeMetadata/v1/"],
    ["GCP metadata, trailing dot", "https://metadata.google.internal./x"],
    ["GCP metadata, upper case", "https://METADATA.Google.Internal/x"],
    ["a one-label name from a hosts file", "https://vm:9443/x"],
    ["a one-label name, trailing dot", "https://db./x"],
    ["localhost.localdomain", "https://localhost.localdomain/x"],
    ["a *.localdomain name", "https://box.localdomain/x"],
    ["a home network name", "https://router.home.arpa/x"],
  ])("%s: %s", (_name, url) => {
    const message = destinationError(url, strict);
    expect(message).toMatch(/^The webhook URL points at .+; use a publicly reachable host\.$/);
    // The same URL is fine for local work, where the receiver runs on this machine.
    expect(destinationError(url, local)).toBeNull();
  });

  test("the message names the address and what kind it is", () => {
    expect(destinationError("https://0x7f.1/x", strict)).toContain("127.0.0.1 (loopback address)");
    expect(destinationError("https://169.254.169.254/", strict)).toContain("cloud metadata");
    expect(destinationError("https://[::ffff:127.0.0.1]/", strict)).toContain("IPv4-mapped form of the loopback address 127.0.0.1");
    expect(destinationError("https://[fd00:ec2::254]/", strict)).toContain("cloud metadata");
  });
});

describe("destinationError, refused whatever allowPrivate says", () => {
  test.each([
    ["credentials", "https://user:pw@example.com/x", /username or password/],
    ["username only", "https://user@example.com/x", /username or password/],
    ["public-looking userinfo in front of a private host", "https://example.com@127.0.0.1/x", /username or password/],
    ["credentials on loopback", "https://user:pw@127.0.0.1:8787/x", /username or password/],
    ["fragment", "https://example.com/x#frag", /#fragment/],
    ["empty fragment", "https://example.com/x#", /#fragment/],
    ["ftp", "ftp://example.com/x", /must use https:\/\/, not ftp:\/\//],
    ["javascript", "javascript:alert(1)", /must use https:\/\//],
    ["data", "data:text/plain,hi", /must use https:\/\//],
    ["file", "file:///etc/passwd", /must use https:\/\//],
    ["ws", "wss://example.com/x", /must use https:\/\//],
    ["relative", "/hooks", /not a valid absolute URL/],
    ["empty", "", /not a valid absolute URL/],
    ["garbage", "https://exa mple.com/", /not a valid absolute URL/],
    ["port out of range", "https://example.com:65536/", /not a valid absolute URL/],
    ["port 0", "https://example.com:0/", /port 0/],
    ["too long", `https://example.com/${"a".repeat(2048)}`, /at most 2048/],
  ])("%s: %s", (_name, url, message) => {
    expect(destinationError(url, strict)).toMatch(message);
    expect(destinationError(url, local)).toMatch(message);
  });

  test("allowPrivate permits http to loopback but not with credentials or another scheme", () => {
    expect(destinationError("http://127.0.0.1:8787/x", local)).toBeNull();
    expect(destinationError("http://user:pw@127.0.0.1:8787/x", local)).toMatch(/username or password/);
    expect(destinationError("ftp://127.0.0.1:8787/x", local)).toMatch(/must use https:\/\//);
  });

  test("plain http is refused without allowPrivate, and says how to allow it", () => {
    expect(destinationError("http://example.com/x", strict)).toMatch(/ALLOW_PRIVATE_DESTINATIONS=true/);
    expect(destinationError("http://example.com/x", local)).toBeNull();
  });
});

describe("destinationError, accepted", () => {
  test.each([
    "https://example.com/hook",
    "https://example.com./hook",
    "https://hooks.example.com/path?query=1&x=y",
    "https://[2606:4700::1111]/x",
    "https://1.1.1.1/x",
    "https://8.8.8.8:8443/x",
    "https://example.com:1/x",
    "https://example.com:65535/x",
    "https://example.com:3000/x",
    "https://bücher.example/x",
    "https://xn--bcher-kva.example/x",
    "https://[::ffff:8.8.8.8]/x",
    "https://[64:ff9b::808:808]/x",
    "https://[2002:808:808::1]/x",
    "https://172.32.0.1/x",
    "https://100.128.0.1/x",
    "https://localhost.example.com/x",
    "https://mylocal.example.com/x",
    "https://internal.example.com/x",
    `https://example.com/${"a".repeat(2048 - "https://example.com/".length)}`,
  ])("%s", (url) => {
    expect(destinationError(url, strict)).toBeNull();
  });

  test.each(["http://127.0.0.1:8787/x", "http://localhost:8787/x", "http://[::1]:8787/x", "https://10.0.0.5/x"])("allowPrivate permits %s", (url) => {
    expect(destinationError(url, local)).toBeNull();
  });
});

describe("addressProblem, for the addresses a DNS answer holds", () => {
  test.each([
    ["127.0.0.1", "loopback address"],
    ["10.0.0.1", "private address"],
    ["100.64.0.1", "carrier-grade NAT address"],
    ["169.254.169.254", "cloud metadata address"],
    ["::1", "loopback address"],
    ["fe80::1", "link-local address"],
    ["fd00:ec2::254", "cloud metadata address"],
    ["::ffff:127.0.0.1", "IPv4-mapped form of the loopback address 127.0.0.1"],
    ["::ffff:a9fe:a9fe", "IPv4-mapped form of the cloud metadata address 169.254.169.254"],
    ["64:ff9b::a00:1", "NAT64 form of the private address 10.0.0.1"],
    ["not an address", "unreadable address"],
  ])("%s → %s", (address, problem) => {
    expect(addressProblem(address)).toBe(problem);
  });

  test.each(["93.184.215.14", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])("%s is public", (address) => {
    expect(addressProblem(address)).toBeNull();
  });
});

describe("nameProblem and isIpLiteral", () => {
  test.each([
    ["localhost.", "loopback name"],
    ["metadata.google.internal.", "internal name, used for cloud metadata and private services"],
    ["vm", "single-label name, which only a local network resolves"],
    ["printer.local", "local-network mDNS name"],
  ])("%s → %s", (name, problem) => {
    expect(nameProblem(name)).toBe(problem);
  });

  test("a public name has no problem", () => {
    expect(nameProblem("edge.cdn.example.net.")).toBeNull();
  });

  test.each([
    ["127.0.0.1", true],
    ["[::1]", true],
    ["example.com", false],
    ["vm", false],
  ])("isIpLiteral(%s) is %s", (host, literal) => {
    expect(isIpLiteral(host)).toBe(literal);
  });
});
