// The results section of bench/README.md, between its markers: the run's header, the targets, the single-event path
// and its profile first, then every other figure, the broadcast fan-out and the cost per delivered event.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { row } from "./lib.mjs";
import { profileTables, singleTable } from "./single.mjs";
import { costTables, fanoutTable, figuresTable } from "./tables.mjs";

const START = "<!-- results:start -->";
const END = "<!-- results:end -->";

/** Rewrites the results section of bench/README.md (everything else in it is kept as written). */
export function writeReadme(r, file, jsonName = "latest.json") {
  const m = r.meta;
  const v = m.versions ?? {};
  const targets = [
    row(["target", "required", "this run", ""]),
    row(["---", "---", "---", "---"]),
    ...r.targets.map((t) => row([t.name, t.target, `${t.value}${t.detail ? ` (${t.detail})` : ""}`, t.met ? "**met**" : "**missed**"])),
  ].join("\n");
  const p = r.prices;
  const section = [
    START,
    "",
    `Run of ${m.date} (${m.quick ? "quick" : "full"}, ${m.duration_s} s): ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memory_gib} GiB, ${m.machine.os}; **load average ${m.machine.load_average_before?.join(" ")} before**, ${m.load_average_after?.join(" ")} after. Node ${v.node}, wrangler ${v.wrangler}, workerd ${v.workerd}, compatibility date ${v.compatibility_date}, commit ${v.commit}, measured src/ sha256 ${m.source?.src_sha256 ?? "?"}${m.source?.uncommitted_changes_in_src ? " (with uncommitted changes)" : ""}. Raw figures: [results/${jsonName}](results/${jsonName}).${m.quick ? " **A quick run (small counts, fewer rounds): a smoke test, not the reference figures.**" : ""}`,
    "",
    "![the single-event path against the forward-only Worker, and batch-fed delivery](results/latency.svg)",
    "",
    "### Targets",
    "",
    targets,
    "",
    "### The single-event path, beside the forward-only Worker",
    "",
    singleTable(r.single),
    "",
    "### Where the single-event path's time goes",
    "",
    profileTables(r),
    "",
    "### Every other figure (median, min and max over the rounds)",
    "",
    figuresTable(r),
    "",
    "### A broadcast's fan-out through the FANOUT queue (one run each; ms from the broadcast's POST)",
    "",
    fanoutTable(r.fanout),
    "",
    "### Cost per delivered event (happy path, counting build)",
    "",
    costTables(r.cost),
    "",
    `Prices (Workers Paid, USD, beyond the included usage; read ${p.checked} on ${p.source.join(", ")}): Worker requests $${p.worker_request_per_million}/M, Worker CPU $${p.worker_cpu_ms_per_million}/M ms, DO requests $${p.do_request_per_million}/M, DO duration $${p.do_gb_s_per_million}/M GB-s at ${p.do_memory_gb} GB, rows written $${p.rows_written_per_million}/M, rows read $${p.rows_read_per_million}/M (D1 and DO SQLite alike). ${p.notes.join(" ")}`,
    "",
    r.notes.length ? `Notes from the run: ${r.notes.join("; ")}.` : "",
    "",
    END,
  ].join("\n");
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark\n\n";
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  text = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + END.length) : `${text.trimEnd()}\n\n## Results\n\n${section}\n`;
  writeFileSync(file, text);
}
