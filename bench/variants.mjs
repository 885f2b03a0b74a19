// Experiments: the optimisations the report recommends, applied to the benchmark's snapshot of src/ (never to
// src/ itself) so that `npm run bench -- --variant=NAME` can measure them before anyone changes the real code.
// Each edit is an exact text replacement; if the code it expects has moved on, the variant says so and the run
// stops rather than measure something else.

export const VARIANTS = {
  "ingest-parallel-reads": {
    description:
      "src/ingest.ts ingest(): the account check, the repeat check and the subscribed-webhooks read go out together (Promise.all) instead of one after another",
    edits: [
      {
        file: "src/ingest.ts",
        find: `  const known = new Set<string>();
  if (accountIds.length) {
    const rows = await env.DB.prepare(\`SELECT id FROM accounts WHERE id IN (\${accountIds.map(() => "?").join(",")})\`)
      .bind(...accountIds)
      .all<{ id: string }>();
    for (const r of rows.results) known.add(r.id);
  }
  const existing = new Map<string, EventRow>();
  const ids = accepted.map((a) => a.id);
  const found = await env.DB.prepare(\`SELECT * FROM events WHERE id IN (\${ids.map(() => "?").join(",")})\`)
    .bind(...ids)
    .all<EventRow>();`,
        replace: `  const known = new Set<string>();
  for (const a of accountIds) subscribed(a).catch(() => {});
  const existing = new Map<string, EventRow>();
  const ids = accepted.map((a) => a.id);
  const [accountRows, found] = await Promise.all([
    accountIds.length
      ? env.DB.prepare(\`SELECT id FROM accounts WHERE id IN (\${accountIds.map(() => "?").join(",")})\`)
          .bind(...accountIds)
          .all<{ id: string }>()
      : Promise.resolve({ results: [] as { id: string }[] }),
    env.DB.prepare(\`SELECT * FROM events WHERE id IN (\${ids.map(() => "?").join(",")})\`)
      .bind(...ids)
      .all<EventRow>(),
  ]);
  for (const r of accountRows.results) known.add(r.id);`,
      },
    ],
  },
  "ingest-one-read-trip": {
    description:
      "src/ingest.ts ingest(): the repeat check, the account check and each account's subscribed webhooks are read in one D1 batch (one round trip instead of three)",
    edits: [
      {
        file: "src/ingest.ts",
        find: `  const known = new Set<string>();
  if (accountIds.length) {
    const rows = await env.DB.prepare(\`SELECT id FROM accounts WHERE id IN (\${accountIds.map(() => "?").join(",")})\`)
      .bind(...accountIds)
      .all<{ id: string }>();
    for (const r of rows.results) known.add(r.id);
  }
  const existing = new Map<string, EventRow>();
  const ids = accepted.map((a) => a.id);
  const found = await env.DB.prepare(\`SELECT * FROM events WHERE id IN (\${ids.map(() => "?").join(",")})\`)
    .bind(...ids)
    .all<EventRow>();`,
        replace: `  const known = new Set<string>();
  const existing = new Map<string, EventRow>();
  const ids = accepted.map((a) => a.id);
  const reads = [
    env.DB.prepare(\`SELECT * FROM events WHERE id IN (\${ids.map(() => "?").join(",")})\`).bind(...ids),
    ...(accountIds.length ? [env.DB.prepare(\`SELECT id FROM accounts WHERE id IN (\${accountIds.map(() => "?").join(",")})\`).bind(...accountIds)] : []),
    ...accountIds.map((a) =>
      env.DB.prepare("SELECT * FROM webhooks WHERE account_id = ? AND active = 1 AND disabled_reason IS NULL AND deleted_at IS NULL").bind(a),
    ),
  ];
  const [found, accountRows, ...hooks] = (await env.DB.batch(reads)) as D1Result<any>[];
  for (const r of accountRows?.results ?? []) known.add(r.id);
  accountIds.forEach((a, i) => webhooksByAccount.set(a, Promise.resolve(hooks[i].results as WebhookRow[])));`,
      },
    ],
  },
};

/** Applies the named variants (comma-separated) to a snapshot directory; throws when one no longer applies. */
export async function applyVariants(names, dir, { readFileSync, writeFileSync, join }) {
  const applied = [];
  for (const name of names) {
    const v = VARIANTS[name];
    if (!v) throw new Error(`unknown variant "${name}"; known: ${Object.keys(VARIANTS).join(", ")}`);
    for (const e of v.edits) {
      const path = join(dir, e.file);
      const text = readFileSync(path, "utf8");
      if (!text.includes(e.find)) throw new Error(`variant "${name}" no longer applies: ${e.file} has changed where it expects\n${e.find.slice(0, 200)}`);
      writeFileSync(path, text.replace(e.find, e.replace));
    }
    applied.push({ name, description: v.description });
  }
  return applied;
}
