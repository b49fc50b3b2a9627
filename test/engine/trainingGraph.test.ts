import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, loadOnnxRuntime, type GPTModel } from "llm-spam-classifier";
import { createOrtSession, buildTrainingGraph, addRowGradient, type OrtModule } from "llm-spam-classifier/engine";
import { gptForward, readoutWeights, TfjsOps, layers, type ReadoutKind } from "llm-spam-classifier/model";
import { randomClassifier } from "./fixtureModel";

// The ONNX training graph (the model definition under the gradient tape, on ONNX Runtime) against tfjs
// autodiff of the book's computation (whole-model logits, then the readout), for EVERY parameter.

const CFG = { vocabSize: 31, contextLength: 10, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };
const B = 3,
  T = 7,
  PAD = 30;
// Right-padded rows (the flexible readout reads each row's last real token).
const ids = Int32Array.from([5, 9, 13, 2, PAD, PAD, PAD, 1, 2, 3, 4, 5, 6, 7, 20, PAD, PAD, PAD, PAD, PAD, PAD]);
const labels = [1, 0, 1];

let ort: OrtModule | undefined;
let model: GPTModel;
before(async () => {
  await initBackend();
  ort = loadOnnxRuntime();
  model = randomClassifier(CFG);
  model.setTrainable(["tok_emb", "pos_emb", "trf_blocks", "final_norm", "out_head"]);
});
after(() => model.dispose());

const tolerance = (scale: number) => 1e-6 + 2e-5 * scale;

/** The book's way, in tfjs: logits of every position, then the readout; loss and gradients by tfjs autodiff. */
function reference(kind: ReadoutKind, causal: boolean) {
  const tfo = new TfjsOps();
  const names = [...model.params.keys()];
  const idx = tf.tensor2d(ids, [B, T], "int32");
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), 2);
  const readLogits = () =>
    tf.tidy(() => {
      // causal: GPTModel.forward (the book's model(x)); without the mask: the definition with causal off
      const all = causal
        ? model.forward(idx)
        : gptForward(tfo, (n) => (model.params.has(n) ? model.tensor(n) : undefined), model.cfg, idx, {
            head: true,
            causal: false,
          });
      if (kind === "last") return all.slice([0, T - 1, 0], [B, 1, 2]).reshape([B, 2]);
      if (kind === "first") return all.slice([0, 0, 0], [B, 1, 2]).reshape([B, 2]);
      if (kind === "mean") return all.mean(1);
      const pos = [3, 6, 0]; // each row's last real token
      return tf.stack(pos.map((p, b) => all.slice([b, p, 0], [1, 1, 2]).reshape([2])));
    });
  const { value, grads } = tf.variableGrads(
    () => layers.crossEntropy(tfo, readLogits(), y) as tf.Scalar,
    names.map((n) => model.variable(n)),
  );
  const out = {
    loss: value.dataSync()[0],
    grads: new Map(names.map((n) => [n, Float32Array.from(grads[model.variable(n).name].dataSync())])),
  };
  tf.dispose([idx, y, value, grads]);
  tfo.dispose();
  return out;
}

for (const [kind, causal] of [
  ["last", true],
  ["first", true],
  ["flexible", true],
  ["mean", true],
  ["last", false],
] as Array<[ReadoutKind, boolean]>) {
  test(`training graph on ONNX Runtime: loss and every parameter's gradient equal tfjs autodiff (${kind} readout${causal ? "" : ", no causal mask"})`, async (t) => {
    if (!ort) return t.skip("onnxruntime-node unavailable");
    const names = [...model.params.keys()];
    const rowIds = ids;
    const graph = buildTrainingGraph(model, { batch: B, seq: T, trainable: names, readout: kind, causal });
    assert.deepEqual(new Set(graph.paramInputs), new Set(names));
    const session = await createOrtSession(graph.bytes, { threads: 1 });
    const feeds: Record<string, InstanceType<OrtModule["Tensor"]>> = {
      input_ids: new ort.Tensor("int32", rowIds, [B, T]),
      targets: new ort.Tensor("float32", Float32Array.from(labels.flatMap((l) => [l === 0 ? 1 : 0, l])), [B, 2]),
      row_weights: new ort.Tensor("float32", new Float32Array(B).fill(1 / B), [B]), // the mean
    };
    if (graph.takesReadout)
      feeds.readout = new ort.Tensor("float32", readoutWeights(kind, rowIds, B, { padTokenId: PAD })!, [B, T]);
    for (const n of graph.paramInputs)
      feeds[n] = new ort.Tensor("float32", model.params.get(n)!.dataSync() as Float32Array, model.params.get(n)!.shape);
    const out = await session.run(feeds);
    await session.release();
    const want = reference(kind, causal);
    assert.ok(
      Math.abs((out.loss.data as Float32Array)[0] - want.loss) <= 1e-5,
      `loss ${out.loss.data[0]} vs ${want.loss}`,
    );
    assert.deepEqual(graph.rowGrads, ["tok_emb.weight"], "the embedding's gradient comes as rows at ids");
    for (const n of names) {
      let got = out[`grad:${n}`].data as Float32Array;
      const w = want.grads.get(n)!;
      if (graph.rowGrads.includes(n)) {
        const dense = new Float32Array(w.length);
        addRowGradient(dense, got, out[`ids:${n}`].data as Int32Array, CFG.embDim);
        got = dense;
      }
      assert.equal(got.length, w.length, n);
      const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      let err = 0;
      got.forEach((v, i) => (err = Math.max(err, Math.abs(v - w[i]))));
      assert.ok(err <= tolerance(scale), `${n}: off by ${err} (scale ${scale})`);
    }
  });
}
