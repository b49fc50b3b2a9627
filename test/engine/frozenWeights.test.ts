/**
 * Issue 12, point 2: a model built `frozen` keeps its frozen weights once, as arrays outside tfjs; tfjs holds
 * what trains. The fast and native paths train it with the same losses as a model of tf.Variables, and never
 * put the frozen weights into tfjs; the plain path makes their tensors once, at first use.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, loadOnnxRuntime, GPTModel, prepareClassifier, type GPTConfig } from "llm-spam-classifier";
import { FrozenParam } from "llm-spam-classifier/model";
import {
  AdamW,
  createRunner,
  checkTrainingMemory,
  type ClassifierRunner,
  type MemoryLimits,
  type TrainableLayers,
} from "llm-spam-classifier/train";
import { InsufficientMemoryError } from "llm-spam-classifier";
import { OnnxGptEngine } from "llm-spam-classifier/engine";

const cfg: GPTConfig = {
  vocabSize: 96,
  contextLength: 16,
  embDim: 32,
  nHeads: 4,
  nLayers: 3,
  dropRate: 0,
  qkvBias: true,
};
const B = 4,
  T = 10;

/** The chapter's classifier on a small random GPT, built frozen or as tf.Variables, with the same values. */
function classifier(frozen: boolean, trainable: TrainableLayers = "last-block"): GPTModel {
  const model = new GPTModel(cfg, { seed: 7, frozen });
  prepareClassifier(model, { trainable, seed: 123 });
  return model;
}

/** Deterministic batches: token ids and labels. */
function batches(n: number) {
  let s = 12345;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: n }, () => {
    const inputIds = Int32Array.from({ length: B * T }, () => next() % cfg.vocabSize);
    const labels = Int32Array.from({ length: B }, () => next() % 2);
    return { inputIds, labels, indices: [0, 1, 2, 3], batchSize: B, seqLen: T };
  });
}

const frozenNames = (model: GPTModel) => [...model.params].filter(([, p]) => !p.trainable).map(([n]) => n);
const trainableBytes = (model: GPTModel) => model.numParams({ trainableOnly: true }) * 4;

async function trainLosses(model: GPTModel, path: "fast" | "native" | "plain", steps: number): Promise<number[]> {
  const data = batches(3);
  const optimizer = new AdamW(model.trainableParams(), { lr: 1e-3, weightDecay: 0.1 });
  const runner: ClassifierRunner = await createRunner(model, optimizer, {
    path,
    native: false,
    sequences: data.flatMap((b) => Array.from({ length: B }, (_, r) => b.inputIds.subarray(r * T, (r + 1) * T))),
  });
  assert.equal(runner.kind, path);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(await runner.trainStep(data[i % data.length]));
  await runner.finish();
  optimizer.dispose();
  return losses;
}

test("a model built frozen holds only its trainable parameters in tfjs, with the same values", async () => {
  await initBackend();
  const before = tf.memory().numBytes;
  const frozen = classifier(true);
  assert.equal(tf.memory().numBytes - before, trainableBytes(frozen), "tfjs holds the trainable parameters only");
  const names = frozenNames(frozen);
  assert.ok(names.includes("tok_emb.weight") && names.includes("trf_blocks.1.ff.layers.0.weight"));
  for (const n of names) {
    const p = frozen.param(n);
    assert.ok(p instanceof FrozenParam && p.storage === "array", n);
  }
  const plain = classifier(false);
  assert.equal(frozen.numParams(), plain.numParams());
  assert.equal(frozen.numParams({ trainableOnly: true }), plain.numParams({ trainableOnly: true }));
  for (const [n, p] of plain.params) assert.deepEqual(frozen.param(n).dataSync(), p.dataSync(), n);
  plain.dispose();
  frozen.dispose();
  assert.equal(tf.memory().numBytes, before);
});

// last-layer: the suffix holds a frozen parameter (final_norm) beside the trained head.
for (const [path, trainable] of [
  ["fast", "last-block"],
  ["fast", "last-layer"],
  ["native", "last-two-blocks"],
] as const) {
  test(`the ${path} path trains a frozen-built model (${trainable}) with the same losses, its frozen weights never in tfjs`, async (t) => {
    if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
    await initBackend();
    const want = await (async () => {
      const m = classifier(false, trainable);
      const losses = await trainLosses(m, path, 4);
      m.dispose();
      return losses;
    })();
    const before = tf.memory();
    const model = classifier(true, trainable);
    const losses = await trainLosses(model, path, 4);
    assert.deepEqual(losses, want);
    assert.ok(losses[3] < losses[0], `the loss falls: ${losses.join(", ")}`);
    for (const n of frozenNames(model)) assert.equal((model.param(n) as FrozenParam).storage, "array", n);
    assert.equal(tf.memory().numBytes - before.numBytes, trainableBytes(model), "tfjs still holds what trains only");
    model.dispose();
    assert.equal(tf.memory().numTensors, before.numTensors);
  });
}

test("the plain path makes a frozen weight's tensor once, at first use, and gives the same losses", async () => {
  await initBackend();
  const want = await (async () => {
    const m = classifier(false);
    const losses = await trainLosses(m, "plain", 3);
    m.dispose();
    return losses;
  })();
  const model = classifier(true);
  const losses = await trainLosses(model, "plain", 3);
  assert.ok(
    losses.every((l, i) => Math.abs(l - want[i]) < 1e-6),
    `${losses.join(", ")} vs ${want.join(", ")}`,
  );
  for (const n of frozenNames(model)) assert.equal((model.param(n) as FrozenParam).storage, "tfjs", n);
  assert.equal(model.tensor("tok_emb.weight"), model.tensor("tok_emb.weight"));
  const ids = tf.tensor2d(batches(1)[0].inputIds, [B, T], "int32");
  tf.dispose(model.classifierLogits(ids)); // caches this readout's mask
  const tensors = tf.memory().numTensors;
  tf.dispose(model.classifierLogits(ids));
  assert.equal(tf.memory().numTensors, tensors, "no tensor is made twice");
  ids.dispose();
  model.dispose();
});

test("the memory estimate counts frozen arrays outside the WASM heap: a frozen-built model fits where tf.Variables would not", async () => {
  await initBackend();
  const heap = 1e5; // a WASM heap smaller than the model's weights (166 kB), larger than what trains (51 kB)
  const limits: MemoryLimits = { backend: "wasm", wasmHeap: heap, available: 64e9, total: 64e9 };
  const frozen = classifier(true),
    variables = classifier(false);
  assert.ok(frozen.numParams() * 4 > heap && trainableBytes(frozen) < heap);
  for (const kind of ["fast", "native"] as const) {
    const runner = { kind, prefixDepth: kind === "fast" ? cfg.nLayers - 1 : undefined };
    const shape = { batchSize: 1, seqLen: 2, cachedTokens: 20, limits };
    const e = checkTrainingMemory(frozen, runner, shape);
    assert.equal(
      e.items.find((i) => i.what.startsWith("frozen weights"))?.bytes,
      (frozen.numParams() - frozen.numParams({ trainableOnly: true })) * 4,
    );
    assert.ok(e.tfjs < heap, `${kind}: ${e.tfjs}`);
    assert.throws(
      () => checkTrainingMemory(variables, runner, shape),
      (err: Error) => err instanceof InsufficientMemoryError && /WASM heap .*Alternatives: /.test(err.message),
    );
  }
  frozen.dispose();
  variables.dispose();
});

test("ONNX Runtime fed the frozen arrays as inputs (as for weights beyond a protobuf's 2 GB) gives the initializers' prefix", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const model = classifier(true);
  const ids = batches(1)[0].inputIds;
  const [a, b] = await Promise.all(
    (["initializers", "inputs"] as const).map(async (weights) => {
      const engine = await OnnxGptEngine.create(model, { toBlock: cfg.nLayers - 1, weights, threads: 1 });
      const out = await engine.run(ids, B);
      await engine.release();
      return { out, bytes: engine.modelBytes };
    }),
  );
  assert.ok(b.bytes < a.bytes / 4, `weights out of the model: ${b.bytes} vs ${a.bytes} bytes`);
  assert.ok(
    a.out.every((v, i) => Math.abs(v - b.out[i]) < 1e-5),
    "same hidden states",
  );
  for (const n of frozenNames(model)) assert.equal((model.param(n) as FrozenParam).storage, "array", n);
  model.dispose();
});
