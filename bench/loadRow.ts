/**
 * Child process of `npm run bench`: loading GPT-2 124M into the library (`load_124m`), from the safetensors file
 * PyTorch's side loads too (scripts/bench/torch_load.py: the book's state_dict names). Each load runs in a fresh
 * process, as a user's command does: the first with an empty weight cache (read, convert, write the cache), the
 * next ones from the cache (one read). Timed: `loadPretrainedGpt2` after the backend is up (a GPTModel with every
 * weight in place), and separately the arrays alone (`loadPretrainedArrays`, what classify/generate on ONNX
 * Runtime use).
 *
 * Usage: `runLoadRow(workDir)` from bench.ts, or standalone: node --import tsx bench/loadRow.ts [WORK_DIR]
 * (internally: node --import tsx bench/loadRow.ts --once WEIGHTS CACHE_DIR model|arrays, one load, prints seconds).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { spawnSync } from "node:child_process";
import { pythonPath } from "./torchRef";

export interface LoadRow {
  /** First load, empty cache: read + convert + cache write, into a GPTModel. */
  firstSeconds: number;
  /** Later loads into a GPTModel, from the cache (minimum over reps; all in `cachedAll`). */
  cachedSeconds: number;
  cachedAll: number[];
  /** Later loads of the arrays alone, from the cache (what classify/generate on ONNX Runtime use; minimum). */
  cachedArraysSeconds: number;
  /** PyTorch (minimum over reps): file read, model construction, load_state_dict, and their sum. */
  torch: { read_s: number; construct_s: number; load_state_dict_s: number; total_s: number; torch_version: string };
  /** cachedSeconds / torch.total_s. */
  ratio: number;
}

async function once(weights: string, cacheDir: string, what: string): Promise<void> {
  const { initBackend, loadPretrainedArrays, loadPretrainedGpt2 } = await import("llm-spam-classifier");
  await initBackend("wasm");
  const t0 = performance.now();
  if (what === "arrays") await loadPretrainedArrays({ path: weights, cacheDir });
  else (await loadPretrainedGpt2({ path: weights, cacheDir })).model.dispose();
  process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(4)}\n`);
}

/** One load in a fresh process; its seconds. */
function timeLoad(weights: string, cacheDir: string, what: "model" | "arrays"): number {
  const r = spawnSync(process.execPath, ["--import", "tsx", __filename, "--once", weights, cacheDir, what], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`bench/loadRow.ts: the load failed (exit ${r.status})`);
  return Number(r.stdout.trim().split("\n").pop());
}

/** The `load_124m` row: PyTorch writes and loads its 124M safetensors, then we load the same file. */
export function runLoadRow(work: string, reps = 3): LoadRow {
  const weights = path.join(work, "gpt2-124M-book.safetensors"),
    out = path.join(work, "torch-load.json"),
    cacheDir = path.join(work, "weight-cache");
  const root = path.resolve(__dirname, "..");
  const py = spawnSync(
    pythonPath(),
    [
      path.join(root, "scripts", "bench", "torch_load.py"),
      "--weights",
      weights,
      "--output",
      out,
      "--reps",
      String(reps),
    ],
    { cwd: root, encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "2" } },
  );
  if (py.status !== 0) throw new Error(`torch_load.py failed (exit ${py.status}):\n${py.stderr.trim()}`);
  const torch = JSON.parse(fs.readFileSync(out, "utf8")) as LoadRow["torch"];
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const firstSeconds = timeLoad(weights, cacheDir, "model");
  const cachedAll = Array.from({ length: reps }, () => timeLoad(weights, cacheDir, "model"));
  const arrays = Array.from({ length: reps }, () => timeLoad(weights, cacheDir, "arrays"));
  const cachedSeconds = Math.min(...cachedAll);
  fs.rmSync(weights, { force: true });
  fs.rmSync(cacheDir, { recursive: true, force: true });
  return {
    firstSeconds,
    cachedSeconds,
    cachedAll,
    cachedArraysSeconds: Math.min(...arrays),
    torch,
    ratio: cachedSeconds / torch.total_s,
  };
}

/** The row's report line. */
export function loadRowLine(r: LoadRow): string {
  const t = r.torch;
  return `load_124m (GPT-2 124M from safetensors into a model): ours ${r.cachedSeconds.toFixed(2)} s from the weight cache (first load ${r.firstSeconds.toFixed(2)} s: read, convert, write the cache; arrays alone ${r.cachedArraysSeconds.toFixed(2)} s) vs PyTorch ${t.total_s.toFixed(2)} s (read ${t.read_s.toFixed(2)} + construct ${t.construct_s.toFixed(2)} + load_state_dict ${t.load_state_dict_s.toFixed(2)}): ratio load_124m = ${r.ratio.toFixed(3)}`;
}

if (process.argv[2] === "--once") void once(process.argv[3], process.argv[4], process.argv[5]);
else if (require.main === module) {
  // Standalone: node --import tsx bench/loadRow.ts [WORK_DIR]
  const work = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), "llm-load-"));
  console.log(loadRowLine(runLoadRow(work)));
}
