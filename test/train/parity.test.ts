import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  tf,
  initBackend,
  AdamW,
  PlainRunner,
  createRunner,
  createPlainRunner,
  loadOnnxRuntime,
  trainClassifierSimple,
  calcLossLoader,
  calcAccuracyLoader,
  calcLossBatch,
  prepareClassifier,
  GPTModel,
  type TrainProgress,
} from "llm-spam-classifier";
import { ortMatMulStats, type TrunkEngine } from "llm-spam-classifier/engine";
import { frozenTrunkSize } from "llm-spam-classifier/model";
import { crossEntropyOfLogits, lastTokenLogitsOf } from "llm-spam-classifier/train";
import { adamRef, batches, close, fixedLoader, fixtureModel, ref } from "./fixture";

// Parity with PyTorch 1.13 (scripts/fixtures/train_reference.py): the book's loop on a small random GPT.
before(async () => {
  await initBackend();
});

test("AdamW equals torch.optim.AdamW on fixed tensors (5 steps, lr 5e-2, weight decay 0.1)", () => {
  const p1 = tf.variable(tf.tensor(adamRef.init[0], adamRef.shapes[0])),
    p2 = tf.variable(tf.tensor(adamRef.init[1], adamRef.shapes[1]));
  const opt = new AdamW(
    new Map([
      ["a", p1],
      ["b", p2],
    ]),
    { lr: adamRef.lr, weightDecay: adamRef.weight_decay },
  );
  assert.deepEqual([opt.betas, opt.eps], [[0.9, 0.999], 1e-8]); // PyTorch's defaults
  for (const [g1, g2] of adamRef.grads) {
    const grads = { a: tf.tensor(g1, adamRef.shapes[0]), b: tf.tensor(g2, adamRef.shapes[1]) };
    opt.step(grads);
    tf.dispose(Object.values(grads));
  }
  const got = [...p1.dataSync(), ...p2.dataSync()],
    want = [...adamRef.final[0], ...adamRef.final[1]];
  got.forEach((v, i) => assert.ok(close(v, want[i], 1e-6), `element ${i}: ${v} vs ${want[i]}`));
  assert.equal(opt.t, 5);
  opt.dispose();
  tf.dispose([p1, p2]);
});

test("AdamW's defaults are the book's (lr 5e-5, weight decay 0.1) and a parameter without gradient is left alone", () => {
  const p = tf.variable(tf.ones([2])),
    q = tf.variable(tf.ones([2]));
  const opt = new AdamW(
    new Map([
      ["p", p],
      ["q", q],
    ]),
  );
  assert.deepEqual([opt.lr, opt.weightDecay], [5e-5, 0.1]);
  const g = tf.tensor([1, -1]);
  opt.step({ p: g });
  // decoupled decay then Adam's first step: 1·(1 − 5e-5·0.1) − 5e-5·sign(g)
  assert.ok(close(p.dataSync()[0], 1 - 5e-6 - 5e-5, 1e-7) && close(p.dataSync()[1], 1 - 5e-6 + 5e-5, 1e-7));
  assert.deepEqual([...q.dataSync()], [1, 1]);
  opt.dispose();
  tf.dispose([p, q, g]);
});

test("trainClassifierSimple (plain runner) reproduces PyTorch's loss at every step, its final logits and evaluations", async () => {
  const model = fixtureModel();
  const opt = new AdamW(model.trainableParams(), { lr: ref.lr, weightDecay: ref.weight_decay });
  const loader = fixedLoader();
  // Before training: the book's calc_accuracy_loader / calc_loss_loader over 2 and 3 batches.
  assert.equal(await calcAccuracyLoader(loader, model, { numBatches: 2 }), ref.initial_eval.acc2);
  assert.equal(await calcAccuracyLoader(loader, model), ref.initial_eval.acc3);
  assert.ok(close(await calcLossLoader(loader, model, { numBatches: 2 }), ref.initial_eval.loss2, 1e-5));
  assert.ok(close(await calcLossLoader(loader, model), ref.initial_eval.loss3, 1e-5));

  const losses: number[] = [];
  const r = await trainClassifierSimple(model, loader, loader, opt, {
    numEpochs: ref.steps / 3,
    evalFreq: 1000,
    evalIter: 1,
    onProgress: (p: TrainProgress) => losses.push(p.loss),
  });
  assert.equal(losses.length, ref.steps);
  losses.forEach((l, i) => assert.ok(close(l, ref.losses[i], 1e-4), `step ${i}: ${l} vs ${ref.losses[i]}`));
  assert.equal(r.examplesSeen, ref.steps * 4);
  const runner = new PlainRunner(model);
  for (let b = 0; b < 3; b++) {
    const logits = await runner.logits(batches[b]);
    ref.final_logits[b]
      .flat()
      .forEach((v, i) => assert.ok(close(logits[i], v, 1e-4), `batch ${b} logit ${i}: ${logits[i]} vs ${v}`));
  }
  assert.equal(await calcAccuracyLoader(loader, model, { numBatches: 2 }), ref.final_eval.acc2);
  assert.equal(await calcAccuracyLoader(loader, model), ref.final_eval.acc3);
  assert.ok(close(await calcLossLoader(loader, model), ref.final_eval.loss3, 1e-4));
  opt.dispose();
  model.dispose();
});

test("the fast path gives the same losses through the same runner interface", async () => {
  const model = fixtureModel();
  const opt = new AdamW(model.trainableParams(), { lr: ref.lr, weightDecay: ref.weight_decay });
  const runner = await createRunner(model, opt, {
    path: "fast",
    sequences: batches.flatMap((b) => [0, 1, 2, 3].map((r) => b.inputIds.subarray(r * 10, r * 10 + 10))),
  });
  assert.equal(runner.kind, "fast");
  for (let s = 0; s < ref.steps; s++) {
    const l = await runner.trainStep(batches[s % 3]);
    assert.ok(close(l, ref.losses[s], 1e-4), `step ${s}: ${l} vs ${ref.losses[s]}`);
  }
  await runner.finish();
  opt.dispose();
  model.dispose();
});

test("the plain path with its native help (frozen trunk and matmuls on ONNX Runtime) reproduces PyTorch's losses, then hands tfjs back", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const model = fixtureModel();
  const opt = new AdamW(model.trainableParams(), { lr: ref.lr, weightDecay: ref.weight_decay });
  const lines: string[] = [];
  const runner = await createRunner(model, opt, { path: "plain", log: (l) => lines.push(l) });
  assert.ok(runner instanceof PlainRunner && runner.trunkKind === "onnx", lines.join("\n"));
  assert.match(lines.join("\n"), /embeddings \+ block 0 on ONNX Runtime .*matmuls on ONNX Runtime/);
  let tensors = 0;
  for (let s = 0; s < ref.steps; s++) {
    const l = await runner.trainStep(batches[s % 3]);
    assert.ok(close(l, ref.losses[s], 1e-4), `step ${s}: ${l} vs ${ref.losses[s]}`);
    if (s === 0) tensors = tf.memory().numTensors; // after AdamW's moments and the model's causal mask exist
  }
  assert.ok(ortMatMulStats().enabled, "tfjs's matmuls run on ONNX Runtime while the runner lives");
  for (let b = 0; b < 3; b++) {
    const logits = await runner.logits(batches[b]);
    ref.final_logits[b]
      .flat()
      .forEach((v, i) => assert.ok(close(logits[i], v, 1e-4), `batch ${b} logit ${i}: ${logits[i]} vs ${v}`));
  }
  assert.equal(tf.memory().numTensors, tensors, "no tensor leak");
  await runner.finish();
  assert.equal(ortMatMulStats().enabled, false, "finish() gives tfjs its own matmul kernel back");
  assert.equal(runner.trunkKind, "tfjs");
  opt.dispose();
  model.dispose();
});

test("the plain path without native help (native: false) computes every layer in tfjs", async () => {
  const model = fixtureModel();
  const lines: string[] = [];
  const runner = await createPlainRunner(model, undefined, { native: false, log: (l) => lines.push(l) });
  assert.equal(runner.trunkKind, "tfjs");
  assert.deepEqual(lines, ["Plain path: every layer in tfjs"]);
  assert.equal(ortMatMulStats().enabled, false);
  const logits = await runner.logits(batches[0]);
  assert.equal(logits.length, 8);
  model.dispose();
});

test("a trunk engine serves evaluation always, training only without dropout (the book's model.train())", async () => {
  const cfg = { vocabSize: 64, contextLength: 12, embDim: 8, nHeads: 2, nLayers: 3, dropRate: 0, qkvBias: true };
  const batch = {
    inputIds: Int32Array.from([1, 5, 9, 2, 7, 3, 4, 4, 8, 60, 0, 11]),
    labels: Int32Array.from([0, 1]),
    indices: [0, 1],
    batchSize: 2,
    seqLen: 6,
  };
  for (const dropRate of [0, 0.5]) {
    const model = new GPTModel({ ...cfg, dropRate }, { seed: 7 });
    prepareClassifier(model);
    // An engine that computes the trunk with tfjs itself and counts its calls.
    const tfjsRunner = new PlainRunner(model);
    let calls = 0;
    const engine: TrunkEngine = {
      blocks: 2,
      async run(ids, b) {
        calls++;
        const x = tf.tensor2d(ids, [b, ids.length / b], "int32"),
          h = tfjsRunner.frozenTrunk(x);
        const out = (await h.data()) as Float32Array;
        tf.dispose([x, h]);
        return out;
      },
      async release() {},
    };
    const opt = new AdamW(model.trainableParams());
    const runner = new PlainRunner(model, opt, { trunk: engine });
    const want = await tfjsRunner.logits(batch),
      got = await runner.logits(batch);
    got.forEach((v, i) => assert.ok(close(v, want[i], 1e-6)));
    assert.equal(calls, 1, "evaluation uses the engine");
    await runner.trainStep(batch);
    assert.equal(
      calls,
      dropRate === 0 ? 2 : 1,
      `dropRate ${dropRate}: training ${dropRate === 0 ? "uses" : "bypasses"} the engine`,
    );
    await runner.finish();
    opt.dispose();
    model.dispose();
  }
});

test("the seam: frozenTrunk + suffix equal the whole model's last-token logits for every trainable choice", () => {
  const cfg = { vocabSize: 64, contextLength: 12, embDim: 8, nHeads: 2, nLayers: 3, dropRate: 0, qkvBias: true };
  const ids = tf.tensor2d(
    [
      [1, 5, 9, 2, 7, 3],
      [4, 4, 8, 60, 0, 11],
    ],
    [2, 6],
    "int32",
  );
  const expected = {
    "last-block": { embedFrozen: true, blocks: 2 },
    "last-layer": { embedFrozen: true, blocks: 3 },
    all: { embedFrozen: false, blocks: 0 },
  };
  for (const trainable of ["last-block", "last-layer", "all"] as const) {
    const model = new GPTModel(cfg, { seed: 7 });
    prepareClassifier(model, { trainable });
    assert.deepEqual(frozenTrunkSize(model), expected[trainable]);
    const runner = new PlainRunner(model);
    const full = lastTokenLogitsOf(model, ids);
    const features = runner.frozenTrunk(ids);
    const viaSeam = runner.suffix(features);
    const a = full.dataSync(),
      b = viaSeam.dataSync();
    a.forEach((v, i) => assert.ok(close(v, b[i], 1e-5), `${trainable} logit ${i}`));
    tf.dispose([full, features, viaSeam]);
    model.dispose();
  }
  ids.dispose();
});

test("calcLossBatch (tfjs, differentiable) equals PyTorch's F.cross_entropy on the last token, and the float64 evaluation", async () => {
  const model = fixtureModel();
  const x = tf.tensor2d(batches[0].inputIds, [4, 10], "int32"),
    y = tf.tensor1d(batches[0].labels, "int32");
  const l = calcLossBatch(x, y, model);
  const logits = lastTokenLogitsOf(model, x);
  assert.ok(close(l.dataSync()[0], crossEntropyOfLogits(logits.dataSync() as Float32Array, batches[0].labels), 1e-5));
  // the first training step's loss in the fixture is the loss of batch 0 before any update
  assert.ok(close(l.dataSync()[0], ref.losses[0], 1e-5));
  // The runners' forms: on the frozen trunk's features with the layers after it (PlainRunner.trainStep), and
  // without gradient from a runner's logits (calcLossLoader's step).
  const runner = new PlainRunner(model);
  const features = runner.frozenTrunk(x);
  assert.ok(frozenTrunkSize(model).blocks > 0, "the fixture's trunk is frozen");
  const viaSeam = calcLossBatch(features, y, (f) => runner.suffix(f));
  assert.ok(close(viaSeam.dataSync()[0], l.dataSync()[0], 1e-6));
  assert.ok(close(await calcLossBatch(batches[0], runner), l.dataSync()[0], 1e-6));
  tf.dispose([x, y, l, logits, features, viaSeam]);
  model.dispose();
});

test("calcLossLoader / calcAccuracyLoader: num_batches = min(n, len(loader)), NaN for an empty loader", async () => {
  const model = fixtureModel();
  const runner = new PlainRunner(model);
  const per = await Promise.all(batches.map(async (b) => crossEntropyOfLogits(await runner.logits(b), b.labels)));
  const loader = fixedLoader();
  assert.ok(close(await calcLossLoader(loader, model, { numBatches: 2 }), (per[0] + per[1]) / 2, 1e-9));
  assert.ok(close(await calcLossLoader(loader, model, { numBatches: 99 }), (per[0] + per[1] + per[2]) / 3, 1e-9));
  assert.ok(Number.isNaN(await calcLossLoader(fixedLoader([]), model)));
  assert.ok(Number.isNaN(await calcAccuracyLoader(fixedLoader([]), model)));
  model.dispose();
});
