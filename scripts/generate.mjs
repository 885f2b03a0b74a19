#!/usr/bin/env node
// `npm run generate`: regenerates the typed client's types (client/schema.d.ts) and the receivers' fixture catalog
// (examples/receiver-fixtures/event-types.json) from the service's own answers. By default it starts this
// repository's Worker in workerd for a moment; `--from <url>` reads a service that is already running instead.
//
//   npm run generate
//   npm run generate -- --from http://localhost:8787
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { documentsFromLocalWorker, fetchDocuments, render, staleFiles } from "./codegen.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({ options: { from: { type: "string" } } });

const documents = args.from ? await fetchDocuments(args.from) : await documentsFromLocalWorker(root);
const files = await render(documents);
const stale = await staleFiles(root, files);
for (const path of stale) await writeFile(join(root, path), files[path]);
console.log(stale.length ? `Updated ${stale.join(", ")}.` : "Everything generated was already up to date.");
