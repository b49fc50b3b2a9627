import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { tf, initBackend, describeBackend, parseBackendChoice, BackendError, BACKEND_ORDER } from "llm-spam-classifier";

const root = path.resolve(__dirname, "..", "..");

/** Runs a snippet in a fresh Node process (backend choice is per process). */
function node(code: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["-e", code], { cwd: root, encoding: "utf8", env: { ...process.env, ...env } });
}

test("automatic choice skips the native backends that are not installed and lands on wasm", async () => {
  const info = await initBackend();
  assert.equal(info.forced, false);
  assert.equal(tf.getBackend(), info.tfBackend);
  // Here neither tfjs-node-gpu nor tfjs-node can install (they download libtensorflow).
  assert.deepEqual(
    info.skipped.map((s) => s.choice),
    ["tensorflow-gpu", "tensorflow"],
  );
  assert.equal(info.choice, "wasm");
  assert.match(
    describeBackend(info),
    /^tfjs 4\.22\.0 backend: wasm \(automatic; skipped tensorflow-gpu: not installed/,
  );
});

test("TFJS_BACKEND=cpu forces the cpu backend", () => {
  const r = node(`require("llm-spam-classifier").initBackend().then(i => console.log(JSON.stringify(i)))`, {
    TFJS_BACKEND: "cpu",
  });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout.trim().split("\n").pop()!) as { choice: string; forced: boolean };
  assert.equal(info.choice, "cpu");
  assert.equal(info.forced, true);
});

test("a forced backend that cannot load is a clear error naming what to install", () => {
  const r = node(
    `require("llm-spam-classifier").initBackend().catch(e => { console.log(e.name + ": " + e.message); })`,
    { TFJS_BACKEND: "tensorflow" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^BackendError: TFJS_BACKEND=tensorflow cannot be used \(not installed.*npm install @tensorflow\/tfjs-node@4\.22\.0/,
  );
});

test("backend names are parsed with aliases and unknown names are refused", () => {
  assert.equal(parseBackendChoice("GPU"), "tensorflow-gpu");
  assert.equal(parseBackendChoice("node"), "tensorflow");
  assert.equal(parseBackendChoice(" wasm "), "wasm");
  assert.throws(
    () => parseBackendChoice("webgpu"),
    (e: unknown) =>
      e instanceof BackendError &&
      /Unknown tfjs backend "webgpu"; use one of: tensorflow-gpu, tensorflow, wasm, cpu/.test(e.message),
  );
  assert.deepEqual([...BACKEND_ORDER], ["tensorflow-gpu", "tensorflow", "wasm", "cpu"]);
});
