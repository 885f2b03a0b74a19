import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, expect, test } from "vitest";

// Cloudflare's limit is on the compressed upload: 3 MiB on the Free plan, 10 MiB on Paid. A third of the
// Free limit leaves room to grow and catches an accidental dependency (a whole SDK, a Node polyfill) early.
const BUDGET_GZIP_BYTES = 1024 * 1024;
const outdir = mkdtempSync(join(tmpdir(), "broxiai-bundle-"));

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")} took longer than ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test("the deployable bundle builds and stays well under the Workers size limit", async () => {
  const { code, output } = await run("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", outdir], 90_000);
  expect(code, output).toBe(0);
  // The bindings the deployed Worker needs, as wrangler read them from wrangler.toml.
  expect(output).toMatch(/env\.WEBHOOK_QUEUE \(WebhookQueue\)\s+Durable Object/);
  expect(output).toMatch(/env\.DB \(broxiai-webhooks\)\s+D1 Database/);

  // What would be uploaded: every module but the source maps (not uploaded unless upload_source_maps is set).
  const modules = readdirSync(outdir).filter((f) => /\.(m?js|cjs|wasm)$/.test(f));
  expect(modules).toContain("index.js");
  const raw = modules.map((f) => readFileSync(join(outdir, f)));
  const rawBytes = raw.reduce((n, b) => n + b.length, 0);
  const gzipBytes = raw.reduce((n, b) => n + gzipSync(b).length, 0);
  const main = readFileSync(join(outdir, "index.js"), "utf8");
  expect(main).toMatch(/export\s*\{[^}]*\bWebhookQueue\b/);

  const reported = output.match(/Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/);
  console.log(
    `bundle: ${(rawBytes / 1024).toFixed(1)} KiB raw, ${(gzipBytes / 1024).toFixed(1)} KiB gzipped` +
      (reported ? ` (wrangler: ${reported[1]} KiB / gzip ${reported[2]} KiB)` : " (wrangler printed no size)") +
      `; budget ${BUDGET_GZIP_BYTES / 1024} KiB gzipped, Workers limit 3 MiB Free / 10 MiB Paid`,
  );
  // The budget is judged on what Cloudflare measures: wrangler's own "gzip" figure, which our sum must match (within
  // 1 %), or the files counted here are not the upload.
  expect(reported, output).not.toBeNull();
  const wranglerGzipBytes = Number(reported?.[2]) * 1024;
  expect(Math.abs(gzipBytes - wranglerGzipBytes)).toBeLessThan(wranglerGzipBytes * 0.01);
  expect(wranglerGzipBytes).toBeLessThan(BUDGET_GZIP_BYTES);
});
