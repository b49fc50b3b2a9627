/**
 * Micro-benchmarks of the model definition's engines on 124M-shaped blocks (E 768, 12 heads), batch 8 × 120:
 *   block   one transformer block's forward in tfjs (the WASM backend unless TFJS_BACKEND says otherwise);
 *   prefix  ONNX Runtime's forward of the embeddings + 11 blocks (the cached prefix's pass): build and run;
 *   suffix  the fast path's training step from cached hidden states (last block at the last position, final
 *           norm, head; loss, gradients and AdamW over its 7.09 M parameters), on ONNX Runtime and on tfjs;
 *   suffix2 the same with two trainable blocks (the last_two_blocks configuration), and the evaluation forward.
 * Usage: [ENGINE_LIB=DIR] node --import tsx bench/engineMicro.ts [block|prefix|suffix|suffix-tfjs|suffix2 ...] [--reps N]
 * Prints one line per measurement: wall-clock and CPU-time medians and minima. On a shared machine compare
 * the CPU times of single-threaded runs (ORT_THREADS=1): they depend little on what else runs.
 */
import * as path from "node:path";
import type * as Lib from "llm-spam-classifier";
import type * as Engine from "llm-spam-classifier/engine";

// ENGINE_LIB=path/to/another/build compares builds (e.g. a copy of lib/ from before a change).
const libDir = process.env.ENGINE_LIB;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the library under test is chosen at run time
const { GPTModel, initBackend, tf } = require(libDir ?? "llm-spam-classifier") as typeof Lib;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the same build's engine entry
const { OnnxGptEngine, SuffixTrainer } = require(
  libDir ? path.join(libDir, "dist", "engine") : "llm-spam-classifier/engine",
) as typeof Engine;

const B = 8,
  T = 120;
const cfg = { vocabSize: 1000, contextLength: 1024, embDim: 768, nHeads: 12, dropRate: 0, qkvBias: true };

function stats(times: number[]): string {
  const s = [...times].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, min ${s[0].toFixed(1)} ms`;
}

/** Times `fn` (wall clock and this process's CPU time: on a shared machine the CPU time varies less). */
async function timed(reps: number, warmup: number, fn: () => Promise<void>): Promise<string> {
  const wall: number[] = [],
    cpu: number[] = [];
  for (let r = 0; r < reps + warmup; r++) {
    const t0 = performance.now(),
      c0 = process.cpuUsage();
    await fn();
    const c = process.cpuUsage(c0);
    if (r >= warmup) {
      wall.push(performance.now() - t0);
      cpu.push((c.user + c.system) / 1000);
    }
  }
  return `wall ${stats(wall)}; CPU ${stats(cpu)} (${reps} reps)`;
}

async function blockForward(reps: number): Promise<void> {
  const model = new GPTModel({ ...cfg, nLayers: 1 }, { seed: 1 });
  const x = tf.randomNormal([B, T, cfg.embDim], 0, 1, "float32", 2);
  const line = await timed(reps, 2, async () => {
    const y = model.block(0, x);
    await y.data();
    y.dispose();
  });
  console.log(`tfjs block forward 8x120 (${tf.getBackend()}): ${line}`);
  x.dispose();
  model.dispose();
}

async function prefixForward(reps: number): Promise<void> {
  const model = new GPTModel({ ...cfg, nLayers: 12 }, { seed: 1 });
  const t0 = performance.now();
  const threads = Number(process.env.ORT_THREADS) || undefined;
  const engine = await OnnxGptEngine.create(model, { toBlock: 11, threads, spinning: threads !== 1 });
  const build = performance.now() - t0;
  model.dispose();
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % cfg.vocabSize);
  const line = await timed(reps, 1, async () => {
    await engine.run(ids, B);
  });
  console.log(
    `ORT prefix (embeddings + 11 blocks) 8x120, ${threads ?? "default"} threads: build ${build.toFixed(0)} ms; ${line}`,
  );
  await engine.release();
}

async function suffixStep(reps: number, useOnnx: boolean, blocks = 1): Promise<void> {
  const model = new GPTModel({ ...cfg, nLayers: blocks }, { seed: 1 });
  model.replaceOutHead(2, { bias: true });
  const trainer = await SuffixTrainer.create(model, { useOnnx, suffix: { fromBlock: 0 } });
  const hidden = tf.tidy(() => tf.randomNormal([B, T, cfg.embDim], 0, 1, "float32", 3).dataSync() as Float32Array);
  const labels = [0, 1, 0, 1, 1, 0, 1, 0];
  const line = await timed(reps, 2, async () => {
    await trainer.trainStep(hidden, B, labels, { lr: 5e-5 });
  });
  console.log(`fast-path suffix training step 8x120, ${blocks} block(s) (${trainer.kind}): ${line}`);
  const fwd = await timed(reps, 1, async () => {
    await trainer.logits(hidden, B);
  });
  console.log(`fast-path suffix forward 8x120, ${blocks} block(s) (${trainer.kind}): ${fwd}`);
  await trainer.dispose();
  model.dispose();
}

async function main(): Promise<void> {
  await initBackend();
  const args = process.argv.slice(2);
  const i = args.indexOf("--reps");
  const reps = i >= 0 ? Number(args[i + 1]) : 7;
  const which = args.filter((a, k) => !a.startsWith("--") && (k === 0 || args[k - 1] !== "--reps"));
  if (!which.length || which.includes("block")) await blockForward(reps);
  if (!which.length || which.includes("prefix")) await prefixForward(reps);
  if (!which.length || which.includes("suffix")) await suffixStep(reps, true);
  if (which.includes("suffix-tfjs")) await suffixStep(reps, false);
  if (which.includes("suffix2")) await suffixStep(reps, true, 2);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
