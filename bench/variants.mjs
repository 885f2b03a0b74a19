// Experiments: the optimisations the report recommends, applied to the benchmark's snapshot of src/ (never to
// src/ itself) so that `npm run bench -- --variant=NAME` can measure them before anyone changes the real code.
// Each edit is an exact text replacement; if the code it expects has moved on, the variant says so and the run
// stops rather than measure something else.

// The optimisations measured here before were taken into src/ (see bench/README.md, "Findings"). The three below are
// diagnoses, not proposals: each asks whether one mechanism explains a figure (bench/README.md, issue 19's findings
// say what they showed). A new experiment goes in as { description, edits: [{ file, find, replace }] }.
export const VARIANTS = {
  noflush: {
    description: "no log flush in the middle of a run",
    edits: [
      { file: "src/delivery/scheduler.ts", find: "const LOG_FLUSH_ROWS = 20;", replace: "const LOG_FLUSH_ROWS = 1e9;" },
      { file: "src/delivery/scheduler.ts", find: "const LOG_FLUSH_MS = 1000;", replace: "const LOG_FLUSH_MS = 1e9;" },
    ],
  },
  // Measurement only, NOT safe: the hand-off runs beside the D1 insert, so a repeat or a stale cache would hand off
  // anyway. It tells what "one durable hop before the 202" would buy on this machine.
  concurrent: {
    description: "the object hand-off side by side with the D1 insert (unsafe; measures the latency it would buy)",
    edits: [
      {
        file: "src/ingest.ts",
        find: 'import { HandoffPlan, type IngestResult } from "./events/plan";',
        replace:
          'import { HandoffPlan, type IngestResult } from "./events/plan";\nimport { queueOf } from "./delivery/queue-stub";\nimport { toQueueConfig } from "./webhooks/store";',
      },
      {
        file: "src/ingest.ts",
        find: "  const stored = await batches([",
        replace:
          "  const early = Promise.all(toStore.flatMap((t) => t.handoffs.map(({ webhook, item }) => queueOf(env, webhook.id).enqueue(toQueueConfig(webhook), [item]))));\n  const stored = await batches([",
      },
      {
        file: "src/ingest.ts",
        find: "    for (const { webhook, item } of t.handoffs) plan.add(webhook, item, t.index);\n  }\n  if (corrections",
        replace: "  }\n  if (corrections",
      },
      {
        file: "src/ingest.ts",
        find: "  if (corrections.length > 0) await batches(corrections);",
        replace: "  await early;\n  if (corrections.length > 0) await batches(corrections);",
      },
    ],
  },
  nohold: {
    description: "no pending write for deliveries that wait (HOLD_MS a minute)",
    edits: [{ file: "src/delivery/journal.ts", find: "export const HOLD_MS = 2_000;", replace: "export const HOLD_MS = 600_000;" }],
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
