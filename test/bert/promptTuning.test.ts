import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf, initBackend, loadOnnxRuntime, BertTokenizer } from "llm-spam-classifier";
import { BertModel, addBertSoftPrompt } from "llm-spam-classifier/model";
import { PromptTunedBert, loadBertPrompt } from "llm-spam-classifier/train";
import { SafetensorsFile, loadBertModel } from "llm-spam-classifier/weights";
import { BERT_FIXTURES, fixtureBatch, maxAbsDiff, readBertReference } from "./fixture";

// The fine-tuning chapter's prompt tuning of BERT against PyTorch (bert_reference.py): a [1, n, E] prompt from
// the word embeddings of the fixture's ids in front of [CLS], n ones in front of the mask, everything else frozen,
// AdamW with clip_grad_norm_ — 3 steps' losses, gradient norms, the prompt and the logits after.
const ref = readBertReference();
const p = ref.prompt;

before(async () => {
  await initBackend();
});

test("prompt tuning reproduces PyTorch's 3 steps (losses, clipped gradient norms, prompt, logits) within 1e-4", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const { model } = loadBertModel(BERT_FIXTURES);
  const tuner = await PromptTunedBert.create(model, BertTokenizer.fromDir(BERT_FIXTURES), {
    initIds: p.initIds,
    lr: p.lr,
    weightDecay: p.weightDecay,
    maxGradNorm: p.maxGradNorm,
    maxLength: 40,
    threads: 1,
  });
  try {
    assert.equal(model.numParams({ trainableOnly: true }), p.numTokens * 32);
    assert.deepEqual(tuner.runner.trainer.trainable, ["prompt_embeddings"]);
    assert.equal(tuner.inputLength, 40 - p.numTokens);
    for (let s = 0; s < 3; s++) {
      const loss = await tuner.trainStep(fixtureBatch(ref, s));
      assert.ok(Math.abs(loss - p.losses[s]) <= 1e-4, `step ${s}: ${loss} vs ${p.losses[s]}`);
      const norm = tuner.runner.trainer.lastGradNorm!;
      assert.ok(
        Math.abs(norm - p.gradNorms[s]) <= 1e-4 * Math.max(1, p.gradNorms[s]),
        `norm ${s}: ${norm} vs ${p.gradNorms[s]}`,
      );
    }
    assert.ok(
      p.gradNorms.every((g) => g > p.maxGradNorm),
      "the fixture's gradients are clipped at every step",
    );
    assert.ok(maxAbsDiff(tuner.prompt(), p.promptAfter) <= 1e-4, "prompt after 3 steps");
    for (let i = 0; i < 3; i++) {
      const d = maxAbsDiff(await tuner.logits(fixtureBatch(ref, i)), p.logitsAfter[i].flat());
      assert.ok(d <= 1e-4, `logits after, batch ${i}: max |Δ| ${d}`);
    }
    const answer = await tuner.predict("This movie was great, I love it!");
    assert.ok(answer.prediction === 0 || answer.prediction === 1);
    assert.ok(Math.abs(answer.probabilities[0] + answer.probabilities[1] - 1) < 1e-6);
    assert.equal(answer.confidence, Math.max(...answer.probabilities));
    await assert.rejects(tuner.predict("  "), /empty text/);
  } finally {
    await tuner.finish();
  }
  // The frozen weights did not move; the tfjs model with the trained prompt gives PyTorch's logits too.
  const b = fixtureBatch(ref, 0);
  const ids = tf.tensor2d(b.inputIds, [b.batchSize, b.seqLen], "int32");
  const logits = model.logits(ids);
  assert.ok(maxAbsDiff(logits.dataSync(), p.logitsAfter[0].flat()) <= 1e-4);
  tf.dispose([ids, logits]);
  model.dispose();
});

test("the prompt saves as safetensors ([1, 20, 768]: 61,440 bytes of data) and loads in front of the same BERT", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const cfg = {
    vocabSize: 50,
    hiddenSize: 768,
    numHiddenLayers: 1,
    numAttentionHeads: 12,
    intermediateSize: 16,
    maxPositionEmbeddings: 64,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    hiddenDropoutProb: 0,
    numLabels: 2,
    padTokenId: 0,
  };
  const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie"];
  const tokenizer = BertTokenizer.fromVocab([...vocab, ...Array.from({ length: 42 }, (_, i) => `w${i}`)]);
  const model = new BertModel(cfg, { seed: 5 });
  const lines: string[] = [];
  const tuner = await PromptTunedBert.create(model, tokenizer, { seed: 7, threads: 1, log: (l) => lines.push(l) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bert-prompt-"));
  try {
    assert.match(lines[0], /^Trainable parameters: 15,360 \(of /);
    assert.equal(tuner.initIds.length, 20);
    assert.equal(tuner.inputLength, 44);
    const batch = tuner.encode(["good movie", "bad movie"], [1, 0]);
    assert.deepEqual([batch.batchSize, batch.seqLen], [2, 44]);
    await tuner.trainStep(batch);
    const file = path.join(dir, "imdb_prompt_embeddings.safetensors");
    tuner.savePrompt(file);
    const st = new SafetensorsFile(file);
    const e = st.entries.get("prompt_embeddings")!;
    assert.deepEqual(e.shape, [1, 20, 768]);
    assert.equal(e.end - e.begin, 61_440);
    const before = await tuner.logits(batch);
    await tuner.finish();
    // A fresh copy of the base model with the saved prompt gives the same logits.
    const copy = new BertModel(cfg, { seed: 5 });
    assert.equal(loadBertPrompt(file, copy), 20);
    assert.equal(copy.numParams({ trainableOnly: true }), 0);
    const ids = tf.tensor2d(batch.inputIds, [2, 44], "int32");
    const logits = copy.logits(ids);
    assert.ok(maxAbsDiff(logits.dataSync(), before) <= 1e-4);
    tf.dispose([ids, logits]);
    assert.throws(() => addBertSoftPrompt(copy), /already has a soft prompt/);
    copy.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    model.dispose();
  }
});
