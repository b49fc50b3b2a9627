/**
 * Child process of `npm run bench -- --large`: GPT-2 1558M (random weights of the real shapes) trained as the
 * chapter trains 124M (`last_block`, fast path): one epoch's prefix pass over the training set on ONNX Runtime,
 * then N training steps. The model is built `frozen`: its 1.5 billion frozen weights stay in Float32Arrays
 * (6 GB, more than tfjs-wasm's 4 GB heap could hold) and are fed to ONNX Runtime as inputs; tfjs holds the
 * trainable last block, final norm and head. Reports the phases' times and the peak RSS (target ≤ 14 GB).
 * Usage: node --import tsx bench/largeRun.ts SPEC.json OUT.json
 */
import * as fs from "node:fs";
import {
  AdamW,
  createRunner,
  DataLoader,
  GPTModel,
  initBackend,
  modelConfig,
  prepareClassifier,
  tf,
  type GPTConfig,
} from "llm-spam-classifier";
import { parameterShapes, type WeightFill } from "llm-spam-classifier/model";
import { checkTrainingMemory, formatGB } from "llm-spam-classifier/train";
import { peakRssBytes } from "./machine";
import { loadSplits } from "./splits";
import type { ChapterPlan } from "./plan";

export interface LargeSpec {
  dataDir: string;
  plan: ChapterPlan;
  seed: number;
  /** Model size (default "1558M"). */
  size?: string;
  /** Training steps after the prefix pass (default 20). */
  steps?: number;
}

export interface LargeResult {
  size: string;
  parameters: { total: number; trainable: number };
  /** Bytes of tfjs tensors after building (the WASM heap's share) and the memory estimate. */
  tfjsBytesAfterBuild: number;
  estimate: { tfjs: number; native: number };
  seconds: { build: number; prefix: number; steps: number };
  prefix: { sequences: number; tokens: number };
  stepMs: number[];
  losses: number[];
  peakRssBytes: number;
}

/**
 * Random weights of a config's shapes without tfjs: N(0, 0.02)-like uniform values (same spread) for matrices
 * and embeddings, zeros for biases and shifts, ones for LayerNorm scales (xorshift32: fast and seeded).
 */
function randomFill(cfg: GPTConfig, seed: number): WeightFill {
  let s = seed >>> 0 || 1;
  const a = 0.02 * Math.sqrt(3);
  return {
    shapes: new Map(parameterShapes(cfg)),
    fill(name: string, values: Float32Array) {
      if (name.endsWith(".scale")) values.fill(1);
      else if (name.endsWith(".shift") || name.endsWith(".bias")) values.fill(0);
      else
        for (let i = 0; i < values.length; i++) {
          s ^= s << 13;
          s ^= s >>> 17;
          s ^= s << 5;
          values[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * a;
        }
    },
  };
}

async function main(): Promise<void> {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(specPath, "utf8")) as LargeSpec;
  const size = spec.size ?? "1558M",
    steps = spec.steps ?? 20;
  await initBackend();
  const t0 = performance.now();
  const cfg = modelConfig(size);
  const model = new GPTModel(cfg, { fill: randomFill(cfg, spec.seed), frozen: true });
  prepareClassifier(model, { trainable: "last-block", seed: spec.seed });
  const build = (performance.now() - t0) / 1000;
  const parameters = { total: model.numParams(), trainable: model.numParams({ trainableOnly: true }) };
  const tfjsBytesAfterBuild = tf.memory().numBytes;
  console.log(
    `  ${size}: ${parameters.total.toLocaleString("en-US")} parameters (${parameters.trainable.toLocaleString("en-US")} trainable) built in ${build.toFixed(1)} s; tfjs holds ${formatGB(tfjsBytesAfterBuild)}; RSS ${formatGB(process.memoryUsage().rss)}`,
  );

  const splits = loadSplits(spec.dataDir, spec.plan);
  const loader = new DataLoader(splits.train, {
    batchSize: spec.plan.batchSize,
    shuffle: true,
    dropLast: true,
    seed: spec.seed,
  });
  const sequences = splits.train.encodedTexts;
  const optimizer = new AdamW(model.trainableParams(), { lr: 5e-5, weightDecay: 0.1 });
  const t1 = performance.now();
  let shown = 0;
  const runner = await createRunner(model, optimizer, {
    path: "fast",
    sequences,
    log: (line) => console.log(`  ${line}`),
    onPrefixProgress: (done, total) => {
      if (done - shown >= 64 || done === total) {
        shown = done;
        console.log(
          `  prefix ${done}/${total} sequences, ${((performance.now() - t1) / 1000).toFixed(0)} s, RSS ${formatGB(process.memoryUsage().rss)}`,
        );
      }
    },
  });
  const prefix = (performance.now() - t1) / 1000;
  const estimate = checkTrainingMemory(model, runner, {
    batchSize: spec.plan.batchSize,
    seqLen: splits.train.maxLength,
    cachedTokens: sequences.reduce((a, s) => a + s.length, 0),
    log: (line) => console.log(`  ${line}`),
  });
  const stepMs: number[] = [],
    losses: number[] = [];
  const t2 = performance.now();
  outer: for (;;)
    for (const batch of loader) {
      if (losses.length >= steps) break outer;
      const s = performance.now();
      losses.push(await runner.trainStep(batch));
      stepMs.push(performance.now() - s);
    }
  const stepSeconds = (performance.now() - t2) / 1000;
  await runner.finish();
  const result: LargeResult = {
    size,
    parameters,
    tfjsBytesAfterBuild,
    estimate: { tfjs: estimate.tfjs, native: estimate.native },
    seconds: { build, prefix, steps: stepSeconds },
    prefix: { sequences: sequences.length, tokens: sequences.reduce((a, s) => a + s.length, 0) },
    stepMs,
    losses,
    peakRssBytes: peakRssBytes(),
  };
  fs.writeFileSync(outPath, JSON.stringify(result));
  optimizer.dispose();
  model.dispose();
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
