import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const root = path.resolve(__dirname, "..", "..");
const cli = path.join(root, "lib", "dist", "cli", "main.js");
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, ...env } });

test("--help lists every command", () => {
  const r = run(["--help"]);
  assert.equal(r.status, 0);
  for (const c of ["chapter", "data", "weights", "generate", "finetune", "experiments", "classify", "info"])
    assert.match(r.stdout, new RegExp(`^  ${c} +\\S`, "m"));
  assert.match(r.stdout, /LLM_DATA_DIR/);
});

test("every command has its own --help", () => {
  for (const c of ["chapter", "data", "weights", "generate", "finetune", "experiments", "classify", "info"]) {
    const r = run([c, "--help"]);
    assert.equal(r.status, 0, `${c} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: npm start -- ${c}`));
  }
});

test("a user mistake is one clear line and exit code 2, never a stack trace", () => {
  for (const args of [["frobnicate"], ["info", "--bogus"]]) {
    const r = run(args);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^error: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test("info reports the backend once and honours TFJS_BACKEND and --data-dir", () => {
  const r = run(["info", "--json", "--data-dir", "/tmp/somewhere"], { TFJS_BACKEND: "cpu" });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { backend: string; dataDir: string };
  assert.equal(info.backend, "cpu");
  assert.equal(info.dataDir, "/tmp/somewhere");
  assert.equal(r.stderr.match(/backend: cpu/g)?.length, 1);
});

test("a forced backend that cannot load fails with the install hint", () => {
  const r = run(["info"], { TFJS_BACKEND: "gpu" });
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^error: TFJS_BACKEND=gpu cannot be used \(not installed\)\. Install it with: npm install @tensorflow\/tfjs-node-gpu/,
  );
});
