#!/usr/bin/env node
/**
 * `npm test`: the unit tests (node:test + tsx, every test/**\/*.test.ts outside test/webgpu) and then every
 * notebook in smoke mode, both as a converted script and through the real tslab kernel (scripts/run-notebooks.mjs),
 * then the WebGPU suite when Dawn finds an adapter (skipped, and said so, when not).
 * `--unit` runs only the unit tests; `--webgpu` only the WebGPU suite: test/webgpu with TFJS_BACKEND=webgpu and
 * the notebooks that are cheap there (WEBGPU_NOTEBOOKS) through the kernel on it (a software adapter such as
 * llvmpipe is fine: correct, slow).
 * Ends with one line: `all: N passed, N failed[, N skipped]`.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const unitOnly = args.includes("--unit");
const webgpuOnly = args.includes("--webgpu");
const filters = args.filter((a) => !a.startsWith("--"));

function collect(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "fixtures" || e.name === "webgpu" ? [] : collect(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  });
}

fs.mkdirSync(path.join(root, "build"), { recursive: true });

/** Runs test files with node:test; @returns their pass/fail/skip counts (from a TAP copy of the report). */
function runTests(testFiles, name, env = process.env) {
  const tap = path.join(root, "build", `${name}.tap`);
  const r = spawnSync(
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
      ...testFiles,
    ],
    { cwd: root, stdio: "inherit", env },
  );
  const tapText = fs.existsSync(tap) ? fs.readFileSync(tap, "utf8") : "";
  const num = (key) => Number((new RegExp(`^# ${key} (\\d+)`, "m").exec(tapText) ?? [])[1] ?? 0);
  return {
    passed: num("pass"),
    failed: num("fail") + (r.status !== 0 && num("fail") === 0 ? 1 : 0),
    skipped: num("skipped") + num("todo"),
  };
}

/** Runs notebooks through scripts/run-notebooks.mjs; @returns its counts (a missing summary is a failure). */
function runNotebooks(nbArgs, env = process.env) {
  const nb = spawnSync(process.execPath, [path.join(root, "scripts", "run-notebooks.mjs"), ...nbArgs], {
    cwd: root,
    encoding: "utf8",
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.stdout.write(nb.stdout ?? "");
  const m = /notebooks: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?/.exec(nb.stdout ?? "");
  return m
    ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) }
    : { passed: 0, failed: 1, skipped: 0 };
}

/**
 * Notebooks the WebGPU suite runs through the kernel: the setup, text generation (03), the classification head's
 * outputs (04) and classifying, saving and reloading (06, which fine-tunes its smoke classifier first). Every
 * notebook runs on WebGPU; the training-heavy ones (05, 07-10) take minutes each on llvmpipe, so CI leaves them out.
 */
const WEBGPU_NOTEBOOKS = ["00-setup", "03-load-pretrained-gpt2", "04-classification-head", "06-inference"];

/**
 * The WebGPU suite on Dawn's adapter (TFJS_BACKEND=webgpu): test/webgpu and WEBGPU_NOTEBOOKS through the tslab
 * kernel. Without an adapter it is skipped with the reason.
 */
async function runWebGpuSuite() {
  const { probeWebGpuAdapter, describeAdapter } = await import("llm-spam-classifier/engine");
  const probe = await probeWebGpuAdapter();
  if ("reason" in probe) {
    console.log(`\nWebGPU suite: SKIPPED, no WebGPU adapter here (${probe.reason}).`);
    console.log("  On Linux without a GPU: apt-get install -t bookworm-backports mesa-vulkan-drivers (see .ci/run).");
    return { passed: 0, failed: 0, skipped: 1 };
  }
  console.log(`\nWebGPU suite (TFJS_BACKEND=webgpu) on ${describeAdapter(probe.adapter)}:`);
  const env = { ...process.env, TFJS_BACKEND: "webgpu", XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? os.tmpdir() };
  const webgpuFiles = collectWebGpu().filter((f) => !filters.length || filters.some((x) => f.includes(x)));
  const unit = webgpuFiles.length ? runTests(webgpuFiles, "webgpu-tests", env) : { passed: 0, failed: 0, skipped: 0 };
  const nb = runNotebooks(
    [
      "--only",
      "kernel",
      "--out",
      path.join(root, "build", "notebooks-webgpu"),
      ...WEBGPU_NOTEBOOKS.map((n) => path.join(root, "notebooks", `${n}.ipynb`)),
    ],
    env,
  );
  return { passed: unit.passed + nb.passed, failed: unit.failed + nb.failed, skipped: unit.skipped + nb.skipped };
}

function collectWebGpu() {
  const dir = path.join(root, "test", "webgpu");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".test.ts"))
    .sort()
    .map((f) => path.join(dir, f));
}

// Many unit tests read tensors synchronously, which tfjs-webgpu in Node cannot: on a machine where WebGPU would be
// the automatic choice (a hardware GPU), they and the notebooks (which run on either) run on wasm unless
// TFJS_BACKEND says otherwise; the WebGPU suite below covers that backend.
// The backend test still checks the automatic choice, in a child without TFJS_BACKEND.
const cpuEnv = { ...process.env, TFJS_BACKEND: process.env.TFJS_BACKEND || "wasm" };

let passed = 0,
  failed = 0,
  skipped = 0;
const add = (r) => {
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
};

if (!webgpuOnly) {
  const files = collect(path.join(root, "test"))
    .sort()
    .filter((f) => !filters.length || filters.some((x) => f.includes(x)));
  console.log(`Unit tests: ${files.length} files`);
  add(runTests(files, "unit-tests", cpuEnv));
}

if (!unitOnly && !webgpuOnly) {
  console.log("\nNotebooks (smoke mode: tiny model, the package's own dataset copy and checkpoint):");
  add(runNotebooks([], cpuEnv));
}

if (!unitOnly) add(await runWebGpuSuite());
console.log(`\nall: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed ? 1 : 0);
