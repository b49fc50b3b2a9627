import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  tf,
  initBackend,
  GPTModel,
  prepareClassifier,
  loadOnnxRuntime,
  OnnxClassifier,
  classifyWithProbability,
  generateText,
  ConfigError,
} from "llm-spam-classifier";
import { generateTextOnnx } from "llm-spam-classifier/engine";

// Classification and generation on ONNX Runtime give what the tfjs functions give, on a small random GPT
// with GPT-2's vocabulary (so the real tokenizer's ids fit).
const CFG = { vocabSize: 50257, contextLength: 24, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };
before(async () => {
  await initBackend();
});

test("OnnxClassifier: the labels and spam probabilities of classifyWithProbability, over several batches", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const model = new GPTModel(CFG, { seed: 11 });
  prepareClassifier(model, { seed: 5 });
  const texts = Array.from(
    { length: 11 },
    (_, i) => `Message number ${i}: ${"win cash now ".repeat(i % 4)}call me later`,
  );
  const onnx = await OnnxClassifier.create(model);
  const tensors = tf.memory().numTensors;
  const got = await onnx.classify(texts, undefined, { maxLength: 20 });
  assert.equal(tf.memory().numTensors, tensors, "no tfjs tensors involved");
  await onnx.release();
  assert.equal(got.length, texts.length);
  texts.forEach((text, i) => {
    const want = classifyWithProbability(text, model, undefined, { maxLength: 20 });
    assert.equal(got[i].label, want.label, text);
    assert.ok(
      Math.abs(got[i].spamProbability - want.spamProbability) < 1e-5,
      `${text}: ${got[i].spamProbability} vs ${want.spamProbability}`,
    );
  });
  await assert.rejects(
    OnnxClassifier.create(model).then((c) => c.classify(["fine", " "]).finally(() => c.release())),
    ConfigError,
    "an empty text is a ConfigError",
  );
  model.dispose();
});

test("OnnxClassifier refuses a model without the 2-class head", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const lm = new GPTModel(CFG, { seed: 3 });
  await assert.rejects(OnnxClassifier.create(lm), /2 outputs; this model has 50257/);
  lm.dispose();
});

test("generateTextOnnx: the tokens of generateText (greedy), also past the context length, and the first logits", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const model = new GPTModel(CFG, { seed: 21 });
  for (const maxNewTokens of [0, 5, 30]) {
    // 30: the context (24 tokens) is cropped, as in generate_text_simple
    const want = await generateText(model, "Every effort moves you", { maxNewTokens });
    const got = await generateTextOnnx(model, "Every effort moves you", { maxNewTokens });
    assert.equal(got.text, want, `maxNewTokens ${maxNewTokens}`);
    assert.equal(got.tokenIds.length, 4 + maxNewTokens);
  }
  const g = await generateTextOnnx(model, "Every effort moves you", { maxNewTokens: 1 });
  const idx = tf.tensor2d([g.tokenIds.slice(0, 4)], [1, 4], "int32");
  const logits = tf.tidy(() => model.forward(idx).slice([0, 3, 0], [1, 1, -1]).dataSync());
  g.firstLogits.forEach((v, i) => assert.ok(Math.abs(v - logits[i]) < 1e-4, `logit ${i}`));
  idx.dispose();
  model.dispose();
});
