/**
 * Child process of `npm run bench`: the plain (uncached) training step of the library's PlainRunner on
 * PyTorch's weights, batch 8 × 120 — the book's step: every layer computed, loss on the last token,
 * backward through the trainable last block, final norm and head, AdamW (lr 5e-5, weight decay 0.1).
 * Modes (spec.mode):
 *   "tfjs"       every kernel tfjs-wasm (createPlainRunner with native: false);
 *   "ortMatMul"  every layer in tfjs, tfjs's matmuls on ONNX Runtime (acquireOrtMatMul);
 *   "native"     the library's default plain path (createRunner path "plain"): the frozen trunk's forward
 *                pass on ONNX Runtime (computed for every step: nothing cached), trainable part in tfjs with
 *                matmuls on ONNX Runtime.
 * Usage: node --import tsx bench/plainStep.ts SPEC.json OUT.json
 */
import * as fs from "node:fs";
import {
  AdamW,
  createPlainRunner,
  createRunner,
  DataLoader,
  describeBackend,
  initBackend,
  PlainRunner,
  tf,
  type ClassifierRunner,
} from "llm-spam-classifier";
import { acquireOrtMatMul, ortMatMulStats } from "llm-spam-classifier/engine";
import { loadBenchModel } from "./loadModel";
import { peakRssBytes } from "./machine";
import type { ChapterPlan, PlainMode } from "./plan";
import { loadSplits } from "./splits";

export interface PlainResult {
  backend: string;
  mode: PlainMode;
  /** What computes what (the runner's own description). */
  description: string;
  stepSeconds: number;
  stepTimes: number[];
  forwardSeconds: number;
  matmulFlopsOnOrt: number;
  /** Loss of the first step (the same batch and weights in every mode: equal within float32 rounding). */
  firstLoss: number;
  peakRssBytes: number;
}

async function runnerFor(
  mode: PlainMode,
  model: Awaited<ReturnType<typeof loadBenchModel>>,
  optimizer: AdamW,
): Promise<{ runner: ClassifierRunner; description: string }> {
  let description = "";
  const log = (line: string) => {
    description = line;
  };
  if (mode === "tfjs")
    return {
      runner: await createPlainRunner(model, optimizer, { native: false, log }),
      description: "every layer in tfjs",
    };
  if (mode === "ortMatMul") {
    const release = acquireOrtMatMul();
    return {
      runner: new PlainRunner(model, optimizer, { onFinish: release }),
      description: release
        ? "every layer in tfjs with matmuls on ONNX Runtime"
        : "every layer in tfjs (ORT matmuls unavailable)",
    };
  }
  const runner = await createRunner(model, optimizer, { path: "plain", log });
  return { runner, description };
}

async function main(): Promise<void> {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(specPath, "utf8")) as {
    weightsPath: string;
    dataDir: string;
    plan: ChapterPlan;
    mode: PlainMode;
  };
  const info = await initBackend();
  const model = loadBenchModel(spec.weightsPath);
  const optimizer = new AdamW(model.trainableParams(), { lr: 5e-5, weightDecay: 0.1 });
  const { runner, description } = await runnerFor(spec.mode, model, optimizer);
  const splits = loadSplits(spec.dataDir, spec.plan);
  const [batch] = new DataLoader(splits.train, { batchSize: spec.plan.batchSize });
  const times: number[] = [];
  let forwardSeconds = NaN,
    firstLoss = NaN;
  for (let rep = 0; rep < spec.plan.plainReps + 1; rep++) {
    // rep 0 is the warm-up (timed only when plainReps is 0)
    const t0 = performance.now();
    const loss = await runner.trainStep(batch);
    const dt = (performance.now() - t0) / 1000;
    if (rep === 0) firstLoss = loss;
    if (rep > 0 || spec.plan.plainReps === 0) times.push(dt);
    if (rep === 0) {
      // one evaluation forward (no gradient), for reference
      const f0 = performance.now();
      await runner.logits(batch);
      forwardSeconds = (performance.now() - f0) / 1000;
    }
  }
  const matmulFlopsOnOrt = ortMatMulStats().flops;
  await runner.finish();
  const sorted = [...times].sort((a, b) => a - b);
  const result: PlainResult = {
    backend: describeBackend(info),
    mode: spec.mode,
    description,
    stepSeconds: sorted[Math.floor(sorted.length / 2)],
    stepTimes: times,
    forwardSeconds,
    matmulFlopsOnOrt,
    firstLoss,
    peakRssBytes: peakRssBytes(),
  };
  tf.disposeVariables();
  fs.writeFileSync(outPath, JSON.stringify(result, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
