import { test, after } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, GPTModel, loadOnnxRuntime } from "llm-spam-classifier";
import {
  OnnxGptEngine,
  createFastClassifierPath,
  FastClassifierPath,
  adamwUpdateInPlace,
  resolveFastAdamW,
} from "llm-spam-classifier/engine";
import { maxAbsDiff, randomClassifier } from "./fixtureModel";

const CFG = { vocabSize: 97, contextLength: 16, embDim: 32, nHeads: 4, nLayers: 3, dropRate: 0, qkvBias: true };
const B = 4,
  T = 12;
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + (i % 5) * 11) % CFG.vocabSize);

const models: GPTModel[] = [];
after(() => models.forEach((m) => m.dispose()));

test("ONNX engine equals the tfjs GPTModel: full logits, prefix hidden states, last-token logits (≤ 1e-4)", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const model = randomClassifier(CFG);
  models.push(model);
  const idx = tf.tensor2d(ids, [B, T], "int32");
  const want = model.forward(idx);
  const full = await OnnxGptEngine.create(model, { head: true });
  assert.ok(maxAbsDiff(await full.run(ids, B), want.dataSync()) <= 1e-4);
  await full.release();
  // prefix [0, L-1) vs embed + blocks
  const hidden = tf.tidy(() => {
    let x = model.embed(idx);
    for (let i = 0; i < CFG.nLayers - 1; i++) x = model.block(i, x);
    return x;
  });
  const prefix = await OnnxGptEngine.create(model, { toBlock: CFG.nLayers - 1, gelu: "tanh" });
  const h = await prefix.run(ids, B);
  assert.ok(maxAbsDiff(h, hidden.dataSync()) <= 1e-4);
  const fused = await OnnxGptEngine.create(model, { toBlock: CFG.nLayers - 1, fusedAttention: true });
  assert.ok(maxAbsDiff(await fused.run(ids, B), hidden.dataSync()) <= 1e-4, "com.microsoft.Attention variant");
  await fused.release();
  const suffix = await OnnxGptEngine.create(model, { fromBlock: CFG.nLayers - 1, head: true, lastTokenOnly: true });
  const last = tf.tidy(() => want.slice([0, T - 1, 0], [B, 1, 2]).reshape([B, 2]));
  assert.ok(maxAbsDiff(await suffix.run(h, B), last.dataSync()) <= 1e-4);
  await Promise.all([prefix.release(), suffix.release()]);
  tf.dispose([idx, want, hidden, last]);
});

test("keepBefore: one pass also outputs the hidden states entering the kept blocks, as shallower engines compute them", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const model = randomClassifier(CFG);
  models.push(model);
  const L = CFG.nLayers;
  const keeping = await OnnxGptEngine.create(model, { toBlock: L, keepBefore: [2, 1, 2] });
  assert.deepEqual(keeping.keepBefore, [1, 2]);
  const { out, kept } = await keeping.runKeeping(ids, B);
  const whole = await OnnxGptEngine.create(model, { toBlock: L });
  assert.ok(maxAbsDiff(out, await whole.run(ids, B)) <= 1e-5);
  for (const k of [1, 2]) {
    const shallow = await OnnxGptEngine.create(model, { toBlock: k });
    assert.ok(maxAbsDiff(kept.get(k)!, await shallow.run(ids, B)) <= 1e-5, `depth ${k}`);
    await shallow.release();
  }
  // From hidden states (a deeper prefix on top of a shallower one): depths inside its range only
  const onTop = await OnnxGptEngine.create(model, { fromBlock: 1, toBlock: L, keepBefore: [2] });
  const first = await OnnxGptEngine.create(model, { toBlock: 1 });
  const fromOne = await onTop.runKeeping(await first.run(ids, B), B);
  assert.ok(maxAbsDiff(fromOne.kept.get(2)!, kept.get(2)!) <= 1e-5);
  await assert.rejects(
    OnnxGptEngine.create(model, { fromBlock: 1, toBlock: L, keepBefore: [1] }),
    /keep the hidden states before block 1 of blocks \[1, 3\)/,
  );
  await Promise.all([keeping.release(), whole.release(), onTop.release(), first.release()]);
});

for (const useOnnx of [true, false]) {
  test(`fast path (${useOnnx ? "ONNX Runtime" : "tfjs fallback"}) equals the uncached model: last-token logits and 3 AdamW steps`, async (t) => {
    if (useOnnx && !loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
    await initBackend();
    const fastModel = randomClassifier(CFG),
      plainModel = randomClassifier(CFG);
    models.push(fastModel, plainModel);
    const fast = await createFastClassifierPath(fastModel, { useOnnx });
    assert.ok(fast instanceof FastClassifierPath);
    assert.equal(fast.kind, useOnnx ? "onnx" : "tfjs");
    const batch = { inputIds: ids, batchSize: B },
      labels = [1, 0, 0, 1];
    await fast.precompute([0, 1, 2, 3].map((r) => ids.subarray(r * T, (r + 1) * T)));
    const idx = tf.tensor2d(ids, [B, T], "int32");
    const lastOf = (m: GPTModel) =>
      tf.tidy(() =>
        m
          .forward(idx)
          .slice([0, T - 1, 0], [B, 1, 2])
          .reshape([B, 2]),
      );
    const want0 = lastOf(plainModel);
    assert.ok(maxAbsDiff(await fast.logitsLastToken(batch), want0.dataSync()) <= 1e-5);
    // The plain path: autodiff through the whole tfjs model, the same AdamW.
    const vars = [...plainModel.trainableParams()];
    const state = vars.map(([, v]) => ({ m: new Float32Array(v.size), v: new Float32Array(v.size) }));
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), 2));
    const settings = { lr: 1e-2, weightDecay: 0.1 };
    const before = tf.memory().numTensors;
    for (let step = 1; step <= 3; step++) {
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, lastOf(plainModel)),
        vars.map(([, v]) => v),
      );
      vars.forEach(([, v], i) => {
        const p = Float32Array.from(v.dataSync());
        adamwUpdateInPlace(
          p,
          grads[v.name].dataSync() as Float32Array,
          state[i].m,
          state[i].v,
          step,
          resolveFastAdamW(settings),
        );
        plainModel.setParam(vars[i][0], p, v.shape);
      });
      const fastLoss = await fast.trainStep(batch, labels, settings);
      assert.ok(Math.abs(fastLoss - value.dataSync()[0]) < 1e-5, `step ${step}: ${fastLoss} vs ${value.dataSync()[0]}`);
      tf.dispose([value, grads]);
    }
    assert.equal(tf.memory().numTensors, before, "no tensor leaks across steps");
    const want3 = lastOf(plainModel);
    assert.ok(maxAbsDiff(await fast.logitsLastToken(batch), want3.dataSync()) <= 1e-4);
    fast.syncToModel();
    const synced = lastOf(fastModel);
    assert.ok(maxAbsDiff(synced.dataSync(), want3.dataSync()) <= 1e-4, "synced model gives the same logits");
    tf.dispose([idx, want0, want3, y, synced]);
    await fast.dispose();
  });
}
