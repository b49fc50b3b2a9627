import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { tf, initBackend, GPTModel, openWeights, loadWeightsIntoGpt, generateTextSimple, modelConfig, configFromHparams, ConfigError, type GPTConfig } from "llm-spam-classifier";

// Written by scripts/fixtures/gpt2_reference.py: the book's PyTorch GPTModel with random weights.
const FIX = path.join(__dirname, "..", "fixtures", "model");
const ref = JSON.parse(fs.readFileSync(path.join(FIX, "logits.json"), "utf8"));
const small: GPTConfig = { vocabSize: 64, contextLength: 16, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };

before(async () => { await initBackend(); });

function maxAbsDiff(a: number[][][], b: number[][][]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((y, j) => y.forEach((v, k) => { m = Math.max(m, Math.abs(v - b[i][j][k])); })));
  return m;
}

for (const layout of ["openai", "openai-snappy-2shards", "hf"]) {
  test(`logits equal PyTorch's for weights loaded from ${layout}`, () => {
    const { src, config } = openWeights(path.join(FIX, layout));
    const model = new GPTModel(config);
    loadWeightsIntoGpt(model, src);
    const logits = tf.tidy(() => model.forward(tf.tensor2d(ref.token_ids, undefined, "int32")).arraySync());
    assert.ok(maxAbsDiff(logits, ref.logits) < 1e-4, `max diff ${maxAbsDiff(logits, ref.logits)}`);
    model.dispose();
  });
}

test("configs: the book's four sizes and hparams.json", () => {
  assert.deepEqual(modelConfig("124M"), { vocabSize: 50257, contextLength: 1024, dropRate: 0, qkvBias: true, embDim: 768, nLayers: 12, nHeads: 12 });
  assert.equal(modelConfig("gpt2-xl (1558M)").embDim, 1600);
  assert.equal(modelConfig("medium").nLayers, 24);
  assert.throws(() => modelConfig("7B"), ConfigError);
  assert.deepEqual(configFromHparams({ n_vocab: 50257, n_ctx: 1024, n_embd: 768, n_head: 12, n_layer: 12 }), modelConfig("124M"));
  assert.throws(() => new GPTModel({ ...small, nHeads: 3 }), /divisible/);
});

test("repeated forwards leak no tensors; the causal mask hides the future", () => {
  const model = new GPTModel(small, { seed: 1 });
  const before = tf.memory().numTensors;
  const a = tf.tensor2d([[1, 2, 3, 4]], undefined, "int32"), b = tf.tensor2d([[1, 2, 3, 9]], undefined, "int32");
  for (let i = 0; i < 3; i++) tf.dispose(model.forward(a));
  const [la, lb] = [model.forward(a), model.forward(b)];
  // Changing the last token changes only the last position's logits.
  tf.tidy(() => {
    assert.deepEqual(la.slice([0, 0, 0], [1, 3, -1]).arraySync(), lb.slice([0, 0, 0], [1, 3, -1]).arraySync());
    assert.notDeepEqual(la.slice([0, 3, 0], [1, 1, -1]).arraySync(), lb.slice([0, 3, 0], [1, 1, -1]).arraySync());
  });
  tf.dispose([la, lb, a, b]);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test("gradients reach only the trainable parameters; freezing and head swap count parameters", () => {
  const model = new GPTModel(small, { seed: 2 });
  assert.equal(model.numParams(), model.numParams({ trainableOnly: true }));
  model.freezeAll();
  model.replaceOutHead(2, { seed: 123 });
  model.setTrainable(["trf_blocks.1", "final_norm"]);
  const trainable = model.trainableParams();
  assert.ok([...trainable.keys()].every((n) => n.startsWith("trf_blocks.1.") || n.startsWith("final_norm.") || n.startsWith("out_head.")));
  assert.ok(!trainable.has("trf_blocks.0.att.W_query.weight"));
  const idx = tf.tensor2d([[3, 4, 5]], undefined, "int32");
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => model.forward(idx).slice([0, 2, 0], [1, 1, 2]).square().sum() as tf.Scalar, [...trainable.values()]);
  assert.equal(Object.keys(grads).length, trainable.size);
  assert.ok(tf.tidy(() => Object.values(grads).some((g) => g.abs().sum().dataSync()[0] > 0)));
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before);
  const E = small.embDim;
  assert.equal(model.numParams({ trainableOnly: true }), (3 * (E * E + E) + E * E + E + E * 4 * E + 4 * E + 4 * E * E + E + 4 * E) + 2 * E + (E * 2 + 2));
  idx.dispose();
  model.dispose();
});

test("greedy generation appends the argmax token each step", () => {
  const model = new GPTModel(small, { seed: 3 });
  const idx = tf.tensor2d([[5, 6, 7]], undefined, "int32");
  const out = generateTextSimple(model, idx, 4, small.contextLength);
  assert.deepEqual(out.shape, [1, 7]);
  const ids = Array.from(out.dataSync());
  // The first new token is the argmax of the prompt's last-position logits.
  const first = tf.tidy(() => model.forward(idx).slice([0, 2, 0], [1, 1, -1]).argMax(-1).dataSync()[0]);
  assert.equal(ids[3], first);
  tf.dispose([idx, out]);
  model.dispose();
});
