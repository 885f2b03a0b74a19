import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, test } from "vitest";

// scripts/provision.mjs, which npm test runs first, against a PATH of stand-ins: an apt-get that records what it
// was asked and "installs" python3 by putting one on that PATH, and a sudo that runs its command. So the install
// path runs for real, as root or not, without touching the machine's packages. CHROMIUM_PATH is node itself, an
// executable that is surely there, so only python3 is missing.

const script = fileURLToPath(new URL("../../scripts/provision.mjs", import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A PATH folder with env, sudo and (unless null) an apt-get running `apt(folder)` after logging its arguments. */
function fakeBin(apt: ((bin: string) => string) | null): string {
  const bin = mkdtempSync(join(tmpdir(), "broxiai-provision-"));
  dirs.push(bin);
  symlinkSync("/usr/bin/env", join(bin, "env"));
  const put = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  put("sudo", '[ "$1" = "-n" ] && shift\nexec "$@"');
  if (apt !== null) put("apt-get", `[ "$1" = "--version" ] && exit 0\necho "$*" >> ${bin}/apt.log\n${apt(bin)}`);
  return bin;
}

const run = (bin: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [script], { env: { PATH: bin, CHROMIUM_PATH: process.execPath, ...env }, encoding: "utf8", timeout: 20_000 });

test("what is missing is installed with apt-get (lists updated first), announced in one line", () => {
  const bin = fakeBin((b) => `case "$*" in *install*) printf '#!/bin/sh\\nexit 0\\n' > ${b}/python3; /bin/chmod +x ${b}/python3;; esac`);
  const r = run(bin);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^installing python3 for the Python example \(apt-get, once\)… done in \d+ s\n$/);
  const calls = readFileSync(join(bin, "apt.log"), "utf8").trim().split("\n");
  expect(calls).toEqual([expect.stringMatching(/ update$/), expect.stringMatching(/ install -y --no-install-recommends python3$/)]);
  // Once: with python3 there now, a second run is silent and asks apt-get nothing.
  const again = run(bin);
  expect([again.status, again.stdout, again.stderr]).toEqual([0, "", ""]);
  expect(readFileSync(join(bin, "apt.log"), "utf8").trim().split("\n")).toHaveLength(2);
});

test("when apt-get fails it stops, saying what to run", () => {
  const bin = fakeBin(() => 'echo "E: Unable to locate package python3" >&2\nexit 100');
  const r = run(bin);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("E: Unable to locate package python3");
  expect(r.stderr.trim().split("\n").at(-1)).toBe(
    "npm test: apt-get update failed (above); run `sudo apt-get install -y --no-install-recommends python3`, then npm test again.",
  );
});

test("without apt-get it stops with one line naming what to install", () => {
  const r = run(fakeBin(null));
  expect([r.status, r.stdout]).toEqual([1, ""]);
  expect(r.stderr).toBe("npm test: python3 missing and no apt-get here: install python3.\n");
});

test("a CHROMIUM_PATH that is not an executable stops it before anything is installed", () => {
  const bin = fakeBin(() => "exit 0");
  const r = run(bin, { CHROMIUM_PATH: join(bin, "no-such-chromium") });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^npm test: CHROMIUM_PATH=\S+no-such-chromium is not an executable/);
  expect(() => readFileSync(join(bin, "apt.log"))).toThrow();
});
