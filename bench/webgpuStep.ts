/**
 * `npm run bench -- --backend webgpu [--quick] [--model SIZE]`: the chapter's training step and evaluation forward
 * on tfjs's WebGPU backend (Dawn), in a child process with TFJS_BACKEND=webgpu: the adapter (vendor, architecture,
 * description, software or not, buffer limits), then per-step times of the book's step (batch 8 × 120 from our
 * data pipeline, last block + final norm + head trained, AdamW) on the path createRunner picks there (the plain
 * path, every layer on the device), one evaluation forward, and the chapter's estimated total from the book's
 * unit counts. The model has random weights (GPT-2's shapes).
 * SIZE: a GPT-2 size (124M, default) or `LxE` (L blocks of width E with GPT-2's vocabulary and context, E/64
 * heads) for adapters whose buffers cannot hold 124M's token embedding (llvmpipe binds at most 128 MiB).
 * Child usage: node --import tsx bench/webgpuStep.ts SPEC.json OUT.json
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  AdamW,
  createRunner,
  DataLoader,
  describeBackend,
  GPTModel,
  initBackend,
  modelConfig,
  type GPTConfig,
  type GpuAdapterSummary,
} from "llm-spam-classifier";
import { peakRssBytes } from "./machine";
import { chapterUnits, type ChapterPlan } from "./plan";
import { loadSplits } from "./splits";

export interface WebGpuStepSpec {
  dataDir: string;
  plan: ChapterPlan;
  model: string;
}

export interface WebGpuStepResult {
  backend: string;
  adapter?: GpuAdapterSummary;
  model: string;
  config: GPTConfig;
  description: string;
  /** Seconds: the first (warm-up: shader compilation) step, then the timed ones and their median. */
  warmupSeconds: number;
  stepTimes: number[];
  stepSeconds: number;
  forwardSeconds: number;
  firstLoss: number;
  /** The chapter's estimated total: training steps × step + forwards × forward (bench/plan.ts's units). */
  chapterEstimateSeconds: number;
  chapterUnits: { trainingSteps: number; forwards: number };
  peakRssBytes: number;
}

/** A GPT-2 size, or `LxE`: L blocks of width E with GPT-2's vocabulary and context (E/64 heads). */
export function benchConfig(model: string): GPTConfig {
  const m = /^(\d+)x(\d+)$/.exec(model);
  if (!m) return modelConfig(model);
  const [nLayers, embDim] = [Number(m[1]), Number(m[2])];
  return { ...modelConfig("124M"), nLayers, embDim, nHeads: Math.max(1, Math.round(embDim / 64)) };
}

/** Runs the WebGPU step in a child process (TFJS_BACKEND=webgpu) and prints its lines. */
export function benchWebGpu(spec: WebGpuStepSpec, work: string): WebGpuStepResult {
  const specPath = path.join(work, "webgpu-spec.json"),
    outPath = path.join(work, "webgpu-out.json");
  fs.writeFileSync(specPath, JSON.stringify(spec));
  const r = spawnSync(process.execPath, ["--import", "tsx", __filename, specPath, outPath], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, TFJS_BACKEND: "webgpu", XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? os.tmpdir() },
  });
  if (r.status !== 0) throw new Error(`bench/webgpuStep.ts failed (exit ${r.status})`);
  const res = JSON.parse(fs.readFileSync(outPath, "utf8")) as WebGpuStepResult;
  const c = res.config;
  for (const line of [
    `WebGPU: ${res.backend}`,
    res.adapter &&
      `adapter limits: largest buffer ${(res.adapter.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB, largest binding ${(res.adapter.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`,
    `model ${res.model} (${c.nLayers} blocks, width ${c.embDim}, vocabulary ${c.vocabSize}), random weights; ${res.description}`,
    `webgpu training step (batch ${spec.plan.batchSize} x 120): warm-up ${res.warmupSeconds.toFixed(2)} s, then ${res.stepTimes.map((t) => t.toFixed(2)).join(", ")} s: median ${res.stepSeconds.toFixed(2)} s; first loss ${res.firstLoss.toFixed(6)}`,
    `webgpu evaluation forward: ${res.forwardSeconds.toFixed(2)} s`,
    `webgpu chapter estimate (${res.chapterUnits.trainingSteps} steps + ${res.chapterUnits.forwards} forwards, ${spec.plan.name} plan): ${res.chapterEstimateSeconds.toFixed(0)} s (peak RSS ${(res.peakRssBytes / 2 ** 30).toFixed(2)} GB)`,
  ])
    if (line) console.log(line);
  return res;
}

async function child(): Promise<void> {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(specPath, "utf8")) as WebGpuStepSpec;
  const info = await initBackend();
  if (info.choice !== "webgpu") throw new Error(`expected the webgpu backend, got ${info.choice}`);
  console.log(describeBackend(info));
  const config = benchConfig(spec.model);
  // A parameter past the adapter's buffer limits is a BackendError here, before any buffer exists.
  let model: GPTModel;
  try {
    model = new GPTModel(config, { outDim: 2, headBias: true });
  } catch (err) {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)} (bench: --model LxE, e.g. 12x640, fits 128 MiB)`,
      { cause: err },
    );
  }
  model.freezeAll();
  model.setTrainable([`trf_blocks.${config.nLayers - 1}`, "final_norm", "out_head"]);
  const optimizer = new AdamW(model.trainableParams(), { lr: 5e-5, weightDecay: 0.1 });
  let description = "";
  const runner = await createRunner(model, optimizer, { log: (l) => (description = l) });
  const splits = loadSplits(spec.dataDir, spec.plan);
  const [batch] = new DataLoader(splits.train, { batchSize: spec.plan.batchSize });
  const times: number[] = [];
  let warmupSeconds = NaN,
    firstLoss = NaN,
    forwardSeconds = NaN;
  for (let rep = 0; rep <= Math.max(1, spec.plan.plainReps); rep++) {
    const t0 = performance.now();
    const loss = await runner.trainStep(batch);
    const dt = (performance.now() - t0) / 1000;
    if (rep === 0) {
      [warmupSeconds, firstLoss] = [dt, loss];
      await runner.logits(batch); // compiles the evaluation's shaders
      const f0 = performance.now();
      await runner.logits(batch);
      forwardSeconds = (performance.now() - f0) / 1000;
    } else times.push(dt);
  }
  await runner.finish();
  const units = chapterUnits(spec.plan, {
    train: splits.train.length,
    validation: splits.validation.length,
    test: splits.test.length,
  });
  const stepSeconds = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  const result: WebGpuStepResult = {
    backend: describeBackend(info),
    adapter: info.adapter,
    model: spec.model,
    config,
    description,
    warmupSeconds,
    stepTimes: times,
    stepSeconds,
    forwardSeconds,
    firstLoss,
    chapterEstimateSeconds: units.trainingSteps * stepSeconds + units.forwards * forwardSeconds,
    chapterUnits: { trainingSteps: units.trainingSteps, forwards: units.forwards },
    peakRssBytes: peakRssBytes(),
  };
  optimizer.dispose();
  model.dispose();
  fs.writeFileSync(outPath, JSON.stringify(result, null, 1));
}

if (require.main === module)
  child().catch((err) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
