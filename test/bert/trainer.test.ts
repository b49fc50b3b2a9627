import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend, loadOnnxRuntime, BertTokenizer } from "llm-spam-classifier";
import { BertForSequenceClassification, Trainer, listCheckpoints } from "llm-spam-classifier/train";
import { bertWeightArrays, loadBertModel } from "llm-spam-classifier/weights";
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
