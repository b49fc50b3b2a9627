/**
 * Child process of `npm run bench -- --bert` (rows bert_step and bert_forward): bert-base-uncased for sequence
 * classification with random weights (as arrays: no tfjs copy), batch 8 × 256 (rows right-padded from 256, 232,
 * …, 88 tokens on, as PyTorch's side), every parameter trained as the fine-tuning chapter's Trainer does (AdamW
 * lr 2e-5, weight decay 0.01) through `createBertRunner` (every layer on ONNX Runtime, forward and backward), and
 * the evaluation forward (`runner.logits`). PyTorch's side: scripts/bench/bert_step_torch.py.
 * Usage: node --import tsx bench/bertStep.ts SPEC.json OUT.json
 *   SPEC: { reps, forwardReps, batchSize, seqLen, seed }
 *        node --import tsx bench/bertStep.ts [reps]   (a quick look, printed)
 */
import * as fs from "node:fs";
import { initBackend, type Batch } from "llm-spam-classifier";
import { createBertRunner } from "llm-spam-classifier/engine";
import { ArrayParam, BERT_BASE_UNCASED, bertParameterShapes } from "llm-spam-classifier/model";
import { peakRssBytes } from "./machine";

export interface BertStepSpec {
  /** Timed training steps (after one warm-up step) and evaluation forwards (after one warm-up forward). */
  reps: number;
  forwardReps: number;
  batchSize: number;
  seqLen: number;
  seed: number;
}

export interface BertStepResult {
  trainableParams: number;
  /** Seconds to build the training graph and open its session (the first step, less a later step). */
  setupSeconds: number;
  stepSeconds: number;
  stepTimes: number[];
  /** Medians of the step's parts: ONNX Runtime's forward and backward pass, and AdamW. */
  graphSeconds: number;
  optimizerSeconds: number;
  forwardSeconds: number;
  forwardTimes: number[];
  firstLoss: number;
  peakRssBytes: number;
}

/** A seeded linear congruential stream in [0, 1). */
function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** bert-base-uncased's parameters with random values (uniform, std 0.02; LayerNorms 1 and 0). */
function randomBertBase(seed: number): Map<string, ArrayParam> {
  const next = stream(seed),
    half = 0.02 * Math.sqrt(3);
  return new Map(
    bertParameterShapes({ ...BERT_BASE_UNCASED, hiddenDropoutProb: 0 }).map(([name, shape]) => {
      const data = new Float32Array(shape.reduce((a, d) => a * d, 1));
      if (name.includes("LayerNorm.weight")) data.fill(1);
      else if (!name.endsWith(".bias")) for (let i = 0; i < data.length; i++) data[i] = (2 * next() - 1) * half;
      return [name, new ArrayParam(data, shape)];
    }),
  );
}

/** Random word ids between [CLS] and [SEP], row r right-padded with [PAD] from seqLen − 24 r tokens on. */
function paddedBatch(batchSize: number, seqLen: number, seed: number): Batch {
  const next = stream(seed);
  const inputIds = new Int32Array(batchSize * seqLen);
  for (let r = 0; r < batchSize; r++) {
    const n = Math.max(2, seqLen - 24 * r);
    inputIds[r * seqLen] = 101;
    for (let t = 1; t < n - 1; t++) inputIds[r * seqLen + t] = 1000 + Math.floor(next() * 29000);
    inputIds[r * seqLen + n - 1] = 102;
  }
  const labels = Int32Array.from({ length: batchSize }, () => (next() < 0.5 ? 0 : 1));
  return { inputIds, labels, indices: Array.from({ length: batchSize }, (_, i) => i), batchSize, seqLen };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b),
    k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

async function main(): Promise<void> {
  const [first, second] = process.argv.slice(2);
  const standalone = !first?.endsWith(".json");
  const spec: BertStepSpec = standalone
    ? { reps: Number(first ?? 2), forwardReps: 2, batchSize: 8, seqLen: 256, seed: 123 }
    : (JSON.parse(fs.readFileSync(first, "utf8")) as BertStepSpec);
  await initBackend();
  const cfg = { ...BERT_BASE_UNCASED, hiddenDropoutProb: 0 };
  const params = randomBertBase(spec.seed);
  const runner = await createBertRunner(
    { cfg, params },
    { trainable: params.keys(), optimizer: { lr: 2e-5, weightDecay: 0.01 } },
  );
  const batch = paddedBatch(spec.batchSize, spec.seqLen, spec.seed);
  const times: number[] = [],
    parts: Array<{ graph: number; optimizer: number }> = [];
  let firstLoss = NaN;
  for (let rep = 0; spec.reps > 0 && rep <= spec.reps; rep++) {
    const t0 = performance.now();
    const loss = await runner.trainStep(batch);
    times.push((performance.now() - t0) / 1000);
    parts.push(runner.trainer.lastStepSeconds);
    if (rep === 0) firstLoss = loss;
    console.log(`  bert step ${rep}: ${times[rep].toFixed(2)} s, loss ${loss.toFixed(6)}`);
  }
  const forwardTimes: number[] = [];
  for (let rep = 0; rep <= spec.forwardReps; rep++) {
    const t0 = performance.now();
    await runner.logits(batch);
    if (rep > 0) forwardTimes.push((performance.now() - t0) / 1000);
  }
  const stepTimes = times.slice(1),
    stepSeconds = median(stepTimes);
  const trainableParams = runner.trainer.trainable.reduce((a, n) => a + params.get(n)!.size, 0);
  await runner.finish();
  const result: BertStepResult = {
    trainableParams,
    setupSeconds: Math.max(0, times[0] - stepSeconds),
    stepSeconds,
    stepTimes,
    graphSeconds: median(parts.slice(1).map((p) => p.graph)),
    optimizerSeconds: median(parts.slice(1).map((p) => p.optimizer)),
    forwardSeconds: median(forwardTimes),
    forwardTimes,
    firstLoss,
    peakRssBytes: peakRssBytes(),
  };
  if (!standalone) fs.writeFileSync(second, JSON.stringify(result, null, 1));
  else console.log(JSON.stringify(result, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
