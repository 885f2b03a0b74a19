/**
 * Keyset pagination over time-sortable ids, newest first: the cursor is the last id of the page, so a page
 * never skips or repeats rows however many are inserted meanwhile.
 */
export function pageOf<T extends { id: string }>(rows: T[], limit: number): { data: T[]; next_cursor: string | null } {
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  return { data, next_cursor: more ? data[data.length - 1].id : null };
}
