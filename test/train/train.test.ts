import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  tf, initBackend, loadClassifier, saveClassifier, AdamW, PlainRunner, createRunner, prepareClassifier, classifierParamCount, modelConfig,
  GPTModel, calcLossLoader, calcAccuracyLoader, calcLossBatch, crossEntropyOfLogits, formatEvalLine, formatAccuracyLine,
  checkTrainable, ConfigError, type Batch, type ClassifierRunner,
} from "llm-spam-classifier";

// Written by scripts/fixtures/train_reference.py: the book's loop in PyTorch on a small random GPT.
const FIX = path.join(__dirname, "..", "fixtures", "train");
const ref = JSON.parse(fs.readFileSync(path.join(FIX, "train_steps.json"), "utf8"));
const adamRef = JSON.parse(fs.readFileSync(path.join(FIX, "adamw.json"), "utf8"));
const batches: Batch[] = ref.batches.map((b: { inputIds: number[]; labels: number[] }, i: number) => ({
  inputIds: Int32Array.from(b.inputIds), labels: Int32Array.from(b.labels), indices: [0, 1, 2, 3].map((k) => i * 4 + k), batchSize: 4, seqLen: 10,
}));

before(async () => { await initBackend(); });

/** The fixture's classifier with the book's trainable layers (last block, final norm, head). */
function fixtureModel() {
  const { model } = loadClassifier(FIX);
  model.setTrainable(["trf_blocks.1", "final_norm", "out_head"]);
  return model;
}

test("AdamW equals torch.optim.AdamW on fixed tensors (5 steps)", () => {
  const p1 = tf.variable(tf.tensor(adamRef.init[0], adamRef.shapes[0])), p2 = tf.variable(tf.tensor(adamRef.init[1], adamRef.shapes[1]));
  const opt = new AdamW(new Map([["a", p1], ["b", p2]]), { lr: adamRef.lr, weightDecay: adamRef.weight_decay });
  for (const [g1, g2] of adamRef.grads as number[][][]) {
    const grads = { a: tf.tensor(g1, adamRef.shapes[0]), b: tf.tensor(g2, adamRef.shapes[1]) };
    opt.step(grads);
    tf.dispose(Object.values(grads));
  }
  const got = [...p1.dataSync(), ...p2.dataSync()], want = [...adamRef.final[0], ...adamRef.final[1]];
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `element ${i}: ${v} vs ${want[i]}`));
  opt.dispose(); tf.dispose([p1, p2]);
});

async function runSteps(runner: ClassifierRunner): Promise<number[]> {
  const losses: number[] = [];
  for (let s = 0; s < ref.steps; s++) losses.push(await runner.trainStep(batches[s % 3]));
  return losses;
}

for (const pathKind of ["plain", "fast"] as const) {
  test(`the ${pathKind} training path reproduces PyTorch's losses step by step and its final logits`, async () => {
    const model = fixtureModel();
    const opt = new AdamW(model.trainableParams(), { lr: ref.lr, weightDecay: ref.weight_decay });
    const runner = await createRunner(model, opt, { path: pathKind, sequences: batches.flatMap((b) => [0, 1, 2, 3].map((r) => b.inputIds.subarray(r * 10, r * 10 + 10))) });
    assert.equal(runner.kind, pathKind);
    const losses = await runSteps(runner);
    losses.forEach((l, i) => assert.ok(Math.abs(l - ref.losses[i]) < 1e-4, `step ${i}: ${l} vs ${ref.losses[i]}`));
    for (let b = 0; b < 3; b++) {
      const logits = await runner.logits(batches[b]);
      ref.final_logits[b].flat().forEach((v: number, i: number) => assert.ok(Math.abs(logits[i] - v) < 1e-4, `batch ${b} logit ${i}: ${logits[i]} vs ${v}`));
    }
    await runner.finish();
    opt.dispose(); model.dispose();
  });
}

test("plain training steps leak no tensors after the first (AdamW moments) step", async () => {
  const model = fixtureModel();
  const opt = new AdamW(model.trainableParams(), { lr: 1e-3 });
  const runner = new PlainRunner(model, opt);
  await runner.trainStep(batches[0]);
  const n = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await runner.trainStep(batches[i % 3]);
  assert.equal(tf.memory().numTensors, n);
  opt.dispose(); model.dispose();
});

test("loss and accuracy over a loader follow the book's num_batches semantics", async () => {
  const model = fixtureModel();
  const loader = { length: 3, *[Symbol.iterator]() { yield* batches; } } as unknown as Parameters<typeof calcLossLoader>[0];
  const runner = new PlainRunner(model);
  const per = await Promise.all(batches.map(async (b) => crossEntropyOfLogits(await runner.logits(b), b.labels)));
  assert.ok(Math.abs((await calcLossLoader(loader, model, { numBatches: 2 })) - (per[0] + per[1]) / 2) < 1e-9);
  assert.ok(Math.abs((await calcLossLoader(loader, model, { numBatches: 99 })) - (per[0] + per[1] + per[2]) / 3) < 1e-9);
  const empty = { length: 0, *[Symbol.iterator]() {} } as unknown as Parameters<typeof calcLossLoader>[0];
  assert.ok(Number.isNaN(await calcLossLoader(empty, model)));
  const acc = await calcAccuracyLoader(loader, model, { numBatches: 1 });
  assert.ok(acc >= 0 && acc <= 1 && Number.isInteger(acc * 4));
  // calcLossBatch (tfjs, differentiable) equals the float64 evaluation
  const x = tf.tensor2d(batches[0].inputIds, [4, 10], "int32"), y = tf.tensor1d(batches[0].labels, "int32");
  const l = calcLossBatch(x, y, model);
  assert.ok(Math.abs(l.dataSync()[0] - per[0]) < 1e-5);
  tf.dispose([x, y, l]); model.dispose();
});

test("the book's trainable counts: 124,441,346 parameters, 7,090,946 trainable; other choices", () => {
  assert.deepEqual(classifierParamCount(modelConfig("124M")), { total: 124_441_346, trainable: 7_090_946 });
  assert.equal(classifierParamCount(modelConfig("124M"), 2, "last-layer").trainable, 1538);
  assert.equal(classifierParamCount(modelConfig("124M"), 2, "all").trainable, 124_441_346);
  const cfg = { vocabSize: 100, contextLength: 8, embDim: 8, nHeads: 2, nLayers: 3, dropRate: 0, qkvBias: true };
  for (const t of ["last-block", "all", "last-layer"] as const) {
    const m = new GPTModel(cfg);
    assert.deepEqual(prepareClassifier(m, { trainable: t }), classifierParamCount(cfg, 2, t));
    m.dispose();
  }
  assert.equal(checkTrainable("last_block"), "last-block");
  assert.throws(() => checkTrainable("everything"), ConfigError);
});

test("log lines use the book's format", () => {
  assert.equal(formatEvalLine(1, 50, 0.6171, 0.637), "Ep 1 (Step 000050): Train loss 0.617, Val loss 0.637");
  assert.equal(formatAccuracyLine(0.7, 0.725), "Training accuracy: 70.00% | Validation accuracy: 72.50%");
});

test("save and load round-trip the classifier exactly, atomically, with its trained length", () => {
  const model = fixtureModel();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clf-"));
  saveClassifier(dir, model, { maxLength: 10 });
  assert.deepEqual(fs.readdirSync(dir).sort(), ["config.json", "model.safetensors"]);
  const { model: back, config } = loadClassifier(dir);
  assert.equal(config.maxLength, 10);
  assert.equal(back.trainedMaxLength, 10);
  for (const [name, v] of model.params) assert.deepEqual(back.param(name).dataSync(), v.dataSync(), name);
  assert.throws(() => loadClassifier(path.join(dir, "nope")), /No fine-tuned classifier/);
  fs.rmSync(dir, { recursive: true }); model.dispose(); back.dispose();
});
