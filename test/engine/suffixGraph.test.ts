import { test } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, loadOnnxRuntime, type GPTModel } from "llm-spam-classifier";
import { createOrtSession, buildSuffixOnnx, suffixParamNames, type OrtModule } from "llm-spam-classifier/engine";
import { maxAbsDiff, randomClassifier } from "./fixtureModel";

// The hand-derived backward pass of suffixGraph.ts against tfjs autodiff of the same loss through the
// tfjs GPTModel: last block on the whole sequence, final norm + head at the last position, mean cross-entropy.

const B = 3,
  T = 7;
const labels = [1, 0, 1];
/** Allowed error of a value whose largest magnitude is `scale`: 1e-5 relative, at least 1e-6 (float32 rounding is ~1e-7). */
const tolerance = (scale: number) => 1e-6 + 1e-5 * scale;
const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The suffix's loss, logits and gradients by tfjs autodiff (no ONNX involved). */
function tfjsReference(model: GPTModel, hidden: tf.Tensor3D, names: string[]) {
  const E = model.cfg.embDim;
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), 2));
  const logitsOf = () =>
    tf.tidy(() => {
      const x = model
        .block(model.cfg.nLayers - 1, hidden)
        .slice([0, T - 1, 0], [B, 1, E])
        .reshape([B, E]);
      return model.head(model.finalNorm(x));
    });
  const logits = logitsOf();
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, logitsOf()),
    names.map((n) => model.variable(n)),
  );
  const result = {
    loss: value.dataSync()[0],
    logits: Float32Array.from(logits.dataSync()),
    grads: new Map(
      names.map((n) => [
        n,
        {
          data: Float32Array.from(grads[model.variable(n).name].dataSync()),
          shape: grads[model.variable(n).name].shape,
        },
      ]),
    ),
  };
  tf.dispose([y, logits, value, grads]);
  return result;
}

/** The same from the ONNX suffix graph with `backward`, on ONNX Runtime. */
async function onnxResult(ort: OrtModule, model: GPTModel, hidden: tf.Tensor3D, names: string[]) {
  const session = await createOrtSession(buildSuffixOnnx(model, { backward: true }), { threads: 1 });
  const feeds: Record<string, InstanceType<OrtModule["Tensor"]>> = {
    hidden: new ort.Tensor("float32", Float32Array.from(hidden.dataSync()), hidden.shape),
    targets: new ort.Tensor("float32", Float32Array.from(labels.flatMap((l) => [l === 0 ? 1 : 0, l === 1 ? 1 : 0])), [
      B,
      2,
    ]),
  };
  feeds.row_weights = new ort.Tensor("float32", new Float32Array(B).fill(1 / B), [B]);
  for (const n of names)
    feeds[n] = new ort.Tensor("float32", Float32Array.from(model.param(n).dataSync()), model.param(n).shape);
  const out = await session.run(feeds);
  await session.release();
  return {
    loss: (out.loss.data as Float32Array)[0],
    logits: out.logits.data as Float32Array,
    grads: new Map(
      names.map((n) => [n, { data: out[`grad:${n}`].data as Float32Array, shape: [...out[`grad:${n}`].dims] }]),
    ),
  };
}

for (const bias of [true, false]) {
  test(`suffix graph backward equals tfjs autodiff per parameter (${bias ? "with" : "without"} qkv and head biases)`, async (t) => {
    const ort = loadOnnxRuntime();
    if (!ort) return t.skip("onnxruntime-node unavailable");
    await initBackend();
    const cfg = { vocabSize: 97, contextLength: 16, embDim: 32, nHeads: 4, nLayers: 2, dropRate: 0, qkvBias: bias };
    const model = randomClassifier(cfg, { headBias: bias });
    const names = suffixParamNames(model);
    const suffix = [...model.params.keys()].filter((n) => /^(trf_blocks\.1|final_norm|out_head)\./.test(n));
    assert.deepEqual([...names].sort(), suffix.sort(), "every parameter of the suffix, nothing else");
    assert.equal(names.length, bias ? 20 : 16);
    const idx = tf.tensor2d(
      Int32Array.from({ length: B * T }, (_, i) => (i * 37 + (i % 5) * 11) % cfg.vocabSize),
      [B, T],
      "int32",
    );
    const hidden = tf.tidy(() => model.block(0, model.embed(idx))); // the frozen prefix's output (also builds the causal mask)
    const before = tf.memory().numTensors;

    const want = tfjsReference(model, hidden, names);
    const got = await onnxResult(ort, model, hidden, names);
    assert.ok(Math.abs(got.loss - want.loss) <= tolerance(want.loss), `loss ${got.loss} vs ${want.loss}`);
    assert.ok(
      maxAbsDiff(got.logits, want.logits) <= tolerance(maxAbs(want.logits)),
      `logits: max diff ${maxAbsDiff(got.logits, want.logits)}`,
    );
    for (const n of names) {
      const g = got.grads.get(n)!,
        w = want.grads.get(n)!;
      assert.deepEqual(g.shape, w.shape, `${n}: shape`);
      const err = maxAbsDiff(g.data, w.data);
      assert.ok(err <= tolerance(maxAbs(w.data)), `${n}: max diff ${err} (max |grad| ${maxAbs(w.data)})`);
      // W_key.bias shifts every score of a head alike (softmax ignores it): its gradient is 0 up to rounding.
      if (!n.endsWith("W_key.bias"))
        assert.ok(maxAbs(w.data) > 1e-3, `${n}: a gradient large enough to tell right from wrong`);
    }
    assert.equal(tf.memory().numTensors, before, "no tensor leaks");
    tf.dispose([idx, hidden]);
    model.dispose();
  });
}
