import { convertIPv4ToBinary, convertIPv6ToBinary, distinctRemoteAddr } from "hono/utils/ipaddr";

// Checked when a webhook URL is stored (create and PATCH) and again before every send, so a customer cannot
// point the dispatcher at the service's own network, a cloud metadata endpoint or another loopback service (SSRF).
//
// What this check can and cannot see: it judges the URL as written, after the WHATWG parser has normalised it
// the same way `fetch()` will (decimal, octal and hex IPv4, short forms like 127.1, IPv6 compression, IDNA).
// A public DNS name that resolves to a private address (127.0.0.1.nip.io) is judged by resolve.ts, which asks
// DNS and applies addressProblem() below to every answer.
//
// Ports: any port 1-65535 is accepted. Receivers legitimately listen on 8443, 3000 and the like, and the
// address checks already keep private hosts out whatever the port.

const MAX_URL_LENGTH = 2048;

interface Range {
  base: bigint;
  prefix: number;
  label: string;
}

function v4(cidr: string, label: string): Range {
  const [address, prefix] = cidr.split("/");
  return { base: convertIPv4ToBinary(address), prefix: Number(prefix), label };
}

function v6(cidr: string, label: string): Range {
  const [address, prefix] = cidr.split("/");
  return { base: convertIPv6ToBinary(address), prefix: Number(prefix), label };
}

// Most specific first, so 169.254.169.254 is reported as metadata rather than merely link-local.
const IPV4_REFUSED: Range[] = [
  v4("169.254.169.254/32", "cloud metadata"),
  v4("255.255.255.255/32", "broadcast"),
  v4("0.0.0.0/8", "unspecified"),
  v4("10.0.0.0/8", "private"),
  v4("100.64.0.0/10", "carrier-grade NAT"),
  v4("127.0.0.0/8", "loopback"),
  v4("169.254.0.0/16", "link-local"),
  v4("172.16.0.0/12", "private"),
  v4("192.0.0.0/24", "IETF protocol assignment"),
  v4("192.0.2.0/24", "documentation"),
  v4("192.168.0.0/16", "private"),
  v4("198.18.0.0/15", "benchmarking"),
  v4("198.51.100.0/24", "documentation"),
  v4("203.0.113.0/24", "documentation"),
  v4("224.0.0.0/4", "multicast"),
  v4("240.0.0.0/4", "reserved"),
];

const IPV6_REFUSED: Range[] = [
  v6("::/128", "unspecified"),
  v6("::1/128", "loopback"),
  v6("fd00:ec2::254/128", "cloud metadata"),
  v6("fc00::/7", "unique local (private)"),
  v6("fe80::/10", "link-local"),
  v6("fec0::/10", "site-local"),
  v6("ff00::/8", "multicast"),
  v6("2001:db8::/32", "documentation"),
  v6("100::/64", "discard-only"),
  v6("64:ff9b:1::/48", "local-use NAT64"),
  // Teredo addresses carry an obfuscated client IPv4 and a server IPv4; no receiver needs one, so refuse the
  // whole prefix rather than decode it.
  v6("2001::/32", "Teredo tunnel"),
];

// IPv6 forms that carry an IPv4 address inside them; a packet to one of these can end up at that IPv4 address,
// so the embedded address gets the IPv4 rules.
const IPV4_MAPPED = v6("::ffff:0:0/96", "IPv4-mapped");
const IPV4_TRANSLATED = v6("::ffff:0:0:0/96", "IPv4-translated");
const NAT64 = v6("64:ff9b::/96", "NAT64");
const SIX_TO_FOUR = v6("2002::/16", "6to4");
// Deprecated (RFC 4291) and never a real destination; refused even when the embedded IPv4 is public.
const IPV4_COMPATIBLE = v6("::/96", "deprecated IPv4-compatible");

function inRange(address: bigint, bits: number, range: Range): boolean {
  const shift = BigInt(bits - range.prefix);
  return address >> shift === range.base >> shift;
}

function ipv4Label(address: bigint): string | null {
  return IPV4_REFUSED.find((range) => inRange(address, 32, range))?.label ?? null;
}

function ipv4String(address: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => (address >> shift) & 0xffn).join(".");
}

/** Why an IPv6 address is refused, as a phrase for the message, or null when it is public. */
function ipv6Problem(address: bigint): string | null {
  const direct = IPV6_REFUSED.find((range) => inRange(address, 128, range));
  if (direct) return `${direct.label} address`;
  for (const [range, embedded] of [
    [IPV4_MAPPED, address & 0xffffffffn],
    [IPV4_TRANSLATED, address & 0xffffffffn],
    [NAT64, address & 0xffffffffn],
    [SIX_TO_FOUR, (address >> 80n) & 0xffffffffn],
    [IPV4_COMPATIBLE, address & 0xffffffffn],
  ] as const) {
    if (!inRange(address, 128, range)) continue;
    const label = ipv4Label(embedded);
    if (label) return `${range.label} form of the ${label} address ${ipv4String(embedded)}`;
    if (range === IPV4_COMPATIBLE) return `${range.label} address`;
  }
  return null;
}

function refusedName(host: string): string | null {
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback name";
  if (host === "localdomain" || host.endsWith(".localdomain")) return "local-machine name";
  if (host === "local" || host.endsWith(".local")) return "local-network mDNS name";
  if (host === "internal" || host.endsWith(".internal")) return "internal name, used for cloud metadata and private services";
  if (host === "home.arpa" || host.endsWith(".home.arpa")) return "home-network name";
  // No public receiver has a one-label name ("vm", "db"); a machine's hosts file or search domain resolves them.
  if (!host.includes(".") && !host.startsWith("[") && distinctRemoteAddr(host) !== "IPv4") return "single-label name, which only a local network resolves";
  return null;
}

/** True when the host (as URL.hostname gives it) is an IP address literal, which needs no DNS lookup. */
export function isIpLiteral(host: string): boolean {
  return (host.startsWith("[") && host.endsWith("]")) || distinctRemoteAddr(host) === "IPv4";
}

/**
 * Why an address from a DNS answer ("10.0.0.1", "::ffff:127.0.0.1") is refused, as a phrase, or null when it is
 * public. The same rules as for a literal in the URL, IPv4-mapped and NAT64 forms included.
 */
export function addressProblem(address: string): string | null {
  try {
    if (distinctRemoteAddr(address) === "IPv4") {
      const label = ipv4Label(convertIPv4ToBinary(address));
      return label ? `${label} address` : null;
    }
    return ipv6Problem(convertIPv6ToBinary(address));
  } catch {
    return "unreadable address";
  }
}

/** Why a name met on the way (a CNAME target, say) is refused, as a phrase, or null. */
export function nameProblem(name: string): string | null {
  return refusedName(name.toLowerCase().replace(/\.+$/, ""));
}

/** Why a host is refused when private destinations are not allowed, or null when it may be used. */
function hostProblem(hostname: string): string | null {
  // "localhost." and "127.0.0.1.." name the same machine as without the dots. The parser has already removed a
  // single trailing dot from IPv4 literals; re-parsing after stripping catches the rest (e.g. "0x7f.1..").
  let host = hostname.replace(/\.+$/, "");
  if (host === "") return "empty host name";
  if (!host.startsWith("[")) {
    try {
      host = new URL(`https://${host}/`).hostname;
    } catch {
      return "invalid host name";
    }
  }
  const name = refusedName(host);
  if (name) return name;
  if (host.startsWith("[") && host.endsWith("]")) {
    try {
      return ipv6Problem(convertIPv6ToBinary(host.slice(1, -1)));
    } catch {
      return "unreadable IPv6 address";
    }
  }
  if (distinctRemoteAddr(host) === "IPv4") {
    const label = ipv4Label(convertIPv4ToBinary(host));
    return label ? `${label} address` : null;
  }
  return null;
}

/** Checks a webhook destination before it is stored. Returns null when acceptable, else a sentence a person can act on. */
export function destinationError(url: string, options: { allowPrivate: boolean }): string | null {
  if (url.length > MAX_URL_LENGTH) {
    return `The webhook URL is ${url.length} characters long; use one of at most ${MAX_URL_LENGTH}.`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "The webhook URL is not a valid absolute URL; give one like https://example.com/webhooks.";
  }
  const https = parsed.protocol === "https:";
  const http = parsed.protocol === "http:";
  if (!https && !(http && options.allowPrivate)) {
    return http
      ? "The webhook URL must use https://; plain http:// is allowed only when ALLOW_PRIVATE_DESTINATIONS=true."
      : `The webhook URL must use https://, not ${parsed.protocol}//.`;
  }
  if (parsed.username !== "" || parsed.password !== "") {
    return "The webhook URL must not contain a username or password; send credentials in a custom header instead.";
  }
  // An empty fragment ("…/hook#") leaves `hash` empty but is still a fragment; `#` can only survive in the
  // serialised URL as the fragment delimiter.
  if (parsed.href.includes("#")) {
    return "The webhook URL must not contain a #fragment; it is never sent to the receiver, so remove it.";
  }
  if (parsed.port === "0") {
    return "The webhook URL uses port 0; use a port between 1 and 65535.";
  }
  if (!options.allowPrivate) {
    const problem = hostProblem(parsed.hostname);
    if (problem) {
      return `The webhook URL points at ${parsed.hostname} (${problem}), which the dispatcher must not call; use a publicly reachable host.`;
    }
  }
  return null;
}
