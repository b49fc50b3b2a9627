import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  tf,
  initBackend,
  AdamW,
  ConfigError,
  createRunner,
  createPlainRunner,
  loadOnnxRuntime,
  trainClassifierSimple,
  prepareClassifier,
  GPTModel,
  SpamDataset,
  DataLoader,
  resolveFinetuneVariant,
  saveClassifier,
  loadClassifier,
  classifyWithProbability,
  OnnxClassifier,
  type ClassifierRunner,
  type ReadoutKind,
  type RunnerNeeds,
  type TrainableLayers,
} from "llm-spam-classifier";
import { FastRunner, PlainRunner } from "llm-spam-classifier/train";
import { createFastClassifierPath } from "llm-spam-classifier/engine";
import { tempDir } from "../helpers";

// The bonus experiments' options (additional_experiments.py) against PyTorch 1.13 on a tiny random GPT
// (scripts/fixtures/options_reference.py → test/fixtures/train/options.json): every batch's loss, the optimizer
// steps, and the readout's validation logits after training, on every path the option runs on.

interface Variant {
  trainable: string;
  readout: ReadoutKind;
  context_length: string;
  padding: boolean;
  batch_size: number;
  accumulation_steps: number;
  causal: boolean;
  ignore_index: number;
  epochs: number;
  max_length: number;
  /** Hugging Face's max_grad_norm (clip_grad_norm_ before each step), or null: no clipping (the book). */
  max_grad_norm: number | null;
  losses: number[];
  /** The norms clip_grad_norm_ returned at each step (before clipping). */
  grad_norms: number[];
  optimizer_steps: number;
  val_logits: number[][];
  head: { weight: number[][]; bias: number[] };
}
interface OptionsFixture {
  config: {
    vocab_size: number;
    context_length: number;
    emb_dim: number;
    n_heads: number;
    n_layers: number;
    qkv_bias: boolean;
  };
  pad: number;
  lr: number;
  weight_decay: number;
  train: Array<{ ids: number[]; label: number }>;
  val: Array<{ ids: number[]; label: number }>;
  state_dict: Record<string, number[] | number[][]>;
  variants: Record<string, Variant>;
}

const fx = JSON.parse(
  fs.readFileSync(path.join(__dirname, "..", "fixtures", "train", "options.json"), "utf8"),
) as OptionsFixture;
const TOL = 1e-4;

before(async () => {
  await initBackend();
});

const isLinear = (name: string) =>
  /\.(W_query|W_key|W_value|out_proj)\.weight$|\.ff\.layers\.\d+\.weight$|^out_head\.weight$/.test(name);

/** The fixture's model (PyTorch layout → ours), the variant's freezing and its head. */
function fixtureModel(v: Variant): GPTModel {
  const c = fx.config;
  const model = new GPTModel(
    {
      vocabSize: c.vocab_size,
      contextLength: c.context_length,
      embDim: c.emb_dim,
      nHeads: c.n_heads,
      nLayers: c.n_layers,
      dropRate: 0,
      qkvBias: c.qkv_bias,
    },
    { init: "zeros" },
  );
  const set = (name: string, value: number[] | number[][]) =>
    tf.tidy(() => {
      const t = tf.tensor(value);
      model.setParam(name, isLinear(name) ? t.transpose() : t);
    });
  for (const [name, value] of Object.entries(fx.state_dict)) set(name, value);
  prepareClassifier(model, { trainable: v.trainable.replace(/_/g, "-") as TrainableLayers });
  set("out_head.weight", v.head.weight);
  set("out_head.bias", v.head.bias);
  return model;
}

/** The token ids as texts, and a tokenizer that reads them back: the real SpamDataset pads and truncates. */
const rows = (r: Array<{ ids: number[]; label: number }>) => r.map((x) => ({ Text: x.ids.join(" "), Label: x.label }));
const idsTokenizer = { encode: (text: string) => text.split(" ").map(Number) } as unknown as ConstructorParameters<
  typeof SpamDataset
>[1];

function loaders(v: Variant) {
  const maxLength = v.context_length === "model_context_length" ? fx.config.context_length : Number(v.context_length);
  const train = new SpamDataset(rows(fx.train), idsTokenizer, {
    padTokenId: fx.pad,
    padding: v.padding,
    maxLength: v.padding && Number.isInteger(maxLength) ? maxLength : undefined,
  });
  const val = new SpamDataset(rows(fx.val), idsTokenizer, {
    padTokenId: fx.pad,
    padding: v.padding,
    maxLength: v.padding ? train.maxLength : undefined,
  });
  assert.equal(train.maxLength, v.max_length);
  return {
    trainLoader: new DataLoader(train, { batchSize: v.batch_size, dropLast: true }),
    valLoader: new DataLoader(val, { batchSize: v.padding ? v.batch_size : 1 }),
  };
}

const needsOf = (v: Variant): RunnerNeeds => ({
  head: { readout: v.readout, causal: v.causal, ignoreIndex: v.ignore_index, padTokenId: fx.pad },
  variableLength: !v.padding,
});

type PathName = "plain" | "plain-onnx" | "fast" | "fast-tfjs" | "native";

async function runnerFor(p: PathName, model: GPTModel, opt: AdamW, v: Variant): Promise<ClassifierRunner> {
  if (p === "plain") return createPlainRunner(model, opt, { native: false, head: needsOf(v).head });
  if (p === "plain-onnx") return createPlainRunner(model, opt, { native: true, head: needsOf(v).head });
  if (p === "fast-tfjs") {
    // The fast path without ONNX Runtime: prefix and suffix (forward and backward) on tfjs
    const fast = await createFastClassifierPath(model, {
      useOnnx: false,
      readout: v.readout,
      causal: v.causal,
      padTokenId: fx.pad,
    });
    if ("reason" in fast) throw new ConfigError(fast.reason);
    return new FastRunner(fast, opt, "fast", v.ignore_index);
  }
  return createRunner(model, opt, { path: p, needs: needsOf(v) });
}

const adamwOf = (v: Variant) => ({
  lr: fx.lr,
  weightDecay: fx.weight_decay,
  ...(v.max_grad_norm === null ? {} : { maxGradNorm: v.max_grad_norm }),
});

/** Trains the variant on a path with the book's loop and compares with PyTorch. */
async function checkVariant(name: string, p: PathName): Promise<string> {
  const v = fx.variants[name];
  const model = fixtureModel(v);
  const opt = new AdamW(model.trainableParams(), adamwOf(v));
  const { trainLoader, valLoader } = loaders(v);
  const runner = await runnerFor(p, model, opt, v);
  try {
    const losses: number[] = [];
    const r = await trainClassifierSimple(runner, trainLoader, valLoader, {
      numEpochs: v.epochs,
      evalFreq: 1000,
      evalIter: 1,
      accumulationSteps: v.accumulation_steps,
      onProgress: (s) => losses.push(s.loss),
    });
    assert.equal(r.steps, v.optimizer_steps, `${name} on ${p}: optimizer steps`);
    if (p === "plain" && v.grad_norms.length) {
      const last = v.grad_norms[v.grad_norms.length - 1];
      assert.ok(
        Math.abs(opt.lastGradNorm! - last) <= TOL * last,
        `${name}: norm ${opt.lastGradNorm} vs PyTorch ${last}`,
      );
    }
    assert.equal(losses.length, v.losses.length);
    losses.forEach((l, i) =>
      assert.ok(Math.abs(l - v.losses[i]) <= TOL, `${name} on ${p}: loss ${i} ${l} vs PyTorch ${v.losses[i]}`),
    );
    const logits: number[] = [];
    for (const batch of valLoader) logits.push(...(await runner.logits(batch)));
    const want = v.val_logits.flat();
    assert.equal(logits.length, want.length);
    logits.forEach((l, i) =>
      assert.ok(Math.abs(l - want[i]) <= TOL, `${name} on ${p}: validation logit ${i} ${l} vs PyTorch ${want[i]}`),
    );
    return runner.kind;
  } finally {
    await runner.finish();
    opt.dispose();
    model.dispose();
  }
}

// Every variant on the plain path (tfjs alone), and on the path createRunner chooses ("auto"), which must be the
// fastest exact one: fast (frozen prefix cached, last token), else native (ONNX Runtime), else plain.
const AUTO: Record<string, "fast" | "native" | "plain"> = {
  default: "fast",
  last_layer: "fast",
  last_two_blocks: "fast",
  all: "native",
  first: "fast",
  flexible: "fast",
  mean: "fast",
  no_causal_mask: "fast",
  no_padding: "fast",
  no_padding_accumulation_2: "fast",
  accumulation_4_two_epochs: "fast",
  ignore_index_1: "fast",
  ignore_index_50256: "fast",
  context_model: "fast",
  context_6: "fast",
  flexible_all_no_causal_mask: "native",
  mean_last_two_blocks: "fast",
  all_accumulation_2_ignore_index_1: "native",
  all_max_grad_norm: "native",
  accumulation_2_max_grad_norm: "fast",
};

test("the fixture covers every variant the test expects", () => {
  assert.deepEqual(Object.keys(fx.variants).sort(), Object.keys(AUTO).sort());
});

test("the clipped variants clip: every step's norm is above max_grad_norm, and the losses part from the unclipped run", () => {
  for (const name of ["all_max_grad_norm", "accumulation_2_max_grad_norm"]) {
    const v = fx.variants[name];
    assert.equal(v.grad_norms.length, v.optimizer_steps);
    for (const n of v.grad_norms) assert.ok(n > v.max_grad_norm!, `${name}: norm ${n}`);
  }
  // The same model and data but for the clipping. Adam's first update does not depend on the gradient's scale, so
  // the losses part from the third batch on (after a second step from differently scaled gradients).
  const clipped = fx.variants.all_max_grad_norm.losses,
    plain = fx.variants.all.losses;
  assert.ok(Math.abs(clipped[1] - plain[1]) <= 1e-5);
  assert.ok(Math.abs(clipped[2] - plain[2]) > 1e-2);
});

for (const name of Object.keys(AUTO)) {
  test(`${name}: the plain path (tfjs) reproduces PyTorch's loss at every batch and the logits after`, async () => {
    assert.equal(await checkVariant(name, "plain"), "plain");
  });
}

const ort = loadOnnxRuntime() !== undefined;

for (const [name, kind] of Object.entries(AUTO)) {
  if (kind === "plain") continue;
  test(
    `${name}: createRunner picks the ${kind} path, which reproduces PyTorch too`,
    { skip: !ort && "no ONNX Runtime" },
    async () => {
      const v = fx.variants[name];
      const model = fixtureModel(v);
      const opt = new AdamW(model.trainableParams(), adamwOf(v));
      const runner = await createRunner(model, opt, { needs: needsOf(v) });
      const got = runner.kind;
      await runner.finish();
      opt.dispose();
      model.dispose();
      assert.equal(got, kind);
      assert.equal(await checkVariant(name, kind), kind);
    },
  );
}

for (const name of [
  "default",
  "context_6",
  "last_layer",
  "accumulation_4_two_epochs",
  "ignore_index_1",
  "first",
  "flexible",
  "mean",
  "no_causal_mask",
]) {
  test(`${name}: the native path reproduces PyTorch as well`, { skip: !ort && "no ONNX Runtime" }, async () => {
    assert.equal(await checkVariant(name, "native"), "native");
  });
}

for (const name of ["no_causal_mask", "last_two_blocks", "no_padding_accumulation_2", "ignore_index_1"]) {
  test(
    `${name}: the plain path with its ONNX Runtime trunk and matmuls reproduces PyTorch`,
    { skip: !ort && "no ONNX Runtime" },
    async () => {
      assert.equal(await checkVariant(name, "plain-onnx"), "plain");
    },
  );
}

for (const name of [
  "default",
  "accumulation_4_two_epochs",
  "ignore_index_1",
  "no_padding_accumulation_2",
  "first",
  "flexible",
  "mean",
  "no_causal_mask",
]) {
  test(`${name}: the fast path on tfjs (no ONNX Runtime) reproduces PyTorch`, async () => {
    assert.equal(await checkVariant(name, "fast-tfjs"), "fast");
  });
}

test("a path that cannot run an option says so with a ConfigError", { skip: !ort && "no ONNX Runtime" }, async () => {
  for (const [name, p, re] of [
    ["no_padding", "native", /different lengths/],
    ["all_accumulation_2_ignore_index_1", "fast", /must be frozen/],
  ] as const) {
    const v = fx.variants[name];
    const model = fixtureModel(v);
    const opt = new AdamW(model.trainableParams());
    await assert.rejects(createRunner(model, opt, { path: p, needs: needsOf(v) }), (e: Error) => {
      assert.ok(e instanceof ConfigError && re.test(e.message), `${name} on ${p}: ${e.message}`);
      return true;
    });
    opt.dispose();
    model.dispose();
  }
});

test("gradient accumulation on the plain path leaks no tensor over many steps (flexible readout, all layers)", async () => {
  const v = fx.variants.flexible_all_no_causal_mask;
  const model = fixtureModel(v);
  const opt = new AdamW(model.trainableParams(), { lr: fx.lr, weightDecay: fx.weight_decay });
  const runner = new PlainRunner(model, opt, {
    readout: "flexible",
    causal: false,
    ignoreIndex: 1,
    padTokenId: fx.pad,
  });
  const { trainLoader } = loaders(v);
  const batches = [...trainLoader];
  const step = (i: number) => runner.trainStep(batches[i % batches.length], { lossScale: 0.5, update: i % 2 === 1 });
  for (let i = 0; i < 4; i++) await step(i); // AdamW's moments exist from here on
  const before = tf.memory().numTensors;
  for (let i = 0; i < 40; i++) await step(i);
  await runner.logits(batches[0]);
  assert.equal(tf.memory().numTensors, before);
  await runner.finish();
  opt.dispose();
  model.dispose();
});

test("resolveFinetuneVariant fills in the chapter's defaults and rejects what makes no sense with one ConfigError", () => {
  assert.deepEqual(resolveFinetuneVariant(), {
    trainable: "last-block",
    readout: "last",
    contextLength: "longest",
    padding: true,
    batchSize: 8,
    accumulationSteps: 1,
    causalMask: true,
    ignoreIndex: -100,
    initWeights: "pretrained",
    lr: 5e-5,
    weightDecay: 0.1,
  });
  // Row 15: no padding, batch 1, accumulation 8
  const row15 = resolveFinetuneVariant({ padding: false, batchSize: 1, accumulationSteps: 8 });
  assert.deepEqual([row15.padding, row15.batchSize, row15.accumulationSteps], [false, 1, 8]);
  for (const [bad, re] of [
    [{ padding: false }, /batch size must be 1 .*got 8/],
    [{ padding: false, batchSize: 8, accumulationSteps: 8 }, /batch size must be 1/],
    [{ padding: false, batchSize: 1, contextLength: "model" }, /without padding each text keeps its own length/],
    [{ readout: "middle" }, /readout must be one of last, first, flexible, mean/],
    [{ contextLength: 0 }, /contextLength must be/],
    [{ contextLength: "huge" }, /contextLength must be/],
    [{ batchSize: 2.5 }, /batchSize must be a positive integer/],
    [{ accumulationSteps: 0 }, /accumulationSteps must be a positive integer/],
    [{ ignoreIndex: 0.5 }, /ignoreIndex must be an integer/],
    [{ initWeights: "xavier" }, /initWeights must be/],
    [{ lr: 0 }, /lr must be a positive number/],
    [{ weightDecay: -1 }, /weightDecay must be a number ≥ 0/],
    [{ trainable: "lora-everything" }, /must be one of last-block, all, last-layer, last-two-blocks/],
  ] as Array<[Record<string, unknown>, RegExp]>)
    assert.throws(
      () => resolveFinetuneVariant(bad),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(bad),
    );
});

test("random weights are PyTorch's default initialisation: embeddings N(0, 1), Linear U(±1/√fan_in), LayerNorm 1/0; seeded", () => {
  const cfg = { vocabSize: 300, contextLength: 64, embDim: 32, nHeads: 4, nLayers: 2, dropRate: 0, qkvBias: true };
  const a = new GPTModel(cfg, { init: "pytorch", seed: 123 }),
    b = new GPTModel(cfg, { init: "pytorch", seed: 123 });
  const values = (name: string) => Array.from(a.param(name).dataSync());
  const std = (x: number[]) => {
    const m = x.reduce((s, v) => s + v, 0) / x.length;
    return Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length);
  };
  assert.ok(Math.abs(std(values("tok_emb.weight")) - 1) < 0.03); // 9,600 draws of N(0, 1)
  assert.ok(Math.abs(std(values("pos_emb.weight")) - 1) < 0.06);
  for (const [name, fanIn] of [
    ["trf_blocks.0.att.W_query.weight", 32],
    ["trf_blocks.0.att.W_query.bias", 32],
    ["trf_blocks.1.ff.layers.0.weight", 32],
    ["trf_blocks.1.ff.layers.2.weight", 128],
    ["trf_blocks.1.ff.layers.2.bias", 128],
    ["out_head.weight", 32],
  ] as const) {
    const x = values(name),
      bound = 1 / Math.sqrt(fanIn);
    assert.ok(
      x.every((v) => Math.abs(v) <= bound),
      name,
    );
    assert.ok(Math.max(...x.map(Math.abs)) > 0.9 * bound, `${name} fills its range`);
    if (x.length > 1000) assert.ok(Math.abs(std(x) - bound / Math.sqrt(3)) < 0.05 * bound, `${name}: uniform's std`);
  }
  assert.deepEqual(new Set(values("trf_blocks.0.norm1.scale")), new Set([1]));
  assert.deepEqual(new Set(values("final_norm.shift")), new Set([0]));
  for (const [name, v] of a.params)
    assert.deepEqual(v.dataSync(), b.param(name).dataSync(), `${name}: same seed, same values`);
  a.dispose();
  b.dispose();
});

test("a saved variant is classified the way it trained: its readout, mask and padding come back with loadClassifier", async () => {
  const { dir, cleanup } = tempDir("variant-classifier-");
  const v = fx.variants.flexible_all_no_causal_mask;
  const model = fixtureModel(v);
  try {
    saveClassifier(dir, model, {
      maxLength: 10,
      padTokenId: fx.pad,
      info: { variant: { readout: "flexible", causalMask: false, padding: true } },
    });
    const { model: loaded } = loadClassifier(dir);
    try {
      assert.deepEqual([loaded.readout, loaded.causal, loaded.padding], ["flexible", false, undefined]);
      const text = "5 9 13 2";
      const got = classifyWithProbability(text, loaded, idsTokenizer).spamProbability;
      // The same reading by the training runner: the last real token (position 3 of 10), no causal mask
      const runner = new PlainRunner(model, undefined, { readout: "flexible", causal: false, padTokenId: fx.pad });
      const ids = Int32Array.from([5, 9, 13, 2, 63, 63, 63, 63, 63, 63]);
      const logits = await runner.logits({
        inputIds: ids,
        labels: Int32Array.from([0]),
        indices: [0],
        batchSize: 1,
        seqLen: 10,
      });
      const want = 1 / (1 + Math.exp(logits[0] - logits[1]));
      assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);
      // … which is not the chapter's reading (the last position, a padding token, under the mask)
      const chapter = classifyWithProbability(text, loaded, idsTokenizer, {
        readout: "last",
        causal: true,
      }).spamProbability;
      assert.ok(Math.abs(chapter - want) > 1e-3, `${chapter} vs ${want}`);
      if (loadOnnxRuntime())
        await assert.rejects(
          OnnxClassifier.create(loaded),
          (e: Error) => e instanceof ConfigError && /tfjs/.test(e.message),
        );
    } finally {
      loaded.dispose();
    }
  } finally {
    model.dispose();
    cleanup();
  }
});
