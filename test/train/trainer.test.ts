import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Writable } from "node:stream";
import * as tf from "@tensorflow/tfjs";
import {
  AdamW,
  ConfigError,
  DataLoader,
  SpamDataset,
  initBackend,
  TINY_GPT2_DIR,
  trainClassifierSimple,
} from "llm-spam-classifier";
import {
  GPT2ForSequenceClassification,
  Trainer,
  TrainingInterruptedError,
  createPlainRunner,
  listCheckpoints,
  prepareClassifier,
  resolveTrainingArguments,
  trainingPlan,
  type TrainingArguments,
} from "llm-spam-classifier/train";
import { loadPretrainedGpt2 } from "llm-spam-classifier/weights";
import type { TextLabel } from "llm-spam-classifier/data";
import { tempDir } from "../helpers";

// The Trainer on the package's tiny GPT-2 (2 blocks of width 8): the existing loop's numbers, resume, best model.
const tmp = tempDir("trainer-test-");
after(tmp.cleanup);
before(async () => {
  await initBackend();
});

const WORDS = ["great", "awful", "fine", "boring", "superb", "terrible", "fun", "dull"];
const rows: TextLabel[] = Array.from({ length: 16 }, (_, i) => ({
  text: `Review ${i}: ${WORDS[i % 8]} movie, ${WORDS[(i * 3) % 8]} plot`,
  label: i % 8 < 4 ? (i % 2 === 0 ? 1 : 0) : i % 2,
}));
const evalRows = rows.slice(0, 6).map((r, i) => ({ ...r, text: `${r.text} again ${i}` }));

/** The tiny GPT-2 with the chapter's 2-class head (seed 123) and its last block trainable. */
async function tinyClassifier() {
  const { model } = await loadPretrainedGpt2({
    weights: path.join(TINY_GPT2_DIR, "124M"),
    cacheDir: false,
    progress: false,
  });
  prepareClassifier(model, { numClasses: 2, trainable: "last-block", seed: 123 });
  return model;
}

const values = (m: { params: ReadonlyMap<string, { dataSync(): ArrayLike<number> }> }) =>
  [...m.params].map(([n, v]) => [n, Array.from(v.dataSync())] as const);
const args = (dir: string, extra: Partial<TrainingArguments> = {}): TrainingArguments => ({
  outputDir: path.join(tmp.dir, dir),
  learningRate: 1e-2,
  weightDecay: 0.1,
  perDeviceTrainBatchSize: 4,
  perDeviceEvalBatchSize: 4,
  lrSchedulerType: "constant",
  seed: 123,
  loggingSteps: 1,
  saveStrategy: "no",
  disableTqdm: true,
  ...extra,
});

/** The Trainer against the existing loop with the same AdamW (clipping at maxGradNorm, 0: none); the trained values. */
async function trainerAgainstLoop(maxGradNorm: number): Promise<number[]> {
  // The existing loop: SpamDataset + DataLoader(batch 4, shuffle seed 123, drop_last) + trainClassifierSimple, plain runner.
  const a = await tinyClassifier();
  const ds = new SpamDataset(
    rows.map((r) => ({ Label: r.label, Text: r.text })),
    undefined,
    { maxLength: 16 },
  );
  const optimizer = new AdamW(a.trainableParams(), {
    lr: 1e-2,
    weightDecay: 0.1,
    ...(maxGradNorm > 0 ? { maxGradNorm } : {}),
  });
  const runner = await createPlainRunner(a, optimizer, { native: false });
  const losses: number[] = [];
  await trainClassifierSimple(
    runner,
    new DataLoader(ds, { batchSize: 4, shuffle: true, dropLast: true, seed: 123 }),
    new DataLoader(ds, { batchSize: 4 }),
    {
      numEpochs: 1,
      evalFreq: 1000,
      evalIter: 1,
      accumulationSteps: 2,
      onProgress: (p) => losses.push(p.loss),
    },
  );
  await runner.finish();

  const b = await tinyClassifier();
  const trainer = new Trainer({
    model: new GPT2ForSequenceClassification(b, { maxLength: 16, native: false }),
    args: args(`parity-${maxGradNorm}`, {
      gradientAccumulationSteps: 2,
      numTrainEpochs: 1,
      dataloaderDropLast: true,
      maxGradNorm,
    }),
    trainDataset: rows,
  });
  await trainer.evaluate(rows); // the model caches its causal mask once (freed by dispose)
  const before = tf.memory().numTensors;
  const out = await trainer.train();
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  assert.equal(out.globalStep, 2);
  const stepLosses = trainer.state!.logHistory.filter((e) => "loss" in e).map((e) => e.loss);
  assert.equal(stepLosses.length, 2);
  stepLosses.forEach((l, i) =>
    assert.ok(Math.abs(l - (losses[2 * i] + losses[2 * i + 1]) / 2) < 1e-6, `step ${i}: ${l} vs ${losses.join(", ")}`),
  );
  assert.ok(Math.abs(out.trainingLoss - losses.reduce((s, x) => s + x, 0) / 4) < 1e-6);
  const va = values(a),
    vb = values(b);
  va.forEach(([n, x], i) => x.forEach((v, j) => assert.ok(Math.abs(v - vb[i][1][j]) < 1e-6, `${n}[${j}]`)));
  assert.ok(out.metrics.trainRuntime > 0 && out.metrics.trainSamplesPerSecond > 0);
  a.dispose();
  b.dispose();
  if (maxGradNorm > 0) assert.ok(optimizer.lastGradNorm! > maxGradNorm, `the loop's norm ${optimizer.lastGradNorm}`);
  return vb.flatMap(([, x]) => x);
}

test("equals the existing training loop (train_classifier_simple) step for step, gradient accumulation included", async () => {
  const unclipped = await trainerAgainstLoop(0);
  // Hugging Face's max_grad_norm: the same clip_grad_norm_ as the loop's AdamW, and it changes the second step
  const clipped = await trainerAgainstLoop(0.05);
  // Adam's first update ignores the gradient's scale; the second (clipped by other factors) does not
  assert.ok(unclipped.some((x, i) => Math.abs(x - clipped[i]) > 1e-4));
});

test("a run interrupted after its first epoch and resumed from the checkpoint ends as an uninterrupted one", async () => {
  const extra = {
    numTrainEpochs: 3,
    gradientAccumulationSteps: 2,
    evalStrategy: "epoch",
    saveStrategy: "epoch",
    lrSchedulerType: "linear",
  } as const;
  const whole = await tinyClassifier();
  const t1 = new Trainer({
    model: new GPT2ForSequenceClassification(whole, { maxLength: 16, native: false }),
    args: args("whole", extra),
    trainDataset: rows,
    evalDataset: evalRows,
  });
  const o1 = await t1.train();

  const part = await tinyClassifier();
  const stop = new AbortController();
  const cut = new Trainer({
    model: new GPT2ForSequenceClassification(part, { maxLength: 16, native: false }),
    args: args("resumed", extra),
    trainDataset: rows,
    evalDataset: evalRows,
    signal: stop.signal,
    log: (l) => {
      if (l.includes("evalLoss")) stop.abort(); // after the first epoch's evaluation; its checkpoint is saved next
    },
  });
  await assert.rejects(cut.train(), TrainingInterruptedError);
  assert.deepEqual(
    listCheckpoints(args("resumed").outputDir).map((d) => path.basename(d)),
    ["checkpoint-2"],
  );
  assert.deepEqual(
    fs.readdirSync(args("resumed").outputDir).filter((n) => n.startsWith(".")),
    [],
    "no staging folder left",
  );

  const fresh = await tinyClassifier(); // other weights in memory: the checkpoint's replace them
  const t2 = new Trainer({
    model: new GPT2ForSequenceClassification(fresh, { maxLength: 16, native: false }),
    args: args("resumed", extra),
    trainDataset: rows,
    evalDataset: evalRows,
  });
  const o2 = await t2.train({ resumeFromCheckpoint: true });
  assert.equal(o2.globalStep, o1.globalStep);
  assert.equal(o2.globalStep, 6);
  assert.ok(Math.abs(o2.trainingLoss - o1.trainingLoss) < 1e-6);
  const evals = (t: Trainer) => t.state!.logHistory.filter((e) => "evalLoss" in e).map((e) => e.evalLoss);
  assert.deepEqual(evals(t2).length, 3);
  evals(t2).forEach((l, i) => assert.ok(Math.abs(l - evals(t1)[i]) < 1e-6));
  const v1 = values(whole),
    v2 = values(fresh);
  v1.forEach(([n, x], i) => x.forEach((v, j) => assert.ok(Math.abs(v - v2[i][1][j]) < 1e-6, `${n}[${j}]`)));
  for (const m of [whole, part, fresh]) m.dispose();
});

test("loadBestModelAtEnd picks the best epoch's checkpoint (by evalLoss, or the opposite with greaterIsBetter)", async () => {
  for (const greaterIsBetter of [false, true]) {
    const m = await tinyClassifier();
    const trainer = new Trainer({
      model: new GPT2ForSequenceClassification(m, { maxLength: 16, native: false }),
      args: args(`best-${greaterIsBetter}`, {
        numTrainEpochs: 3,
        learningRate: 0.05,
        evalStrategy: "epoch",
        saveStrategy: "epoch",
        loadBestModelAtEnd: true,
        greaterIsBetter,
      }),
      trainDataset: rows,
      evalDataset: evalRows,
    });
    await trainer.train();
    const evals = trainer.state!.logHistory.filter((e) => "evalLoss" in e);
    assert.equal(evals.length, 3);
    const pick = evals.reduce((best, e) =>
      (greaterIsBetter ? e.evalLoss > best.evalLoss : e.evalLoss < best.evalLoss) ? e : best,
    );
    assert.equal(path.basename(trainer.state!.bestModelCheckpoint!), `checkpoint-${pick.step}`);
    const now = await trainer.evaluate();
    assert.ok(Math.abs(now.evalLoss - pick.evalLoss) < 1e-6, `${now.evalLoss} vs ${pick.evalLoss}`);
    assert.ok(now.evalAccuracy >= 0 && now.evalAccuracy <= 1 && now.evalRuntime >= 0 && now.evalSamplesPerSecond > 0);
    const pred = await trainer.predict(evalRows);
    assert.equal(pred.predictions.length, evalRows.length * 2);
    assert.deepEqual(
      Array.from(pred.labelIds),
      evalRows.map((r) => r.label),
    );
    assert.ok(Math.abs(pred.metrics.testLoss - now.evalLoss) < 1e-6);
    m.dispose();
  }
});

test("a progress bar per epoch with the batch's loss", async () => {
  const m = await tinyClassifier();
  let text = "";
  const stream = new Writable({ write: (chunk: Buffer, _enc, done) => ((text += chunk.toString()), done()) });
  const trainer = new Trainer({
    model: new GPT2ForSequenceClassification(m, { maxLength: 16, native: false }),
    args: args("bar", { numTrainEpochs: 2, disableTqdm: false }),
    trainDataset: rows,
    progress: { stream, display: null, throttleMs: 0 },
  });
  await trainer.train();
  assert.match(text, /Epoch 1\/2/);
  assert.match(text, /Epoch 2\/2.*4\/4.*loss \d\.\d{4}/);
  m.dispose();
});

test("TrainingArguments: Hugging Face's defaults, the chapter's step count, clear errors", () => {
  const r = resolveTrainingArguments({ outputDir: "x" });
  assert.deepEqual(
    [
      r.learningRate,
      r.perDeviceTrainBatchSize,
      r.numTrainEpochs,
      r.weightDecay,
      r.evalStrategy,
      r.saveStrategy,
      r.loggingSteps,
      r.seed,
      r.metricForBestModel,
      r.maxGradNorm,
    ],
    [5e-5, 8, 3, 0, "no", "steps", 500, 42, "evalLoss", 1],
  );
  // The chapter: 25,000 reviews, batch 32 × accumulation 4, 3 epochs.
  const plan = trainingPlan(
    25000,
    resolveTrainingArguments({ outputDir: "x", perDeviceTrainBatchSize: 32, gradientAccumulationSteps: 4 }),
  );
  assert.deepEqual(plan, { batchesPerEpoch: 782, stepsPerEpoch: 196, maxSteps: 588, numEpochs: 3 });
  assert.equal(
    resolveTrainingArguments({ outputDir: "x", metricForBestModel: "accuracy" }).metricForBestModel,
    "evalAccuracy",
  );
  assert.equal(resolveTrainingArguments({ outputDir: "x", metricForBestModel: "accuracy" }).greaterIsBetter, true);
  assert.throws(
    () => resolveTrainingArguments({ outputDir: "x", loadBestModelAtEnd: true, evalStrategy: "epoch" }),
    (e: unknown) => e instanceof ConfigError && /same evalStrategy and saveStrategy/.test(e.message),
  );
  assert.throws(() => resolveTrainingArguments({ outputDir: "x", gradientAccumulationSteps: 0 }), ConfigError);
  assert.throws(() => resolveTrainingArguments({ outputDir: "" }), ConfigError);
  assert.throws(
    () => resolveTrainingArguments({ outputDir: "x", maxGradNorm: -1 }),
    (e: unknown) => e instanceof ConfigError && /maxGradNorm must be a number ≥ 0/.test(e.message),
  );
});
