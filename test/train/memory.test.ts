import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  tf,
  initBackend,
  GPTModel,
  prepareClassifier,
  AdamW,
  SpamDataset,
  DataLoader,
  trainClassifierSimple,
  modelConfig,
  classifierParamCount,
  InsufficientMemoryError,
  ConfigError,
  type GPTConfig,
} from "llm-spam-classifier";
import {
  blockActivationFloats,
  estimateTrainingMemory,
  estimateClassifierTraining,
  checkTrainingFits,
  checkTrainableSetFits,
  checkTrainingMemory,
  fewerLayersAlternative,
  plainPathOf,
  trainingMemoryInput,
  machineMemoryLimits,
  wasmHeapLimit,
  WASM_HEAP_MAX_BYTES,
  type MemoryLimits,
  type TrainingMemoryInput,
  type PlainPathMemory,
} from "llm-spam-classifier/train";

before(async () => {
  await initBackend();
});

// A config small enough to count by hand: E = 4, H = 2, 2 blocks; batch 2 × 3 tokens (N = 6).
const SMALL: GPTConfig = {
  vocabSize: 10,
  contextLength: 8,
  embDim: 4,
  nHeads: 2,
  nLayers: 2,
  dropRate: 0,
  qkvBias: true,
};
const B = 2,
  T = 3,
  N = B * T,
  E = 4;
// One block: W_q/k/v 3·(16 + 4), out_proj 16 + 4, MLP 4·16 + 16 + 4·16 + 4, two LayerNorms 4·4 → 244
const BLOCK_PARAMS = 244;

const GIB4 = WASM_HEAP_MAX_BYTES;
const wasmLimits = (available = 24e9): MemoryLimits => ({ backend: "wasm", wasmHeap: GIB4, available, total: 24e9 });
const nativeLimits = (available = 24e9): MemoryLimits => ({ backend: "tensorflow", available, total: 24e9 });

test("activations of one block, counted from its operations: 74·N·E + 4·B·H·T·T", () => {
  // 2 LayerNorms 12·N·E, q/k/v 10·N·E, context 4·N·E, residuals 2·N·E, MLP (8 + 36 + 2)·N·E → 74 · 6 · 4 = 1776;
  // attention scores 4 · B·H·T·T = 4 · 2 · 2 · 3 · 3 = 144
  assert.equal(blockActivationFloats(SMALL, B, T), 1920);
  // 124M, the book's batch: 74 · 960 · 768 + 4 · 8 · 12 · 120 · 120
  assert.equal(blockActivationFloats(modelConfig("124M"), 8, 120), 54_558_720 + 5_529_600);
});

test("the plain path's arithmetic on a small config: weights, AdamW's moments, then the largest moment of the step", () => {
  const plain: PlainPathMemory = { kind: "plain", tapeBlocks: 1, embeddingsInTape: false, trunkOnOnnx: false };
  const base = { cfg: SMALL, trainableParams: 300, totalParams: 1000, batchSize: B, seqLen: T, path: plain };
  const e = estimateTrainingMemory(base);
  const activations = 1920,
    grads = 300 * 4,
    features = N * E * 4;
  const tape = (3.1 * activations + BLOCK_PARAMS) * 4; // the documented tape factor, plus the transposed weights
  assert.equal(e.path, "plain");
  assert.ok(Math.abs(e.tfjs - (1000 * 4 + 2 * grads + tape + features + grads)) < 1e-6, String(e.tfjs));
  assert.deepEqual(
    e.items.filter((i) => i.where === "tfjs").map((i) => i.bytes),
    [4000, 2400, tape + features + grads],
  );
  assert.equal(e.native, e.items.find((i) => i.where === "native")!.bytes); // the runtime only: no ONNX Runtime trunk

  // A second block in the tape adds exactly one block's tape
  const two = estimateTrainingMemory({ ...base, path: { ...plain, tapeBlocks: 2 } });
  assert.ok(Math.abs(two.tfjs - e.tfjs - tape) < 1e-6);
  // Trainable embeddings: their lookup's gradient (2 · vocab · E) and 11·N·E, and no trunk output
  const all = estimateTrainingMemory({
    ...base,
    path: { kind: "plain", tapeBlocks: 2, embeddingsInTape: true, trunkOnOnnx: false },
  });
  assert.ok(Math.abs(all.tfjs - two.tfjs - ((2 * 10 * E + 11 * N * E) * 4 - features)) < 1e-6);
  // Many trainable parameters: AdamW's step (gradients + 14 intermediates each) becomes the peak
  const big = estimateTrainingMemory({ ...base, trainableParams: 1000 });
  assert.ok(Math.abs(big.tfjs - (4000 + 8000 + 15 * 4000)) < 1e-6, String(big.tfjs));
  assert.match(big.items[2].what, /AdamW's step/);
  // ONNX Runtime's trunk adds native memory only: 1.5 copies of the frozen weights (embeddings 10·4 + 8·4, one block)
  const ort = estimateTrainingMemory({ ...base, path: { ...plain, trunkOnOnnx: true } });
  assert.equal(ort.tfjs, e.tfjs);
  assert.ok(Math.abs(ort.native - e.native - (1.5 * (72 + BLOCK_PARAMS) + 1.27 * activations) * 4) < 1e-6);
});

test("the bonus experiments' configurations: last-two-blocks tapes two blocks (124M: 14,178,818 trainable); accumulation adds one set of gradients", () => {
  const cfg = modelConfig("124M");
  assert.equal(classifierParamCount(cfg, 2, "last-two-blocks").trainable, 14_178_818); // derived in the bonus notes
  const shape = { batchSize: 8, seqLen: 120 };
  const one = estimateClassifierTraining(cfg, "last-block", shape),
    two = estimateClassifierTraining(cfg, "last-two-blocks", shape);
  assert.ok(two.tfjs > one.tfjs);
  const model = new GPTModel({ ...SMALL, nLayers: 3 }, { init: "zeros" });
  prepareClassifier(model, { trainable: "last-two-blocks" });
  const input = trainingMemoryInput(model, { batchSize: B, seqLen: T, path: "plain", trunkOnOnnx: false });
  assert.equal(input.path.kind === "plain" && input.path.tapeBlocks, 2);
  const plain = estimateTrainingMemory(input);
  const accumulating = checkTrainingMemory(
    model,
    { kind: "plain", trunkKind: "tfjs" },
    { batchSize: B, seqLen: T, accumulation: true },
  );
  const grads = input.trainableParams * 4;
  assert.ok(Math.abs(accumulating.tfjs - plain.tfjs - grads) < 1e-6);
  assert.ok(accumulating.items.some((i) => /accumulated/.test(i.what) && i.bytes === grads));
  model.dispose();
});

test("the fast path: tfjs holds the weights only; the prefix cache is native (tokens × E floats)", () => {
  const input = (cachedTokens: number): TrainingMemoryInput => ({
    cfg: SMALL,
    trainableParams: 300,
    totalParams: 1000,
    batchSize: B,
    seqLen: T,
    path: { kind: "fast", cachedTokens },
  });
  const a = estimateTrainingMemory(input(0)),
    b = estimateTrainingMemory(input(500));
  assert.equal(a.path, "fast");
  assert.equal(a.tfjs, 4000);
  assert.equal(b.native - a.native, 500 * E * 4);
  // A shallower cached prefix moves a block's weights from the prefix session (1.5 copies) to the suffix (1 copy)
  // and keeps the activations of every suffix block but the last (it computes the read row only) for the backward.
  const depth = (prefixBlocks: number) =>
    estimateTrainingMemory({ ...input(0), path: { kind: "fast", cachedTokens: 0, prefixBlocks } });
  const book = depth(SMALL.nLayers - 1);
  assert.equal(book.native, a.native, "the default is the book's: every block but the last cached");
  const two = depth(SMALL.nLayers - 2);
  const act = blockActivationFloats(SMALL, B, T);
  assert.ok(Math.abs(two.native - book.native - (-0.5 * BLOCK_PARAMS + 3.1 * act) * 4) < 1e-6, String(two.native));
  assert.equal(two.tfjs, book.tfjs);
});

test("the tape starts where runner.ts's frozen trunk ends; a model gives the same estimate as its config", () => {
  const cfg = { ...SMALL, nLayers: 3 };
  assert.deepEqual(plainPathOf(cfg, ["trf_blocks.2.norm1.scale", "out_head.weight"], true), {
    kind: "plain",
    tapeBlocks: 1,
    embeddingsInTape: false,
    trunkOnOnnx: true,
  });
  assert.deepEqual(
    plainPathOf(cfg, ["trf_blocks.1.att.W_query.weight", "trf_blocks.2.norm1.scale"], false).tapeBlocks,
    2,
  );
  assert.deepEqual(plainPathOf(cfg, ["tok_emb.weight", "trf_blocks.0.norm1.scale"], true), {
    kind: "plain",
    tapeBlocks: 3,
    embeddingsInTape: true,
    trunkOnOnnx: false,
  });
  assert.equal(plainPathOf(cfg, ["out_head.weight"], true).tapeBlocks, 0);

  for (const trainable of ["last-layer", "last-block", "last-two-blocks", "all"] as const) {
    const model = new GPTModel(cfg, { init: "zeros" });
    prepareClassifier(model, { trainable });
    const input = trainingMemoryInput(model, { batchSize: B, seqLen: T, path: "plain", trunkOnOnnx: false });
    assert.deepEqual(
      { total: input.totalParams, trainable: input.trainableParams },
      classifierParamCount(cfg, 2, trainable),
    );
    assert.deepEqual(
      estimateTrainingMemory(input),
      estimateClassifierTraining(cfg, trainable, { batchSize: B, seqLen: T }),
      trainable,
    );
    model.dispose();
  }
});

test("GPT-2 124M with every parameter trainable cannot fit tfjs's 4 GB WASM heap: one error with the need, the limit and the alternatives", () => {
  const cfg = modelConfig("124M");
  const shape = { batchSize: 8, seqLen: 120 };
  const all = estimateClassifierTraining(cfg, "all", shape);
  const lastBlock = estimateClassifierTraining(cfg, "last-block", shape);
  assert.ok(all.tfjs > GIB4, `${all.tfjs}`);
  assert.ok(lastBlock.tfjs < GIB4, `${lastBlock.tfjs}`);
  // The persistent part alone: 124,441,346 weights, 2 moments of each → 1.49 GB before any activation
  assert.equal(all.items[0].bytes + all.items[1].bytes, 124_441_346 * 12);

  const fewer = fewerLayersAlternative(cfg, "all", shape, wasmLimits());
  assert.match(
    fewer!,
    /^train fewer layers: --trainable last-block \(about \d\.\d\d GB of tfjs tensors\) or last-layer/,
  );
  assert.throws(
    () => checkTrainingFits(all, wasmLimits(), { alternatives: [fewer!] }),
    (err: unknown) => {
      assert.ok(err instanceof InsufficientMemoryError && err instanceof ConfigError);
      const m = err.message;
      assert.doesNotMatch(m, /\n/); // one line
      assert.match(m, new RegExp(`needs about ${(all.tfjs / 1e9).toFixed(2)} GB in tfjs's WASM heap`));
      assert.match(
        m,
        /weights \(tf\.Variables\) 0\.50 GB \+ AdamW's m and v 1\.00 GB \+ the gradient tape over 12 blocks/,
      );
      assert.match(m, /more than its 4\.29 GB limit on the wasm backend/);
      assert.match(
        m,
        /Alternatives: train fewer layers: --trainable last-block .*; a smaller batch or shorter texts; a smaller model; .*outside the WASM heap.*--backend tensorflow/,
      );
      return true;
    },
  );
  // The configurations that fit pass
  checkTrainingFits(lastBlock, wasmLimits());
  checkTrainingFits(estimateClassifierTraining(cfg, "last-layer", shape), wasmLimits());
  // A smaller batch does not rescue `all` on 124M: weights, moments and AdamW's step alone are ~9 GB
  assert.throws(() =>
    checkTrainingFits(estimateClassifierTraining(cfg, "all", { batchSize: 1, seqLen: 32 }), wasmLimits()),
  );
});

test("GPT-2 1558M with every layer trained needs more than this machine on any path: refused for the machine's memory, before any variable exists", () => {
  const cfg = modelConfig("1558M");
  const shape = { batchSize: 8, seqLen: 120 };
  assert.throws(
    () => checkTrainableSetFits(cfg, "all", { ...shape, limits: wasmLimits(22e9) }),
    (err: unknown) => {
      assert.ok(err instanceof InsufficientMemoryError);
      // 1,557,614,402 parameters: the weights, their gradients and AdamW's m and v alone are 24.9 GB
      assert.match(
        err.message,
        /needs about 25\.\d\d GB of memory \(tfjs tensors: trainable weights \(tf\.Variables\) 6\.23 GB; outside tfjs: .*gradients and AdamW's m and v 18\.69 GB\), more than the 22\.00 GB/,
      );
      assert.doesNotMatch(err.message, /--backend tensorflow/); // no backend would help
      return true;
    },
  );
  // The book's last block of the same model: its floor fits (the frozen 6.1 GB stay outside tfjs)
  const lastBlock = checkTrainableSetFits(cfg, "last-block", { ...shape, limits: wasmLimits(22e9) });
  assert.ok(lastBlock.tfjs < 0.2e9 && lastBlock.native > 6e9, JSON.stringify(lastBlock));
});

test("the native path's estimate of GPT-2 124M with every layer trained lies between its measured peak RSS and 1.5× it", () => {
  // bench: all_step at 8 × 120 peaked at 4.35 GB RSS (BENCHMARKS.md, cold start)
  const cfg = modelConfig("124M");
  const counts = { trainableParams: 124_441_346, totalParams: 124_441_346 };
  const e = estimateTrainingMemory({ cfg, ...counts, batchSize: 8, seqLen: 120, path: { kind: "native" } });
  assert.ok(e.tfjs + e.native >= 4.35e9 && e.tfjs + e.native <= 1.5 * 4.35e9, `${e.tfjs + e.native}`);
});

test("on a native tfjs backend there is no heap limit: only the machine's memory counts", () => {
  const all = estimateClassifierTraining(modelConfig("124M"), "all", { batchSize: 8, seqLen: 120 });
  checkTrainingFits(all, nativeLimits(24e9));
  assert.throws(
    () => checkTrainingFits(all, nativeLimits(8e9)),
    (err: unknown) =>
      err instanceof InsufficientMemoryError &&
      /needs about \d+\.\d\d GB of memory \(tfjs tensors: .*; outside tfjs: Node\.js, tfjs and ONNX Runtime .*\), more than the 8\.00 GB this machine has available \(24\.00 GB in all\)/.test(
        err.message,
      ) &&
      !/WASM heap/.test(err.message.split("Alternatives")[1]),
  );
});

test("machine limits: the WASM heap on wasm only (LLM_WASM_HEAP_LIMIT_MB lowers it, never raises it); available ≤ total", () => {
  assert.equal(wasmHeapLimit({}), WASM_HEAP_MAX_BYTES);
  assert.equal(wasmHeapLimit({ LLM_WASM_HEAP_LIMIT_MB: "100" }), 100e6);
  assert.equal(wasmHeapLimit({ LLM_WASM_HEAP_LIMIT_MB: "99999" }), WASM_HEAP_MAX_BYTES);
  for (const bad of ["0", "-5", "lots"])
    assert.throws(
      () => wasmHeapLimit({ LLM_WASM_HEAP_LIMIT_MB: bad }),
      /LLM_WASM_HEAP_LIMIT_MB must be a positive number/,
    );
  const wasm = machineMemoryLimits("wasm"),
    native = machineMemoryLimits("tensorflow");
  assert.equal(wasm.wasmHeap, wasmHeapLimit());
  assert.equal(native.wasmHeap, undefined);
  assert.ok(native.available > 0 && native.available <= native.total, JSON.stringify(native));
});

// The loop of 6.7 on a tiny model, as in loop.test.ts
const rows = Array.from({ length: 24 }, (_, i) => ({
  Label: i % 2,
  Text: `message number ${i} ${i % 2 ? "win cash" : "see you"}`,
}));

test("trainClassifierSimple checks the plain path before its first step: a heap too small is an InsufficientMemoryError, no step taken", async (t) => {
  if (tf.getBackend() !== "wasm") return t.skip("the WASM heap limit applies to the wasm backend only");
  const train = new SpamDataset(rows.slice(0, 16)),
    val = new SpamDataset(rows.slice(16), undefined, { maxLength: train.maxLength });
  const model = new GPTModel({ ...SMALL, vocabSize: 50257, contextLength: 32, embDim: 8 }, { seed: 1 });
  prepareClassifier(model, { trainable: "all" });
  const optimizer = new AdamW(model.trainableParams());
  const loaders = [
    new DataLoader(train, { batchSize: 8, shuffle: true, dropLast: true }),
    new DataLoader(val),
  ] as const;
  const tensors = tf.memory().numTensors;
  const saved = process.env.LLM_WASM_HEAP_LIMIT_MB;
  process.env.LLM_WASM_HEAP_LIMIT_MB = "1"; // the model's weights alone are 1.6 MB
  try {
    await assert.rejects(
      trainClassifierSimple(model, ...loaders, optimizer, { numEpochs: 1 }),
      (err: unknown) => err instanceof InsufficientMemoryError && /more than its 1\.0 MB limit/.test(err.message),
    );
  } finally {
    if (saved === undefined) delete process.env.LLM_WASM_HEAP_LIMIT_MB;
    else process.env.LLM_WASM_HEAP_LIMIT_MB = saved;
  }
  assert.equal(optimizer.t, 0);
  assert.equal(tf.memory().numTensors, tensors);
  // With the real limit the same run trains
  const r = await trainClassifierSimple(model, ...loaders, optimizer, { numEpochs: 1, evalFreq: 1, evalIter: 1 });
  assert.equal(r.steps, 2);
  // checkTrainingMemory logs its estimate
  const lines: string[] = [];
  checkTrainingMemory(model, { kind: "plain" }, { batchSize: 8, seqLen: train.maxLength, log: (l) => lines.push(l) });
  assert.match(
    lines[0],
    /^Memory estimate \(plain path\): \d+\.\d+ [MG]B of tfjs tensors \(WASM heap, limit 4\.29 GB\) \+ \d+\.\d+ [MG]B outside tfjs; \d+\.\d+ GB available$/,
  );
  optimizer.dispose();
  model.dispose();
});
