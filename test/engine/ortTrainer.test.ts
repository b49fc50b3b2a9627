import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { tf, initBackend, loadOnnxRuntime, AdamW, createRunner, GPTModel } from "llm-spam-classifier";
import { OrtTrainer } from "llm-spam-classifier/engine";
import { type ReadoutKind } from "llm-spam-classifier/model";
import { fixtureParamsModel, maxAbsDiff, readTinyReference } from "./fixtureModel";

// The ONNX Runtime trainer with EVERY parameter trainable (the book's exercise 6.2, the bonus experiments'
// `--trainable_layers all`) against PyTorch (scripts/fixtures/engine_reference.py → tiny-all.json): the loss at
// each of 3 AdamW steps and the logits after them, for each readout and without the causal mask.

interface AllFixture {
  pad: number;
  lr: number;
  weight_decay: number;
  trainable: string[];
  runs: Record<string, { readout: string; causal: boolean; losses: number[]; logits_after_batch2: number[][] }>;
}
const ref = readTinyReference();
const all = JSON.parse(
  fs.readFileSync(path.join(__dirname, "..", "fixtures", "engine", "tiny-all.json"), "utf8"),
) as AllFixture;
const batchOf = (i: number) => ({
  inputIds: Int32Array.from(ref.batches[i].ids.flat()),
  batchSize: ref.batches[i].ids.length,
});
const schedule = [0, 1, 0];

/** The fixture's model with every parameter trainable. */
function allTrainable() {
  const m = fixtureParamsModel(ref);
  for (const v of m.params.values()) v.trainable = true;
  assert.deepEqual(new Set(m.params.keys()), new Set(all.trainable));
  return m;
}

before(async () => {
  await initBackend();
});

for (const [name, run] of Object.entries(all.runs)) {
  test(`all trainable on ONNX Runtime reproduces PyTorch's losses at 3 AdamW steps and the logits after (${name})`, async (t) => {
    if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
    const model = allTrainable();
    const trainer = await OrtTrainer.create(model, {
      readout: run.readout as ReadoutKind,
      causal: run.causal,
      padTokenId: all.pad,
      threads: 1,
    });
    assert.equal(trainer.trainable.length, all.trainable.length);
    for (let s = 0; s < 3; s++) {
      const i = schedule[s];
      const loss = await trainer.trainStep(batchOf(i), ref.batches[i].labels, {
        lr: all.lr,
        weightDecay: all.weight_decay,
      });
      assert.ok(Math.abs(loss - run.losses[s]) <= 1e-4, `step ${s}: ${loss} vs ${run.losses[s]}`);
    }
    const logits = await trainer.logits(batchOf(1));
    assert.ok(maxAbsDiff(logits, run.logits_after_batch2) <= 1e-4, "logits after training");
    await trainer.dispose(); // writes the weights back into the model's variables
    const back = model.params.get("tok_emb.weight")!;
    const before = fixtureParamsModel(ref);
    assert.ok(
      maxAbsDiff(back.dataSync(), before.params.get("tok_emb.weight")!.dataSync()) > 1e-4,
      "weights written back",
    );
    before.dispose();
    model.dispose();
  });
}

test("100 native steps leak no tensor, keep gradients and optimizer state off the tfjs heap, and createRunner picks the native path for `all`", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const model = new GPTModel(
    { vocabSize: 50, contextLength: 8, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true },
    { seed: 2 },
  );
  model.replaceOutHead(2);
  model.setTrainable([...model.params.keys()]);
  const optimizer = new AdamW(model.trainableParams(), { lr: 1e-3 });
  const logs: string[] = [];
  const runner = await createRunner(model, optimizer, { log: (l) => logs.push(l) });
  assert.equal(runner.kind, "native");
  assert.ok(logs.some((l) => /Native training path/.test(l)));
  const batch = {
    inputIds: Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 50),
    labels: Int32Array.from([0, 1]),
    indices: [0, 1],
    batchSize: 2,
    seqLen: 8,
  };
  const tensors = tf.memory().numTensors,
    bytes = tf.memory().numBytes;
  let first = NaN,
    last = NaN;
  for (let s = 0; s < 100; s++) {
    last = await runner.trainStep(batch);
    if (s === 0) first = last;
  }
  assert.equal(tf.memory().numTensors, tensors, "no tensor leak over 100 steps");
  assert.equal(tf.memory().numBytes, bytes, "nothing of the optimizer lives in tfjs");
  assert.ok(last < first, `the loss falls (${first} → ${last})`);
  await runner.finish();
  optimizer.dispose();
  model.dispose();
});
