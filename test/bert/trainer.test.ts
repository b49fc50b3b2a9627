import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, loadOnnxRuntime, BertTokenizer } from "llm-spam-classifier";
import { BertForSequenceClassification, Trainer, listCheckpoints } from "llm-spam-classifier/train";
import { bertWeightArrays, loadBertModel, SafetensorsFile } from "llm-spam-classifier/weights";
import { BERT_FIXTURES } from "./fixture";

// The Trainer (Hugging Face's, train/trainer.ts) on the tiny BERT through its TrainerModel seam: native training
// with the Trainer's schedule, evaluation each epoch, checkpoints in Hugging Face's layout, the best model at the end.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bert-trainer-"));
const rows = [
  { text: "a great movie, i love it!", label: 1 },
  { text: "boring plot, the worst film ever.", label: 0 },
  { text: "very fun story and great acting", label: 1 },
  { text: "i hate this bad movie", label: 0 },
  { text: "the best film, very good", label: 1 },
  { text: "not good, boring and bad", label: 0 },
  { text: "love the story", label: 1 },
  { text: "unbelievably bad acting", label: 0 },
];

before(async () => {
  await initBackend();
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("the Trainer fine-tunes BERT: loss falls, accuracy per epoch, HF checkpoints, the best model loaded at the end", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const { model } = loadBertModel(BERT_FIXTURES);
  const bert = new BertForSequenceClassification(model, BertTokenizer.fromDir(BERT_FIXTURES), {
    maxLength: 16,
    threads: 1,
  });
  const outputDir = path.join(tmp, "run");
  const trainer = new Trainer({
    model: bert,
    args: {
      outputDir,
      learningRate: 2e-3,
      weightDecay: 0.01,
      perDeviceTrainBatchSize: 4,
      perDeviceEvalBatchSize: 8,
      numTrainEpochs: 4,
      evalStrategy: "epoch",
      saveStrategy: "epoch",
      loadBestModelAtEnd: true,
      metricForBestModel: "accuracy",
      loggingSteps: 1,
      seed: 42,
      disableTqdm: true,
      // This run checks the loop's mechanics on a tiny random BERT: its loss falls within 8 steps unclipped.
      // Clipping (the default, 1.0) is checked against PyTorch's clip_grad_norm_ in test/train/options.test.ts.
      maxGradNorm: 0,
    },
    trainDataset: rows,
    evalDataset: rows,
  });
  const before = await trainer.evaluate();
  const out = await trainer.train();
  assert.equal(out.globalStep, 8);
  const losses = trainer.state!.logHistory.filter((e) => "loss" in e).map((e) => e.loss);
  assert.ok(losses.slice(-2).reduce((a, v) => a + v) < losses.slice(0, 2).reduce((a, v) => a + v), losses.join(" "));
  const checkpoints = listCheckpoints(outputDir);
  assert.equal(checkpoints.length, 4);
  for (const f of ["model.safetensors", "config.json"]) assert.ok(fs.existsSync(path.join(checkpoints[0], f)), f);
  // A checkpoint is a Hugging Face folder: it loads as a BERT on its own.
  const reloaded = loadBertModel(checkpoints.at(-1)!, { missingHead: "error" });
  reloaded.model.dispose();
  // The model holds the best checkpoint's weights (finish() did not write the last step's over them).
  const best = trainer.state!.bestModelCheckpoint!;
  assert.ok(best);
  const bestValues = bertWeightArrays(path.join(best, "model.safetensors"), model.cfg);
  for (const n of ["classifier.weight", "bert.encoder.layer.1.output.dense.weight"])
    assert.deepEqual(model.param(n).dataSync(), bestValues.get(n), n);
  const after = await trainer.evaluate();
  assert.ok(after.evalAccuracy >= before.evalAccuracy, `${before.evalAccuracy} → ${after.evalAccuracy}`);
  assert.ok(after.evalLoss < before.evalLoss, `${before.evalLoss} → ${after.evalLoss}`);
  model.dispose();
});

test("a resumed BERT run continues exactly: checkpoints hold the native runner's AdamW moments and step count", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const args = (outputDir: string) => ({
    outputDir,
    learningRate: 2e-3,
    weightDecay: 0.01,
    perDeviceTrainBatchSize: 4,
    numTrainEpochs: 3,
    saveStrategy: "epoch" as const,
    loggingSteps: 1,
    seed: 42,
    disableTqdm: true,
  });
  const trainOnce = async (outputDir: string, resume?: string) => {
    const { model } = loadBertModel(BERT_FIXTURES);
    const bert = new BertForSequenceClassification(model, BertTokenizer.fromDir(BERT_FIXTURES), { maxLength: 16 });
    const trainer = new Trainer({ model: bert, args: args(outputDir), trainDataset: rows });
    await trainer.train({ resumeFromCheckpoint: resume });
    const values = new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
    model.dispose();
    return values;
  };
  const straightDir = path.join(tmp, "straight");
  const straight = await trainOnce(straightDir);
  const [first] = listCheckpoints(straightDir);
  assert.equal(path.basename(first), "checkpoint-2");
  // The checkpoint holds AdamW's state of every trained parameter after 2 steps: non-zero moments.
  const st = new SafetensorsFile(path.join(first, "optimizer.safetensors"));
  assert.equal(st.metadata.step, "2");
  const m = st.readTensor("m.bert.encoder.layer.0.attention.self.query.weight").data;
  const v = st.readTensor("v.classifier.weight").data;
  assert.ok(m.some((x) => x !== 0) && v.some((x) => x > 0));
  assert.equal(st.listVariables("m.").length, straight.size);
  // Resumed from the first epoch's checkpoint (in another folder), the run ends where the straight one did.
  const resumedDir = path.join(tmp, "resumed");
  fs.cpSync(first, path.join(resumedDir, "checkpoint-2"), { recursive: true });
  const resumed = await trainOnce(resumedDir, path.join(resumedDir, "checkpoint-2"));
  let worst = 0;
  for (const [n, want] of straight) {
    const got = resumed.get(n)!;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  assert.ok(worst < 1e-6, `largest difference ${worst}`);
});
