// What `npm test` needs that npm cannot install, provisioned before the tests run: Debian's Chromium for the
// dashboard test (a test tool's own browser download fails where only package registries are reachable, so none
// is ever tried) and python3 for the Python example. Whatever is missing is installed with apt-get, as root or
// through sudo, once; where that is not possible it stops with one line saying what to run, so the dashboard
// test never turns into a skip.
//
//   node scripts/provision.mjs        (npm test runs it first; silent when everything is there)
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};
// Run, not looked up: a pyenv shim is on PATH even when it has no interpreter to hand over to.
const runs = (command) => spawnSync(command, ["--version"], { stdio: "ignore" }).status === 0;

// Without recommends Chromium installs in about a third of the time; fonts-liberation is the one recommended
// package the test needs, so that its screenshots show text.
const needs = [
  { pkg: "chromium", extra: ["fonts-liberation"], why: "the dashboard test", present: () => executable(chromium) },
  { pkg: "python3", extra: [], why: "the Python example", present: () => runs("python3") },
];

function stop(line) {
  console.error(`npm test: ${line}`);
  process.exit(1);
}

const missing = needs.filter((n) => !n.present());
if (missing.length === 0) process.exit(0);

if (process.env.CHROMIUM_PATH && missing.some((n) => n.pkg === "chromium")) {
  stop(`CHROMIUM_PATH=${chromium} is not an executable: point it at Chromium or Chrome, or unset it to use Debian's.`);
}
const pkgs = missing.map((n) => n.pkg);
const debs = missing.flatMap((n) => [n.pkg, ...n.extra]);
const manual = `sudo apt-get install -y --no-install-recommends ${debs.join(" ")}`;
if (!runs("apt-get")) {
  const orPath = pkgs.includes("chromium") ? ", or set CHROMIUM_PATH to a Chromium or Chrome binary" : "";
  stop(`${pkgs.join(" and ")} missing and no apt-get here: install ${pkgs.join(" and ")}${orPath}.`);
}
// sudo -n never prompts: a password it would need means the person runs the line below instead.
const asRoot = process.getuid?.() === 0;
if (!asRoot && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status !== 0) {
  stop(`${pkgs.join(" and ")} missing; run \`${manual}\`, then npm test again.`);
}

const apt = (...args) => {
  // Another apt-get at work (a second checkout's tests, unattended upgrades) holds the lock: wait for it.
  const argv = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-qq", "-o", "DPkg::Lock::Timeout=300", ...args];
  const run = asRoot ? spawnSync(argv[0], argv.slice(1), { encoding: "utf8" }) : spawnSync("sudo", ["-n", ...argv], { encoding: "utf8" });
  if (run.status !== 0) {
    process.stdout.write("\n");
    console.error(`${run.stdout ?? ""}${run.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n"));
    stop(`apt-get ${args[0]} failed (above); run \`${manual}\`, then npm test again.`);
  }
};

const started = Date.now();
const what = missing.map((n) => `${n.pkg === "chromium" ? "Debian's chromium" : n.pkg} for ${n.why}`).join(" and ");
process.stdout.write(`installing ${what} (apt-get, once)… `);
// The package lists of a fresh machine are empty or stale, and install finds nothing without them.
apt("update");
apt("install", "-y", "--no-install-recommends", ...debs);
const still = missing.filter((n) => !n.present());
if (still.length > 0) stop(`apt-get installed ${debs.join(" ")} but ${still.map((n) => n.pkg).join(" and ")} still cannot be run.`);
process.stdout.write(`done in ${Math.round((Date.now() - started) / 1000)} s\n`);
