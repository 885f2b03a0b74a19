import { convertIPv4ToBinary, convertIPv6ToBinary, distinctRemoteAddr } from "hono/utils/ipaddr";

/**
 * Whether a string is a valid allowlist rule: an IPv4 or IPv6 address, optionally with a CIDR prefix length.
 * The address is parsed the way the allowlist parses it, so a rule accepted here can never make every request
 * with the key fail later (hono's own check only looks for a ":" before deciding a string is IPv6).
 */
export function ipRuleError(rule: string): string | null {
  const [addr, prefix, extra] = rule.split("/");
  const notAnAddress = `"${rule}" is not an IP address or CIDR (e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/32)`;
  if (extra !== undefined || addr.includes("%")) return notAnAddress;
  const type = distinctRemoteAddr(addr);
  if (!type) return notAnAddress;
  try {
    if (type === "IPv4") convertIPv4ToBinary(addr);
    else convertIPv6ToBinary(addr);
  } catch {
    return notAnAddress;
  }
  if (prefix !== undefined) {
    const max = type === "IPv4" ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${rule}" has a prefix length outside 0–${max}`;
  }
  return null;
}
