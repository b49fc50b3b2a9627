import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf, initBackend, loadOnnxRuntime, GPTModel, prepareClassifier } from "llm-spam-classifier";
import {
  createFastClassifierPath,
  FastClassifierPath,
  OnnxGptEngine,
  fastPathIneligibility,
  OrtTrainer,
} from "llm-spam-classifier/engine";
import type { ReadoutKind } from "llm-spam-classifier/model";
import { fixtureParamsModel, maxAbsDiff, ourLayout, readTinyReference } from "./fixtureModel";

const ref = readTinyReference();
const batchOf = (i: number) => ({
  inputIds: Int32Array.from(ref.batches[i].ids.flat()),
  batchSize: ref.batches[i].ids.length,
});

test("ONNX export of the whole model gives PyTorch's logits (book GPTModel, random weights)", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const model = fixtureParamsModel(ref);
  const engine = await OnnxGptEngine.create(model, { head: true, threads: 1 });
  const b = batchOf(0);
  const logits = await engine.run(b.inputIds, b.batchSize);
  assert.ok(maxAbsDiff(logits, ref.logits) < 1e-5, `max diff ${maxAbsDiff(logits, ref.logits)}`);
  await engine.release();
  // Two parts chained ([0,1) then [1,2) + head, last token only) give the same last-token logits.
  const e1 = await OnnxGptEngine.create(model, { toBlock: 1 });
  const e2 = await OnnxGptEngine.create(model, { fromBlock: 1, head: true, lastTokenOnly: true });
  const last = await e2.run(await e1.run(b.inputIds, b.batchSize), b.batchSize);
  assert.ok(maxAbsDiff(last, ref.last_logits) < 1e-5);
  await Promise.all([e1.release(), e2.release()]);
  model.dispose();
});

test("fast path (ORT prefix cache + last-position suffix) reproduces PyTorch's logits, losses and AdamW steps", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const model = fixtureParamsModel(ref);
  const fast = await createFastClassifierPath(model);
  assert.ok(fast instanceof FastClassifierPath);
  assert.equal(fast.kind, "onnx");
  const stats = await fast.precompute([...ref.batches[0].ids, ...ref.batches[1].ids]);
  assert.equal(stats.sequences, 8);
  assert.equal(stats.computed, 7, "the repeated sequence is computed once");
  assert.ok(maxAbsDiff(await fast.logitsLastToken(batchOf(0)), ref.last_logits) < 1e-5);
  const losses: number[] = [];
  for (const i of [0, 1, 0])
    losses.push(
      await fast.trainStep(batchOf(i), ref.batches[i].labels, {
        lr: ref.adamw.lr,
        weightDecay: ref.adamw.weight_decay,
      }),
    );
  assert.ok(maxAbsDiff(losses, ref.adamw.losses) < 1e-5, `losses ${losses.join()} vs ${ref.adamw.losses.join()}`);
  assert.ok(maxAbsDiff(await fast.logitsLastToken(batchOf(1)), ref.adamw.last_logits_after_batch2) < 1e-4);
  fast.syncToModel();
  for (const [name, value] of Object.entries(ref.adamw.params_after)) {
    // W_key.bias has no effect on the outputs (softmax shift invariance): its gradient is float noise, which AdamW
    // turns into ±lr steps in PyTorch and here alike, with different signs. Outputs above match regardless.
    if (name.endsWith("W_key.bias")) continue;
    const want = ourLayout(name, value);
    const d = maxAbsDiff(model.params.get(name)!.dataSync(), want.dataSync());
    want.dispose();
    // AdamW divides by sqrt(v): an element whose gradient is tiny (cancellation over a batch of 4) moves by up to
    // ±lr on float noise; 1e-4 is 1% of one step of lr 1e-2.
    assert.ok(d < 1e-4, `${name}: max diff ${d}`);
  }
  await fast.dispose();
  model.dispose();
});

test("the tfjs seam (frozenTrunk no-grad + differentiable suffix) gives PyTorch's gradients", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const model = fixtureParamsModel(ref);
  const fast = (await createFastClassifierPath(model)) as FastClassifierPath;
  await fast.precompute(ref.batches[0].ids);
  const before = tf.memory().numTensors;
  const features = fast.frozenTrunk(batchOf(0));
  const vars = ref.trainable.map((n) => model.params.get(n)!);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(ref.batches[0].labels, "int32"), 2));
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, fast.suffix(features)),
    vars,
  );
  assert.ok(Math.abs(value.dataSync()[0] - ref.loss) < 1e-5);
  for (const name of ref.trainable) {
    if (name.endsWith("W_key.bias")) continue; // exactly 0 in exact arithmetic (softmax shift invariance): float noise only
    const want = ourLayout(name, ref.grads[name]);
    const d = maxAbsDiff(grads[model.params.get(name)!.name].dataSync(), want.dataSync());
    want.dispose();
    assert.ok(d < 1e-5, `${name}: max diff ${d}`);
  }
  tf.dispose([features, y, value, grads]);
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  await fast.dispose();
  model.dispose();
});

test("the fast path refuses models it cannot serve exactly (dropout, trainable prefix)", async () => {
  await initBackend();
  const drop = fixtureParamsModel(ref, { dropRate: 0.1 });
  assert.match(fastPathIneligibility(drop) ?? "", /dropRate is 0\.1/);
  const r = await createFastClassifierPath(drop);
  assert.ok("reason" in r);
  drop.dispose();
  const all = fixtureParamsModel(ref);
  all.params.get("trf_blocks.0.att.W_query.weight")!.trainable = true;
  assert.match(fastPathIneligibility(all) ?? "", /"trf_blocks\.0\.att\.W_query\.weight" is trainable/);
  all.dispose();
});

test("with cacheDir the prefix is saved once and loaded (not recomputed) by the next run", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prefix-cache-"));
  try {
    const model = fixtureParamsModel(ref);
    const rows = [...ref.batches[0].ids, ...ref.batches[1].ids];
    const first = (await createFastClassifierPath(model, { cacheDir: dir })) as FastClassifierPath;
    const s1 = await first.precompute(rows);
    assert.equal(s1.computed, 7);
    assert.equal(s1.loadedFromDisk, 0);
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith(".bin")).length, 1);
    await first.dispose();
    const second = (await createFastClassifierPath(model, { cacheDir: dir })) as FastClassifierPath;
    const s2 = await second.precompute(rows);
    assert.equal(s2.computed, 0);
    assert.equal(s2.loadedFromDisk, 7);
    assert.ok(maxAbsDiff(await second.logitsLastToken(batchOf(0)), ref.last_logits) < 1e-5);
    await second.dispose();
    // Other weights → another file, computed afresh.
    model.params.get("trf_blocks.0.norm1.shift")!.assign(tf.onesLike(model.params.get("trf_blocks.0.norm1.shift")!));
    const third = (await createFastClassifierPath(model, { cacheDir: dir })) as FastClassifierPath;
    assert.equal((await third.precompute(rows)).computed, 7);
    await third.dispose();
    model.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a deeper prefix starts from a shallower one in cacheDir: one block computed on top, the same hidden states", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prefix-extend-"));
  try {
    const model = fixtureParamsModel(ref);
    const rows = [...ref.batches[0].ids, ...ref.batches[1].ids];
    const shallow = (await createFastClassifierPath(model, { cacheDir: dir })) as FastClassifierPath;
    await shallow.precompute(rows);
    const k = shallow.depth;
    await shallow.dispose();
    // Head only (the bonus table's last_layer): the last block freezes, the prefix gets one block deeper.
    const L = model.cfg.nLayers;
    for (const [n, v] of model.params) if (n.startsWith(`trf_blocks.${L - 1}.`)) v.trainable = false;
    const logs: string[] = [];
    const deep = (await createFastClassifierPath(model, {
      cacheDir: dir,
      log: (l) => logs.push(l),
    })) as FastClassifierPath;
    assert.equal(deep.depth, k + 1);
    const stats = await deep.precompute(rows);
    assert.equal(stats.computed, 7);
    assert.ok(
      logs.some((l) => new RegExp(`7 sequences from the ${k}-block prefix .*, 1 block\\(s\\) computed on top`).test(l)),
      logs.join("\n"),
    );
    // The same values as the whole prefix computed from the token ids (no cache)
    const fresh = (await createFastClassifierPath(model)) as FastClassifierPath;
    await fresh.precompute(rows);
    const distinct = [...new Map(rows.map((r) => [r.join(","), Int32Array.from(r)])).values()];
    for (const r of distinct) assert.ok(maxAbsDiff(deep.cache.gather([r])!, fresh.cache.gather([r])!) < 1e-5);
    // And its own file is saved: the next run loads it
    await deep.dispose();
    const again = (await createFastClassifierPath(model, { cacheDir: dir })) as FastClassifierPath;
    assert.equal((await again.precompute(rows)).loadedFromDisk, 7);
    await Promise.all([fresh.dispose(), again.dispose()]);
    model.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("keepDepths: a deeper prefix pass saves a shallower depth too, which a later configuration loads as computed", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prefix-keep-"));
  try {
    const model = fixtureParamsModel(ref);
    const rows = [...ref.batches[0].ids, ...ref.batches[1].ids];
    const L = model.cfg.nLayers;
    const lastBlock = [...model.params].filter(([n]) => n.startsWith(`trf_blocks.${L - 1}.`)).map(([, v]) => v);
    // Head only first (depth L), keeping depth L - 1 (the book's last_block) from the same pass
    for (const v of lastBlock) v.trainable = false;
    const logs: string[] = [];
    const deep = (await createFastClassifierPath(model, {
      cacheDir: dir,
      keepDepths: [L - 1, L, 0],
      log: (l) => logs.push(l),
    })) as FastClassifierPath;
    assert.equal(deep.depth, L);
    assert.equal((await deep.precompute(rows)).computed, 7);
    assert.ok(
      logs.some((l) => new RegExp(`kept the ${L - 1}-block prefix of 7 sequences`).test(l)),
      logs.join("\n"),
    );
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith(".bin")).length, 2);
    // Its own hidden states are those of a pass without keeping
    const freshDeep = (await createFastClassifierPath(model)) as FastClassifierPath;
    await freshDeep.precompute(rows);
    const distinct = [...new Map(rows.map((r) => [r.join(","), Int32Array.from(r)])).values()];
    for (const r of distinct) assert.ok(maxAbsDiff(deep.cache.gather([r])!, freshDeep.cache.gather([r])!) < 1e-5);
    await Promise.all([deep.dispose(), freshDeep.dispose()]);
    // The last block trains again: its prefix (depth L - 1) comes from the kept file, equal to one computed anew
    for (const v of lastBlock) v.trainable = true;
    const shallow = (await createFastClassifierPath(model, { cacheDir: dir })) as FastClassifierPath;
    assert.equal(shallow.depth, L - 1);
    const stats = await shallow.precompute(rows);
    assert.deepEqual([stats.loadedFromDisk, stats.computed], [7, 0]);
    const fresh = (await createFastClassifierPath(model)) as FastClassifierPath;
    await fresh.precompute(rows);
    for (const r of distinct) assert.ok(maxAbsDiff(shallow.cache.gather([r])!, fresh.cache.gather([r])!) < 1e-5);
    await Promise.all([shallow.dispose(), fresh.dispose()]);
    model.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("ONNX_DISABLE=1 (or no onnxruntime-node) falls back to the tfjs fast path", () => {
  const code = `
    const lib = require("llm-spam-classifier"), engine = require("llm-spam-classifier/engine");
    (async () => {
      await lib.initBackend();
      const m = new lib.GPTModel({ vocabSize: 50, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true });
      m.freezeAll(); m.replaceOutHead(2); m.setTrainable(["trf_blocks.1", "final_norm", "out_head"]);
      const fast = await engine.createFastClassifierPath(m);
      console.log(JSON.stringify({ ort: lib.loadOnnxRuntime() === undefined ? "absent" : "present", reason: engine.onnxRuntimeUnavailableReason(), kind: fast.kind }));
    })();`;
  const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8", env: { ...process.env, ONNX_DISABLE: "1" } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()!), {
    ort: "absent",
    reason: "disabled by ONNX_DISABLE=1",
    kind: "tfjs",
  });
});

test("without ONNX Runtime the prefix runs in tfjs worker threads: the values of the main thread and of the uncached model", async () => {
  await initBackend();
  const model = new GPTModel(
    { vocabSize: 97, contextLength: 16, embDim: 16, nHeads: 2, nLayers: 3, dropRate: 0, qkvBias: true },
    { seed: 5 },
  );
  prepareClassifier(model);
  const rows = Array.from({ length: 11 }, (_, i) => Int32Array.from({ length: 9 }, (_, t) => (i * 13 + t * 7) % 97));
  const caches: Float32Array[] = [],
    logits: Float32Array[] = [];
  const lines: string[] = [];
  tf.tidy(() => {
    model.forward(tf.tensor2d([[...rows[0]]], [1, 9], "int32"));
  }); // the model keeps its causal mask for T = 9
  for (const prefixWorkers of [1, 2]) {
    const fast = (await createFastClassifierPath(model, {
      useOnnx: false,
      prefixWorkers,
      prefixBatchSize: 2,
      log: (l) => lines.push(l),
    })) as FastClassifierPath;
    assert.equal(fast.kind, "tfjs");
    const before = tf.memory().numTensors;
    const stats = await fast.precompute(rows);
    assert.equal(tf.memory().numTensors, before, "no tensor leaks");
    assert.equal(stats.computed, 11);
    caches.push(fast.cache.gather(rows)!);
    logits.push(
      await fast.logitsLastToken({ inputIds: Int32Array.from(rows.slice(0, 4).flatMap((r) => [...r])), batchSize: 4 }),
    );
    await fast.dispose();
  }
  assert.deepEqual(lines, ["prefix on tfjs in 2 threads (the main thread and 1 worker)"]);
  assert.equal(maxAbsDiff(caches[0], caches[1]), 0, "workers run the same kernels: identical prefix values");
  const ids = tf.tensor2d(
    rows.slice(0, 4).map((r) => [...r]),
    [4, 9],
    "int32",
  );
  const want = tf.tidy(() => model.forward(ids).slice([0, 8, 0], [4, 1, 2]).reshape([8]).dataSync() as Float32Array);
  assert.ok(maxAbsDiff(logits[1], want) < 1e-5, "the uncached model's last-token logits");
  ids.dispose();
  model.dispose();
});

// Any frozen-prefix depth and readout (the bonus experiments' last_layer / last_block / last_two_blocks ×
// last / first / flexible / mean, with and without the causal mask): the fast path's cached prefix + suffix
// reproduce the native trainer's losses and logits (which reproduces PyTorch's: ortTrainer.test.ts).
const suffixCases: Array<{ train: string[]; readout: ReadoutKind; causal?: boolean; depth: number }> = [
  { train: [], readout: "last", depth: 3 },
  { train: [], readout: "first", depth: 3 },
  { train: [], readout: "flexible", depth: 3 },
  { train: [], readout: "mean", depth: 3 },
  { train: ["trf_blocks.2", "final_norm"], readout: "first", depth: 2 },
  { train: ["trf_blocks.2", "final_norm"], readout: "flexible", depth: 2 },
  { train: ["trf_blocks.2", "final_norm"], readout: "mean", depth: 2 },
  { train: ["trf_blocks.2", "final_norm"], readout: "last", causal: false, depth: 2 },
  { train: ["trf_blocks.1", "trf_blocks.2", "final_norm"], readout: "last", depth: 1 },
  { train: ["trf_blocks.1", "trf_blocks.2", "final_norm"], readout: "mean", causal: false, depth: 1 },
];
const PAD = 96;
const suffixRows = [
  [5, 17, 33, 8, 91, PAD, PAD],
  [40, 2, 77, 63, 12, 9, 55],
  [71, 30, PAD, PAD, PAD, PAD, PAD],
  [14, 14, 88, 6, 23, 47, PAD],
];
const suffixLabels = [
  [1, 0, 1, 0],
  [0, 0, 1, 1],
  [1, 1, 0, 0],
];

function suffixCaseModel(train: string[]): GPTModel {
  const m = new GPTModel(
    { vocabSize: 97, contextLength: 16, embDim: 16, nHeads: 2, nLayers: 3, dropRate: 0, qkvBias: true },
    { seed: 11 },
  );
  m.freezeAll();
  m.replaceOutHead(2, { bias: true, seed: 3 });
  m.setTrainable(train);
  return m;
}

for (const c of suffixCases) {
  const name = `${c.train.join("+") || "head only"}, ${c.readout} readout${c.causal === false ? ", no causal mask" : ""}`;
  test(`fast path with a cached prefix of ${c.depth} block(s) equals the native trainer, on ONNX Runtime and tfjs (${name})`, async (t) => {
    if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
    await initBackend();
    const rotate = (k: number) => suffixRows.map((_, i) => suffixRows[(i + k) % suffixRows.length]);
    const batch = (k: number) => ({ inputIds: Int32Array.from(rotate(k).flat()), batchSize: suffixRows.length });
    const optim = { lr: 1e-2, weightDecay: 0.1 };
    const b = suffixCaseModel(c.train);
    const native = await OrtTrainer.create(b, { readout: c.readout, causal: c.causal, padTokenId: PAD, threads: 1 });
    const want: number[] = [];
    for (let s = 0; s < 3; s++) want.push(await native.trainStep(batch(s), suffixLabels[s], optim));
    const wantLogits = await native.logits(batch(1));
    await native.dispose();
    b.dispose();
    for (const useOnnx of [true, false]) {
      const a = suffixCaseModel(c.train);
      const fast = await createFastClassifierPath(a, {
        readout: c.readout,
        causal: c.causal,
        padTokenId: PAD,
        useOnnx,
        prefixWorkers: 1,
      });
      assert.ok(fast instanceof FastClassifierPath, "reason" in fast ? fast.reason : "");
      assert.equal(fast.depth, c.depth);
      assert.equal(fast.kind, useOnnx ? "onnx" : "tfjs");
      await fast.precompute(suffixRows.map((r) => Int32Array.from(r)));
      let before = 0;
      for (let s = 0; s < 3; s++) {
        const loss = await fast.trainStep(batch(s), suffixLabels[s], optim);
        assert.ok(Math.abs(loss - want[s]) < 1e-5, `${fast.kind} step ${s}: fast ${loss} vs native ${want[s]}`);
        if (s === 0) before = tf.memory().numTensors; // after the first step: tfjs caches one causal mask per length
      }
      const d = maxAbsDiff(await fast.logitsLastToken(batch(1)), wantLogits);
      assert.ok(d < 1e-4, `${fast.kind} logits after 3 steps: max diff ${d}`);
      assert.equal(tf.memory().numTensors, before, `${fast.kind}: no tensor leaks`);
      await fast.dispose();
      a.dispose();
    }
  });
}

test("fast path refuses a trainable first block (nothing to cache)", async () => {
  await initBackend();
  const m = suffixCaseModel(["trf_blocks.0", "trf_blocks.1", "trf_blocks.2", "final_norm"]);
  assert.match(fastPathIneligibility(m) ?? "", /"trf_blocks\.0\.[^"]+" is trainable \(no frozen block/);
  m.dispose();
});
