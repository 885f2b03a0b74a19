// Writing Slack's mrkdwn safely: escaping, code spans, quotes, dates Slack localises, durations and numbers a person
// reads, truncation by code point, and links that cannot break out of `<url|label>`.

export const MAX_DETAIL = 300;
export const MAX_NAME = 80;

/** "850 ms", "5.2 s", "2 min 5 s", "1 h 3 min", "2 d 4 h": the two largest units are enough to read. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "unknown time";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) {
    const s = Math.round(ms / 100) / 10;
    return s >= 60 ? "1 min" : `${s % 1 === 0 ? s.toFixed(0) : s.toFixed(1)} s`;
  }
  const totalSeconds = Math.round(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return seconds > 0 ? `${minutes} min ${seconds} s` : `${minutes} min`;
}

/** A count as a person reads it: "12,500", "0.75". */
export function formatNumber(n: number): string {
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 }).format(n);
}

/** Slack renders `<!date^…>` in each reader's own time zone; the ISO text is the fallback for old clients. */
export function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(truncate(iso, MAX_NAME));
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time_secs}|${escapeMrkdwn(new Date(ms).toISOString())}>`;
}

/** Slack's mrkdwn treats only these three as control characters; escaping them stops `<!channel>` and fake links. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** An id in backticks; a backtick inside would end the code span early, so it is swapped for a look-alike. */
export function code(s: string): string {
  return `\`${escapeMrkdwn(truncate(s, MAX_NAME)).replace(/`/g, "ˋ")}\``;
}

/** Every line as a mrkdwn block quote. */
export function quote(s: string): string {
  return s
    .split("\n")
    .map((line) => `>${line}`)
    .join("\n");
}

/** Whitespace runs as one space, for the notification text. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** Cuts by code point, before escaping, so neither a surrogate pair nor an `&amp;` is split in half. */
export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join("")}…`;
}

/** Only http(s) links go into the message; `|` and `>` would end Slack's `<url|label>` syntax early. */
export function safeUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return undefined;
  return parsed.href.replace(/&/g, "&amp;").replace(/\|/g, "%7C").replace(/</g, "%3C").replace(/>/g, "%3E");
}
