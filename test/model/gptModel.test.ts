import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  tf,
  initBackend,
  GPTModel,
  openWeights,
  loadWeightsIntoGpt,
  generateTextSimple,
  modelConfig,
  configFromHparams,
  ConfigError,
  loadPretrainedGpt2,
  DataFormatError,
  ShapeMismatchError,
  type GPTConfig,
} from "llm-spam-classifier";
import { isLinearWeight } from "llm-spam-classifier/model";
import { SafetensorsFile, writeSafetensors } from "llm-spam-classifier/weights";
import { tempDir } from "../helpers";

// Written by scripts/fixtures/gpt2_reference.py: the book's PyTorch GPTModel with random weights.
const FIX = path.join(__dirname, "..", "fixtures", "model");
const ref = JSON.parse(fs.readFileSync(path.join(FIX, "logits.json"), "utf8")) as {
  token_ids: number[][];
  logits: number[][][];
};
const FIX_CONFIG: GPTConfig = {
  vocabSize: 512,
  contextLength: 32,
  embDim: 16,
  nHeads: 2,
  nLayers: 2,
  dropRate: 0,
  qkvBias: true,
};
const small: GPTConfig = {
  vocabSize: 64,
  contextLength: 16,
  embDim: 8,
  nHeads: 2,
  nLayers: 2,
  dropRate: 0,
  qkvBias: true,
};

const tmp = tempDir("gpt-model-");
before(async () => {
  await initBackend();
});
after(tmp.cleanup);

function maxAbsDiff(a: number[][][], b: number[][][]): number {
  let m = 0;
  a.forEach((x, i) =>
    x.forEach((y, j) =>
      y.forEach((v, k) => {
        m = Math.max(m, Math.abs(v - b[i][j][k]));
      }),
    ),
  );
  return m;
}

for (const layout of ["openai", "openai-snappy-2shards", "openai-snappy-literal", "hf"]) {
  test(`logits equal PyTorch's for weights loaded from ${layout}`, () => {
    const { src, config } = openWeights(path.join(FIX, layout));
    assert.deepEqual(config, FIX_CONFIG); // from hparams.json (OpenAI) or config.json (Hugging Face)
    const model = new GPTModel(config);
    loadWeightsIntoGpt(model, src);
    const logits = tf.tidy(() => model.forward(tf.tensor2d(ref.token_ids, undefined, "int32")).arraySync());
    assert.ok(maxAbsDiff(logits, ref.logits) < 1e-4, `max diff ${maxAbsDiff(logits, ref.logits)}`);
    model.dispose();
  });
}

test("Hugging Face layout without the transformer. prefix, sharded into two files, loads the same; a missing tensor is named", async () => {
  const hf = new SafetensorsFile(path.join(FIX, "hf", "model.safetensors"));
  const all = new Map(
    hf
      .listVariables()
      .map((v) => [v.name.replace(/^transformer\./, ""), { dtype: "F32" as const, ...hf.readTensor(v.name) }]),
  );
  const dir = path.join(tmp.dir, "hf-sharded");
  fs.mkdirSync(dir);
  const names = [...all.keys()].sort();
  const half = Math.ceil(names.length / 2);
  const shards = [names.slice(0, half), names.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((part, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(path.join(dir, file), new Map(part.map((n) => [n, all.get(n)!])));
    for (const n of part) weightMap[n] = file;
  });
  fs.writeFileSync(
    path.join(dir, "model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  fs.copyFileSync(path.join(FIX, "hf", "config.json"), path.join(dir, "config.json"));
  const { model, config, source } = await loadPretrainedGpt2({ path: dir });
  assert.deepEqual(config, FIX_CONFIG);
  assert.equal(source, path.join(dir, "model.safetensors.index.json"));
  const logits = tf.tidy(() => model.forward(tf.tensor2d(ref.token_ids, undefined, "int32")).arraySync());
  assert.ok(maxAbsDiff(logits, ref.logits) < 1e-4);
  model.dispose();
  // One tensor short: the error names it.
  const partial = path.join(tmp.dir, "partial.safetensors");
  writeSafetensors(partial, new Map([...all].filter(([n]) => n !== "h.1.mlp.c_fc.bias")));
  const m2 = new GPTModel(FIX_CONFIG);
  assert.throws(
    () => loadWeightsIntoGpt(m2, new SafetensorsFile(partial)),
    (e: unknown) => e instanceof DataFormatError && /no tensor "h\.1\.mlp\.c_fc\.bias"/.test(e.message),
  );
  m2.dispose();
  assert.equal(tf.memory().numTensors, 0);
});

test("the book's own state_dict layout (PyTorch [out, in] Linear weights, head tied or stored) loads the same", async () => {
  const { model: m } = await loadPretrainedGpt2({ path: path.join(FIX, "hf") });
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, v] of m.params) {
    const t = isLinearWeight(name) ? tf.tidy(() => m.tensor(name).transpose()) : m.tensor(name); // ours [in, out] → PyTorch [out, in]
    tensors.set(name, { data: t.dataSync() as Float32Array, shape: [...t.shape] });
    if (t !== v) t.dispose();
  }
  m.dispose();
  for (const withHead of [true, false]) {
    const dir = path.join(tmp.dir, `book-${withHead}`);
    fs.mkdirSync(dir);
    writeSafetensors(
      path.join(dir, "model.safetensors"),
      new Map([...tensors].filter(([n]) => withHead || !n.startsWith("out_head."))),
    );
    fs.copyFileSync(path.join(FIX, "hf", "config.json"), path.join(dir, "config.json"));
    const lines: string[] = [];
    const { model } = await loadPretrainedGpt2({
      path: path.join(dir, "model.safetensors"),
      log: (l) => lines.push(l),
    });
    assert.match(lines.join("\n"), /book state_dict layout/);
    const logits = tf.tidy(() => model.forward(tf.tensor2d(ref.token_ids, undefined, "int32")).arraySync());
    assert.ok(maxAbsDiff(logits, ref.logits) < 1e-4, `head stored: ${withHead}`);
    model.dispose();
  }
  const bad = path.join(tmp.dir, "book-bad.safetensors");
  writeSafetensors(
    bad,
    new Map(
      [...tensors].map(([n, t]) =>
        n === "trf_blocks.0.ff.layers.0.weight" ? [n, { data: t.data, shape: [t.shape[1], t.shape[0]] }] : [n, t],
      ),
    ),
  );
  const m3 = new GPTModel(FIX_CONFIG);
  assert.throws(
    () => loadWeightsIntoGpt(m3, new SafetensorsFile(bad)),
    (e: unknown) =>
      e instanceof ShapeMismatchError &&
      /trf_blocks\.0\.ff\.layers\.0\.weight .*model expects \[64,16\], checkpoint has \[16,64\]/.test(e.message),
  );
  m3.dispose();
});

test("configs: the book's four sizes and hparams.json", () => {
  assert.deepEqual(modelConfig("124M"), {
    vocabSize: 50257,
    contextLength: 1024,
    dropRate: 0,
    qkvBias: true,
    embDim: 768,
    nLayers: 12,
    nHeads: 12,
  });
  assert.equal(modelConfig("gpt2-xl (1558M)").embDim, 1600);
  assert.equal(modelConfig("medium").nLayers, 24);
  assert.throws(() => modelConfig("7B"), ConfigError);
  assert.deepEqual(
    configFromHparams({ n_vocab: 50257, n_ctx: 1024, n_embd: 768, n_head: 12, n_layer: 12 }),
    modelConfig("124M"),
  );
  assert.throws(() => new GPTModel({ ...small, nHeads: 3 }), /divisible/);
});

test("repeated forwards leak no tensors; the causal mask hides the future", () => {
  const model = new GPTModel(small, { seed: 1 });
  const warm = tf.tensor2d([[1, 2, 3, 4]], undefined, "int32");
  tf.dispose([model.forward(warm), warm]); // builds the cached causal mask for T = 4
  const before = tf.memory().numTensors;
  const a = tf.tensor2d([[1, 2, 3, 4]], undefined, "int32"),
    b = tf.tensor2d([[1, 2, 3, 9]], undefined, "int32");
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
  assert.ok(
    [...trainable.keys()].every(
      (n) => n.startsWith("trf_blocks.1.") || n.startsWith("final_norm.") || n.startsWith("out_head."),
    ),
  );
  assert.ok(!trainable.has("trf_blocks.0.att.W_query.weight"));
  const idx = tf.tensor2d([[3, 4, 5]], undefined, "int32");
  tf.dispose(model.forward(idx)); // builds the cached causal mask for T = 3
  const before = tf.memory().numTensors;
  // All parameters passed: frozen ones come back null, every trainable one gets a non-zero gradient of its own shape.
  const { value, grads } = tf.variableGrads(
    () => model.forward(idx).slice([0, 2, 0], [1, 1, 2]).square().sum<tf.Scalar>(),
    [...model.params.keys()].map((n) => model.variable(n)),
  );
  for (const [name, v] of model.params) {
    const g = grads[model.variable(name).name];
    if (!trainable.has(name)) {
      assert.equal(g, null, `${name} is frozen`);
      continue;
    }
    assert.ok(g, `${name} has a gradient`);
    assert.deepEqual(g.shape, v.shape);
    assert.ok(
      tf.tidy(() => g.abs().sum().dataSync()[0] > 0),
      `${name}: gradient is zero`,
    );
  }
  tf.dispose([value, ...Object.values(grads).filter((g): g is tf.Tensor => g !== null)]);
  assert.equal(tf.memory().numTensors, before);
  const E = small.embDim;
  assert.equal(
    model.numParams({ trainableOnly: true }),
    3 * (E * E + E) + E * E + E + E * 4 * E + 4 * E + 4 * E * E + E + 4 * E + 2 * E + (E * 2 + 2),
  );
  idx.dispose();
  model.dispose();
});

test("the whole model trains on this backend (embedding gradients included): rows of unused tokens get zero", () => {
  const model = new GPTModel(small, { seed: 4 });
  const idx = tf.tensor2d([[3, 4, 3]], undefined, "int32");
  const vars = [...model.params.keys()].map((n) => model.variable(n));
  const { value, grads } = tf.variableGrads(() => model.forward(idx).square().mean<tf.Scalar>(), vars);
  assert.equal(Object.values(grads).filter((g) => g !== null).length, model.params.size);
  const tok = grads[model.variable("tok_emb.weight").name];
  const rowSums = tf.tidy(() => Array.from(tok.abs().sum(1).dataSync()));
  assert.ok(rowSums[3] > 0 && rowSums[4] > 0);
  assert.equal(rowSums.filter((v, i) => i !== 3 && i !== 4 && v !== 0).length, 0);
  tf.dispose([value, idx, ...Object.values(grads).filter((g): g is tf.Tensor => g !== null)]);
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
