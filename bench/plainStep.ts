/**
 * Child process of `npm run bench`: the plain (uncached, tfjs) training step on PyTorch's weights,
 * batch 8 × 120: frozen trunk (embeddings + blocks 0..10, each block in its own tidy) outside the tape,
 * then last block + final norm + head inside tf.variableGrads, cross-entropy on the last token, AdamW.
 * With `ortMatMul` in the spec, tfjs's matmuls run on ONNX Runtime (enableOrtMatMul); the rest stays tfjs-wasm.
 * Usage: node --import tsx bench/plainStep.ts SPEC.json OUT.json
 */
import * as fs from "node:fs";
import { DataLoader, describeBackend, enableOrtMatMul, initBackend, ortMatMulStats, tf } from "llm-spam-classifier";
import { loadBenchModel } from "./loadModel";
import { peakRssBytes } from "./machine";
import type { ChapterPlan } from "./plan";
import { loadSplits } from "./splits";

export interface PlainResult {
  backend: string;
  /** tfjs's BatchMatMul routed to ONNX Runtime (enableOrtMatMul). */
  ortMatMul: boolean;
  stepSeconds: number;
  stepTimes: number[];
  forwardSeconds: number;
  matmulFlopsOnOrt: number;
  peakRssBytes: number;
}



async function main(): Promise<void> {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(specPath, "utf8")) as { weightsPath: string; dataDir: string; plan: ChapterPlan; ortMatMul: boolean };
  const info = await initBackend();
  const ortMatMul = spec.ortMatMul && enableOrtMatMul();
  const model = await loadBenchModel(spec.weightsPath);
  const splits = loadSplits(spec.dataDir, spec.plan);
  const batch = new DataLoader(splits.train, { batchSize: spec.plan.batchSize })[Symbol.iterator]().next().value!;
  const L = model.cfg.nLayers;
  const vars = [...model.trainableParams().values()];
  const m = vars.map((v) => tf.variable(tf.zerosLike(v), false)), v2 = vars.map((v) => tf.variable(tf.zerosLike(v), false));
  const trunk = (idx: tf.Tensor2D) => {
    let x = tf.tidy(() => model.embed(idx));
    for (let i = 0; i < L - 1; i++) { const y = tf.tidy(() => model.block(i, x)); x.dispose(); x = y; }
    return x;
  };
  const times: number[] = [];
  let forwardSeconds = NaN;
  for (let rep = 0; rep < spec.plan.plainReps + 1; rep++) {
    const idx = tf.tensor2d(batch.inputIds, [batch.batchSize, batch.seqLen], "int32");
    const y = tf.oneHot(tf.tensor1d(batch.labels, "int32"), 2);
    const t0 = performance.now();
    const x = trunk(idx);
    const { value, grads } = tf.variableGrads(() => {
      const h = model.head(model.finalNorm(model.block(L - 1, x)));
      const last = tf.reshape(tf.slice(h, [0, batch.seqLen - 1, 0], [batch.batchSize, 1, 2]), [batch.batchSize, 2]);
      return tf.losses.softmaxCrossEntropy(y, last) as tf.Scalar;
    }, vars);
    tf.tidy(() => vars.forEach((p, i) => { // AdamW (torch formula), step 1
      const g = grads[p.name];
      m[i].assign(m[i].mul(0.9).add(g.mul(0.1)));
      v2[i].assign(v2[i].mul(0.999).add(g.square().mul(0.001)));
      p.assign(p.mul(1 - 5e-6).sub(m[i].div(v2[i].sqrt().div(Math.sqrt(0.001)).add(1e-8)).mul(5e-5 / 0.1)));
    }));
    await vars[0].data();
    const dt = (performance.now() - t0) / 1000;
    if (rep > 0 || spec.plan.plainReps === 0) times.push(dt);
    tf.dispose([idx, y, x, value, grads]);
    if (rep === 0) { // one forward (no grad) for reference
      const f0 = performance.now();
      const idx2 = tf.tensor2d(batch.inputIds, [batch.batchSize, batch.seqLen], "int32");
      const x2 = trunk(idx2);
      const out = tf.tidy(() => model.head(model.finalNorm(model.block(L - 1, x2))));
      await out.data();
      forwardSeconds = (performance.now() - f0) / 1000;
      tf.dispose([idx2, x2, out]);
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  const result: PlainResult = {
    backend: describeBackend(info), ortMatMul, stepSeconds: sorted[Math.floor(sorted.length / 2)], stepTimes: times, forwardSeconds,
    matmulFlopsOnOrt: ortMatMulStats().flops, peakRssBytes: peakRssBytes(),
  };
  fs.writeFileSync(outPath, JSON.stringify(result, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
