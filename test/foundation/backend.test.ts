import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { parseBackendChoice, BackendError, BACKEND_ORDER, type BackendInfo } from "llm-spam-classifier";
import { describeAdapter, isSoftwareAdapter, probeWebGpuAdapter } from "llm-spam-classifier/engine";

const root = path.resolve(__dirname, "..", "..");

/** Runs a snippet in a fresh Node process (backend choice is per process). */
function node(code: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["-e", code], { cwd: root, encoding: "utf8", env: { ...process.env, ...env } });
}

test("with no flag a machine without a GPU picks wasm, skipping the missing native backends and a software WebGPU adapter", async () => {
  // In a child without TFJS_BACKEND, so that `TFJS_BACKEND=wasm npm test` (a GPU machine's unit run) checks it too.
  const r = node(
    `const L = require("llm-spam-classifier"); L.initBackend().then(i => console.log(JSON.stringify({ ...i, line: L.describeBackend(i), tf: L.tf.getBackend() })))`,
    { TFJS_BACKEND: "" },
  );
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout.trim().split("\n").pop()!) as BackendInfo & { line: string; tf: string };
  assert.equal(info.forced, false);
  assert.equal(info.tf, info.tfBackend);
  const probe = await probeWebGpuAdapter();
  if ("adapter" in probe && !probe.adapter.software) {
    // A machine with a GPU: WebGPU wins over tfjs-node and wasm.
    assert.equal(info.choice, "webgpu");
    assert.ok(info.gpu && info.line.includes(describeAdapter(probe.adapter)), info.line);
    return;
  }
  // Here neither tfjs-node-gpu nor tfjs-node can install (they download libtensorflow), and Dawn finds no
  // hardware adapter: llvmpipe where mesa-vulkan-drivers is installed (CI), else none.
  assert.deepEqual(
    info.skipped.map((s) => s.choice),
    ["tensorflow-gpu", "webgpu", "tensorflow"],
  );
  assert.match(
    info.skipped[1].reason,
    /\(software adapter\) is not chosen automatically \(TFJS_BACKEND=webgpu uses it\)|no adapter|Vulkan|not installed/,
  );
  assert.equal(info.choice, "wasm");
  assert.equal(info.adapter, undefined);
  assert.match(info.line, /^tfjs 4\.22\.0 backend: wasm \(automatic; skipped tensorflow-gpu: not installed/);
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
  assert.equal(parseBackendChoice("WebGPU"), "webgpu");
  assert.throws(
    () => parseBackendChoice("webgl"),
    (e: unknown) =>
      e instanceof BackendError &&
      /Unknown tfjs backend "webgl"; use one of: tensorflow-gpu, webgpu, tensorflow, wasm, cpu/.test(e.message),
  );
  assert.deepEqual([...BACKEND_ORDER], ["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"]);
});

test("software adapters are recognised by Dawn's flag, their architecture or their name; the report marks them", () => {
  assert.ok(isSoftwareAdapter({ vendor: "mesa", architecture: "software", description: "llvmpipe: Mesa 25.0.7" }));
  assert.ok(isSoftwareAdapter({ vendor: "google", description: "SwiftShader Device (Subzero)" }));
  assert.ok(isSoftwareAdapter({ vendor: "apple", architecture: "metal-3", isFallbackAdapter: true }));
  assert.ok(!isSoftwareAdapter({ vendor: "apple", architecture: "metal-3", description: "Apple M2" }));
  assert.ok(!isSoftwareAdapter({ vendor: "nvidia", architecture: "ampere", description: "NVIDIA RTX A4000" }));
  const limits = { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 31 };
  assert.equal(
    describeAdapter({
      vendor: "apple",
      architecture: "metal-3",
      device: "",
      description: "Apple M2",
      software: false,
      limits,
    }),
    'apple metal-3 "Apple M2"',
  );
  assert.equal(
    describeAdapter({
      vendor: "mesa",
      architecture: "software",
      device: "llvmpipe",
      description: "",
      software: true,
      limits,
    }),
    'mesa software "llvmpipe" (software adapter)',
  );
});

test("TFJS_BACKEND=webgpu without the package or an adapter is a clear error naming what to install", () => {
  // A fresh process whose `webgpu` package cannot be found (NODE_PATH cannot add it; a require hook hides it).
  const hide = `const M = require("module"); const r = M._resolveFilename; M._resolveFilename = function (x, ...a) { if (x === "webgpu") throw Object.assign(new Error("Cannot find module 'webgpu'"), { code: "MODULE_NOT_FOUND" }); return r.call(this, x, ...a); };`;
  const r = node(
    `${hide} require("llm-spam-classifier").initBackend().then(i => console.log("chose " + i.choice), e => console.log(e.name + ": " + e.message))`,
    { TFJS_BACKEND: "webgpu" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^BackendError: TFJS_BACKEND=webgpu cannot be used \(not installed.*npm install webgpu@0\.6\.2/,
  );
  const auto = node(
    `${hide} require("llm-spam-classifier").initBackend().then(i => console.log(JSON.stringify(i.skipped[1])))`,
    { TFJS_BACKEND: "" },
  );
  assert.equal(auto.status, 0, auto.stderr);
  assert.deepEqual(JSON.parse(auto.stdout.trim()), { choice: "webgpu", reason: "not installed (npm package webgpu)" });
});

test("without a Vulkan driver the automatic choice falls through webgpu with Dawn's reason", (t) => {
  if (process.platform !== "linux") return t.skip("Vulkan's loader variable is Linux's");
  const r = node(
    `const L = require("llm-spam-classifier"); L.initBackend().then(i => console.log(JSON.stringify({ choice: i.choice, webgpu: i.skipped.find(s => s.choice === "webgpu") })))`,
    { TFJS_BACKEND: "", VK_ICD_FILENAMES: "/nonexistent/icd.json" },
  );
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim()) as { choice: string; webgpu: { reason: string } };
  assert.equal(got.choice, "wasm");
  assert.match(got.webgpu.reason, /^(no adapter \(.+\)|not installed)/);
  assert.equal(r.stderr, "", "Dawn's messages stay in the probe's process");
});
