import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  tf,
  initBackend,
  loadOnnxRuntime,
  AdamW,
  createRunner,
  loadClassifier,
  modelConfig,
  ConfigError,
  GPTModel,
  OnnxClassifier,
  type Batch,
} from "llm-spam-classifier";
import {
  addSoftPrompt,
  promptParamCount,
  randomPromptIds,
  softPromptLength,
  frozenTrunkSize,
} from "llm-spam-classifier/model";
import {
  lastTokenLogitsOf,
  trainingMemoryInput,
  preparePromptTuningClassifier,
  promptInitIds,
  resolvePromptTuningOptions,
  saveSoftPrompt,
  loadSoftPrompt,
  saveClassifier,
} from "llm-spam-classifier/train";
import { maxAbsDiff } from "../engine/fixtureModel";

// Prompt tuning against PyTorch 1.13 (scripts/fixtures/prompt_tuning_reference.py): a soft prompt prepended to
// the token embeddings of the small random GPT classifier of test/fixtures/lora, initialised from the same ids.

interface PromptRun {
  num_tokens: number;
  head: "frozen" | "trainable";
  init_ids: number[];
  num_trainable: number;
  losses: number[];
  logits_after: number[][][];
  prompt_after: number[][];
}
const ref = JSON.parse(
  fs.readFileSync(path.join(__dirname, "..", "fixtures", "prompt", "prompt_steps.json"), "utf8"),
) as {
  batches: Array<{ inputIds: number[]; labels: number[] }>;
  lr: number;
  weight_decay: number;
  runs: Record<string, PromptRun>;
};
const batches: Batch[] = ref.batches.map((b, i) => ({
  inputIds: Int32Array.from(b.inputIds),
  labels: Int32Array.from(b.labels),
  indices: [0, 1, 2, 3].map((k) => i * 4 + k),
  batchSize: 4,
  seqLen: 10,
}));

before(async () => {
  await initBackend();
});

test("20 virtual tokens on 124M train 15,360 parameters (61,440 bytes of float32)", () => {
  assert.equal(promptParamCount(modelConfig("124M"), 20), 15_360);
  assert.equal(promptParamCount(modelConfig("124M"), 20) * 4, 61_440);
});

for (const [name, run] of Object.entries(ref.runs)) {
  for (const pathKind of ["plain", "native"] as const) {
    test(`prompt tuning (${name}) on the ${pathKind} path reproduces PyTorch's loss at 3 AdamW steps, the prompt and the logits after`, async (t) => {
      if (pathKind === "native" && !loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
      const { model } = loadClassifier(path.join(__dirname, "..", "fixtures", "lora"));
      model.freezeAll();
      if (run.head === "trainable") model.setTrainable(["out_head"]);
      assert.deepEqual(addSoftPrompt(model, { initIds: run.init_ids }), run.init_ids);
      assert.equal(softPromptLength(model), run.num_tokens);
      assert.equal(model.numParams({ trainableOnly: true }), run.num_trainable);
      assert.deepEqual(frozenTrunkSize(model), { embedFrozen: false, blocks: 0 }, "the prompt trains: no frozen trunk");
      const opt = new AdamW(model.trainableParams(), { lr: ref.lr, weightDecay: ref.weight_decay });
      const runner = await createRunner(model, opt, { path: pathKind, native: false });
      assert.equal(runner.kind, pathKind);
      let tensors = 0;
      for (let s = 0; s < 3; s++) {
        const loss = await runner.trainStep(batches[s]);
        assert.ok(Math.abs(loss - run.losses[s]) <= 1e-4, `step ${s}: ${loss} vs ${run.losses[s]}`);
        if (s === 0) tensors = tf.memory().numTensors;
      }
      assert.equal(tf.memory().numTensors, tensors, "no tensor leak over the steps");
      for (let b = 0; b < 3; b++) {
        const logits = await runner.logits(batches[b]);
        assert.ok(maxAbsDiff(logits, run.logits_after[b]) <= 1e-4, `batch ${b} logits after training`);
      }
      await runner.finish();
      assert.ok(
        maxAbsDiff(model.param("prompt_embeddings").dataSync(), run.prompt_after) <= 1e-5,
        "the trained prompt",
      );
      opt.dispose();
      model.dispose();
    });
  }
}

test("a soft prompt: seeded random ids, the context length counts it, ONNX Runtime inference equals tfjs", async (t) => {
  const cfg = { vocabSize: 64, contextLength: 12, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };
  assert.deepEqual(randomPromptIds(64, 4, 7), randomPromptIds(64, 4, 7));
  assert.ok(randomPromptIds(64, 50, 7).every((id) => Number.isInteger(id) && id >= 0 && id < 64));
  const model = new GPTModel(cfg, { seed: 3 });
  model.replaceOutHead(2);
  const ids = addSoftPrompt(model, { numTokens: 4, seed: 7 });
  assert.deepEqual(
    [...model.param("prompt_embeddings").dataSync()].slice(0, 8),
    [...model.param("tok_emb.weight").dataSync()].slice(ids[0] * 8, ids[0] * 8 + 8),
    "initialised from the ids' embeddings",
  );
  assert.throws(() => addSoftPrompt(model), ConfigError);
  assert.throws(() => addSoftPrompt(new GPTModel(cfg), { initIds: [64] }), ConfigError);
  const x = tf.tensor2d([[1, 5, 9, 2, 7, 3, 4, 4, 8]], [1, 9], "int32"); // 4 + 9 > 12
  assert.throws(
    () => lastTokenLogitsOf(model, x),
    /9 tokens after a 4-token soft prompt; the model supports at most 12 in all/,
  );
  const ok = tf.tensor2d([[1, 5, 9, 2, 7, 3]], [1, 6], "int32");
  const want = lastTokenLogitsOf(model, ok);
  assert.equal(
    trainingMemoryInput(model, { batchSize: 1, seqLen: 6, path: "plain", trunkOnOnnx: false }).path.kind,
    "plain",
  );
  if (loadOnnxRuntime()) {
    const clf = await OnnxClassifier.create(Object.assign(model, { trainedMaxLength: 6 }));
    const got = await (
      clf as unknown as { engine: { run(ids: Int32Array, b: number): Promise<Float32Array> } }
    ).engine.run(Int32Array.from([1, 5, 9, 2, 7, 3]), 1);
    assert.ok(maxAbsDiff(got, want.dataSync()) <= 1e-5, "ONNX Runtime with the prompt (symbolic sequence length)");
    await clf.release();
  } else t.diagnostic("onnxruntime-node unavailable");
  tf.dispose([x, ok, want]);
  model.dispose();
});

test("preparePromptTuningClassifier: everything frozen but the prompt (and the head on request); the prompt saves, loads and travels with the classifier", () => {
  const cfg = { vocabSize: 50257, contextLength: 32, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true };
  const lines: string[] = [];
  const model = new GPTModel(cfg, { seed: 3 });
  assert.equal(preparePromptTuningClassifier(model, { numTokens: 4, log: (l) => lines.push(l) }), 4 * 8);
  assert.match(lines.join("\n"), /^Total parameters: [\d,]+; trainable: 32$/m);
  const withHead = new GPTModel(cfg, { seed: 3 });
  assert.equal(preparePromptTuningClassifier(withHead, { numTokens: 4, head: "trainable" }), 4 * 8 + 8 * 2 + 2);
  // PEFT's TEXT init: the text's tokens, repeated or cut to n.
  assert.deepEqual(promptInitIds("a b", 5), [64, 275, 64, 275, 64]); // GPT-2's "a", " b", repeated
  assert.deepEqual(promptInitIds("a b", 1), [64]); // cut
  assert.throws(() => resolvePromptTuningOptions({ numTokens: 0 }), ConfigError);

  model.setParam("prompt_embeddings", tf.randomNormal([4, 8], 0, 1, "float32", 5));
  const x = tf.tensor2d([[1, 5, 9, 2, 7, 3]], [1, 6], "int32");
  const want = lastTokenLogitsOf(model, x);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prompt-"));
  const saved = saveSoftPrompt(path.join(dir, "soft-prompt"), model);
  assert.equal(fs.statSync(path.join(dir, "soft-prompt", "soft-prompt.safetensors")).size > 4 * 8 * 4, true);
  assert.equal(saved.numTokens, 4);
  const base = new GPTModel(cfg, { seed: 3 });
  base.replaceOutHead(2, { seed: 123 });
  loadSoftPrompt(path.join(dir, "soft-prompt"), base);
  const got = lastTokenLogitsOf(base, x);
  assert.equal(maxAbsDiff(got.dataSync(), want.dataSync()), 0, "round trip");
  const foreign = new GPTModel(cfg, { seed: 4 });
  foreign.replaceOutHead(2, { seed: 123 });
  assert.throws(() => loadSoftPrompt(path.join(dir, "soft-prompt"), foreign), /other base weights/);
  // The classifier saved with its prompt loads with it.
  saveClassifier(path.join(dir, "clf"), model, { maxLength: 6 });
  const { model: loaded } = loadClassifier(path.join(dir, "clf"));
  const again = lastTokenLogitsOf(loaded, x);
  assert.equal(maxAbsDiff(again.dataSync(), want.dataSync()), 0, "classifier with its prompt");
  tf.dispose([x, want, got, again]);
  for (const m of [model, withHead, base, foreign, loaded]) m.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});
