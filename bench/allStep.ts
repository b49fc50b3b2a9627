/**
 * Child process of `npm run bench`: the training step with EVERY parameter trainable (the book's exercise 6.2,
 * the bonus experiments' `--trainable_layers all`) on 124M, batch 8 × 120, through createRunner's native path
 * (every layer on ONNX Runtime, forward and backward; weights, gradients and AdamW state in Float32Arrays).
 * Usage: node --import tsx bench/allStep.ts SPEC.json OUT.json
 *   SPEC: { weightsPath?, dataDir?, plan: { batchSize, allStepReps }, seed } — without weightsPath or dataDir,
 *   random N(0, 0.02) weights and random token ids (for a quick look: `node --import tsx bench/allStep.ts`).
 */
import * as fs from "node:fs";
import {
  AdamW,
  createRunner,
  DataLoader,
  GPTModel,
  initBackend,
  modelConfig,
  tf,
  type FastRunner,
  type Batch,
} from "llm-spam-classifier";
import { type OrtTrainer } from "llm-spam-classifier/engine";
import { loadBenchModel } from "./loadModel";
import { peakRssBytes } from "./machine";
import type { ChapterPlan } from "./plan";
import { loadSplits } from "./splits";

export interface AllStepSpec {
  weightsPath?: string;
  dataDir?: string;
  plan: Pick<ChapterPlan, "batchSize" | "allStepReps"> & Partial<ChapterPlan>;
  seed: number;
}

export interface AllStepResult {
  runner: string;
  description: string;
  trainableParams: number;
  /** Seconds to build the training graph and open its session (the first step, less a later step). */
  setupSeconds: number;
  stepSeconds: number;
  stepTimes: number[];
  /** Medians of the step's parts: ONNX Runtime's forward and backward pass, and AdamW (the trainer's own timings). */
  graphSeconds: number;
  optimizerSeconds: number;
  /** Loss of the first step (PyTorch's first step on the same weights and batch gives the same). */
  firstLoss: number;
  peakRssBytes: number;
}

function randomBatch(batchSize: number, seqLen: number, seed: number): Batch {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31);
  return {
    inputIds: Int32Array.from({ length: batchSize * seqLen }, () => next() % 50257),
    labels: Int32Array.from({ length: batchSize }, () => next() % 2),
    indices: Array.from({ length: batchSize }, (_, i) => i),
    batchSize,
    seqLen,
  };
}

async function main(): Promise<void> {
  const [specPath, outPath] = process.argv.slice(2);
  const spec: AllStepSpec = specPath
    ? (JSON.parse(fs.readFileSync(specPath, "utf8")) as AllStepSpec)
    : { plan: { batchSize: 8, allStepReps: 3 }, seed: 123 };
  await initBackend();
  let model: GPTModel;
  if (spec.weightsPath) model = loadBenchModel(spec.weightsPath);
  else {
    model = new GPTModel(modelConfig("124M"), { seed: spec.seed });
    model.replaceOutHead(2, { bias: true });
  }
  model.setTrainable([...model.params.keys()]);
  let batch: Batch;
  if (spec.dataDir) {
    const splits = loadSplits(spec.dataDir, spec.plan as ChapterPlan);
    // PyTorch's first step uses the first batch of the first shuffled pass (bench.ts passes it that order).
    [batch] = new DataLoader(splits.train, {
      batchSize: spec.plan.batchSize,
      shuffle: true,
      dropLast: true,
      seed: spec.seed,
    });
  } else batch = randomBatch(spec.plan.batchSize, 120, spec.seed);
  const optimizer = new AdamW(model.trainableParams(), { lr: 5e-5, weightDecay: 0.1 });
  let description = "";
  const runner = await createRunner(model, optimizer, { path: "native", log: (l) => (description = l) });
  const times: number[] = [],
    parts: Array<{ graph: number; optimizer: number }> = [];
  // The native path's trainer, for its own split of the step time.
  const trainer = ((runner as FastRunner).path as { trainer?: OrtTrainer }).trainer;
  let firstLoss = NaN;
  for (let rep = 0; rep <= spec.plan.allStepReps; rep++) {
    const t0 = performance.now();
    const loss = await runner.trainStep(batch);
    times.push((performance.now() - t0) / 1000);
    parts.push(trainer?.lastStepSeconds ?? { graph: NaN, optimizer: NaN });
    if (rep === 0) firstLoss = loss;
    console.log(`  all-trainable step ${rep}: ${times[rep].toFixed(2)} s, loss ${loss.toFixed(6)}`);
  }
  const timed = times.slice(1);
  const mid = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b),
      k = s.length >> 1;
    return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2; // as Python's statistics.median
  };
  const stepSeconds = mid(timed);
  await runner.finish();
  const result: AllStepResult = {
    runner: runner.kind,
    description,
    trainableParams: model.numParams({ trainableOnly: true }),
    setupSeconds: Math.max(0, times[0] - stepSeconds),
    stepSeconds,
    stepTimes: timed,
    graphSeconds: mid(parts.slice(1).map((p) => p.graph)),
    optimizerSeconds: mid(parts.slice(1).map((p) => p.optimizer)),
    firstLoss,
    peakRssBytes: peakRssBytes(),
  };
  optimizer.dispose();
  tf.disposeVariables();
  if (outPath) fs.writeFileSync(outPath, JSON.stringify(result, null, 1));
  else console.log(JSON.stringify(result, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
