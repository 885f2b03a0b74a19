// Cell formatting shared by the report's tables.

/** A number as the tables show it: three significant figures at most, "–" for none. */
export const fmt = (x, digits = 1) => {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toFixed(Math.abs(x) >= 10 ? 1 : digits + 1).replace(/\.?0+$/, "") || "0";
};

/** Median, min and max of a summary, as three cells. */
export const mmm = (s) => (s ? [fmt(s.median), fmt(s.min), fmt(s.max)] : ["–", "–", "–"]);

/** A summary as one cell: "median (min–max)". */
export const spread = (s) => (s?.median === null || s?.median === undefined ? "–" : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`);

/** One Markdown table row. */
export const row = (cells) => `| ${cells.join(" | ")} |`;

/** A Markdown table: a header row, its alignment row ("---" first, "---:" for the rest), the rows. */
export const table = (head, rows) => [row(head), row(head.map((_, i) => (i === 0 ? "---" : "---:"))), ...rows.map(row)].join("\n");
