/**
 * Child process of `npm run bench` (rows lora_step, prompt_step and lora_chapter_estimate): the parameter-efficient
 * training step on 124M random weights, batch 8 × 120, through the path `createRunner` picks for it (and
 * `finetune --trainable-layers lora` uses): the native path, every layer on ONNX Runtime, forward and backward.
 * "lora" is appendix E's LoRA (r 16, alpha 16, every Linear of the 12 blocks and out_head wrapped, head frozen,
 * AdamW lr 8e-4, weight decay 0.1); "prompt-tuning" prepends 20 virtual tokens, everything else frozen. It also
 * times the evaluation forward (`runner.logits`), for the LoRA chapter's estimate. PyTorch's side:
 * scripts/bench/peft_step_torch.py.
 * Usage: node --import tsx bench/peftStep.ts SPEC.json OUT.json
 *   SPEC: { method: "lora" | "prompt-tuning", reps, forwardReps, batchSize, seqLen, seed }
 *        node --import tsx bench/peftStep.ts [lora|prompt-tuning] [reps]   (a quick look, printed)
 */
import * as fs from "node:fs";
import {
  AdamW,
  createRunner,
  GPTModel,
  initBackend,
  modelConfig,
  prepareLoraClassifier,
  preparePromptTuningClassifier,
  tf,
  type Batch,
  type FastRunner,
} from "llm-spam-classifier";
import { type OrtTrainer } from "llm-spam-classifier/engine";
import { peakRssBytes } from "./machine";

export type PeftMethod = "lora" | "prompt-tuning";

export interface PeftStepSpec {
  method: PeftMethod;
  /** Timed training steps (after one warm-up step) and evaluation forwards (after one warm-up forward). */
  reps: number;
  forwardReps: number;
  batchSize: number;
  seqLen: number;
  seed: number;
}

export interface PeftStepResult {
  method: PeftMethod;
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
  /** The evaluation forward (last-token logits, no gradient), median. */
  forwardSeconds: number;
  forwardTimes: number[];
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

/** As Python's statistics.median. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b),
    k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

async function main(): Promise<void> {
  const [first, second] = process.argv.slice(2);
  const standalone = !first?.endsWith(".json");
  const spec: PeftStepSpec = standalone
    ? {
        method: (first ?? "lora") as PeftMethod,
        reps: Number(second ?? 3),
        forwardReps: 3,
        batchSize: 8,
        seqLen: 120,
        seed: 123,
      }
    : (JSON.parse(fs.readFileSync(first, "utf8")) as PeftStepSpec);
  const outPath = standalone ? undefined : second;
  await initBackend();
  const model = new GPTModel(modelConfig("124M"), { seed: spec.seed });
  const log = (l: string) => console.log(`  ${l}`);
  if (spec.method === "lora") prepareLoraClassifier(model, { rank: 16, alpha: 16, log });
  else preparePromptTuningClassifier(model, { numTokens: 20, log });
  const batch = randomBatch(spec.batchSize, spec.seqLen, spec.seed);
  const optimizer = new AdamW(model.trainableParams(), { lr: 8e-4, weightDecay: 0.1 });
  let description = "";
  const runner = await createRunner(model, optimizer, { log: (l) => (description = l) });
  // The native path's trainer, for its own split of the step time.
  const trainer = ((runner as FastRunner).path as { trainer?: OrtTrainer }).trainer;
  const times: number[] = [],
    parts: Array<{ graph: number; optimizer: number }> = [];
  let firstLoss = NaN;
  for (let rep = 0; rep <= spec.reps; rep++) {
    const t0 = performance.now();
    const loss = await runner.trainStep(batch);
    times.push((performance.now() - t0) / 1000);
    parts.push(trainer?.lastStepSeconds ?? { graph: NaN, optimizer: NaN });
    if (rep === 0) firstLoss = loss;
    console.log(`  ${spec.method} step ${rep}: ${times[rep].toFixed(2)} s, loss ${loss.toFixed(6)}`);
  }
  const forwardTimes: number[] = [];
  for (let rep = 0; rep <= spec.forwardReps; rep++) {
    const t0 = performance.now();
    await runner.logits(batch);
    if (rep > 0) forwardTimes.push((performance.now() - t0) / 1000);
  }
  const stepTimes = times.slice(1),
    stepSeconds = median(stepTimes);
  await runner.finish();
  const result: PeftStepResult = {
    method: spec.method,
    runner: runner.kind,
    description,
    trainableParams: model.numParams({ trainableOnly: true }),
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
  optimizer.dispose();
  model.dispose();
  tf.disposeVariables();
  if (outPath) fs.writeFileSync(outPath, JSON.stringify(result, null, 1));
  else console.log(JSON.stringify(result, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
