#!/usr/bin/env node
/**
 * `npm test`: the unit tests (node:test + tsx, every test/**\/*.test.ts) and then every notebook in
 * smoke mode, both as a converted script and through the real tslab kernel (scripts/run-notebooks.mjs).
 * `--unit` runs only the unit tests. Ends with one line: `all: N passed, N failed[, N skipped]`.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const unitOnly = args.includes("--unit");
const filters = args.filter((a) => !a.startsWith("--"));

function collect(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "fixtures" ? [] : collect(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  });
}

const files = collect(path.join(root, "test"))
  .sort()
  .filter((f) => !filters.length || filters.some((x) => f.includes(x)));
fs.mkdirSync(path.join(root, "build"), { recursive: true });
const tap = path.join(root, "build", "unit-tests.tap");
console.log(`Unit tests: ${files.length} files`);
const unit = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);

const tapText = fs.existsSync(tap) ? fs.readFileSync(tap, "utf8") : "";
const num = (key) => Number((new RegExp(`^# ${key} (\\d+)`, "m").exec(tapText) ?? [])[1] ?? 0);
let passed = num("pass"),
  failed = num("fail") + (unit.status !== 0 && num("fail") === 0 ? 1 : 0),
  skipped = num("skipped") + num("todo");

if (!unitOnly) {
  console.log("\nNotebooks (smoke mode: tiny model, the package's own dataset copy and checkpoint):");
  const nb = spawnSync(process.execPath, [path.join(root, "scripts", "run-notebooks.mjs")], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.stdout.write(nb.stdout ?? "");
  const m = /notebooks: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?/.exec(nb.stdout ?? "");
  if (m) {
    passed += Number(m[1]);
    failed += Number(m[2]);
    skipped += Number(m[3] ?? 0);
  } else failed += 1;
}
console.log(`\nall: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed ? 1 : 0);
