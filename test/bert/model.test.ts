import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { tf, initBackend } from "llm-spam-classifier";
import { BERT_BASE_UNCASED, BertModel, bertParameterShapes, attentionMaskOf } from "llm-spam-classifier/model";
import { loadBertModel } from "llm-spam-classifier/weights";
import { BERT_FIXTURES, fixtureBatch, maxAbsDiff, readBertReference } from "./fixture";

// BERT's definition run with tfjs against the hand-written Hugging Face layout in PyTorch (bert_reference.py).
const ref = readBertReference();

before(async () => {
  await initBackend();
});

test("bert-base-uncased for sequence classification has Hugging Face's 109,483,778 parameters", () => {
  const n = bertParameterShapes(BERT_BASE_UNCASED).reduce((a, [, s]) => a + s.reduce((x, d) => x * d, 1), 0);
  assert.equal(n, 109_483_778);
  assert.equal(bertParameterShapes(BERT_BASE_UNCASED).length, 5 + 12 * 16 + 4);
});

test("tfjs logits of the tiny BERT equal PyTorch's (padding mask; token types) within 1e-4", () => {
  const { model } = loadBertModel(BERT_FIXTURES);
  try {
    const before = tf.memory().numTensors;
    ref.batches.forEach((_, i) => {
      const b = fixtureBatch(ref, i);
      const ids = tf.tensor2d(b.inputIds, [b.batchSize, b.seqLen], "int32");
      const logits = model.logits(ids);
      const d = maxAbsDiff(logits.dataSync(), ref.logits[i].flat());
      tf.dispose([ids, logits]);
      assert.ok(d <= 1e-4, `batch ${i}: max |Δ| ${d}`);
    });
    const b = fixtureBatch(ref, 0);
    const types = tf.tensor2d(Int32Array.from(ref.tokenTypeIds), [b.batchSize, b.seqLen], "int32");
    const ids = tf.tensor2d(b.inputIds, [b.batchSize, b.seqLen], "int32");
    const logits = model.logits(ids, { tokenTypeIds: types });
    const d = maxAbsDiff(logits.dataSync(), ref.logitsWithTokenTypes.flat());
    assert.ok(d <= 1e-4, `token types: max |Δ| ${d}`);
    // The padded positions change nothing: the same rows without their padding give the same logits.
    const row = Array.from(b.inputIds.slice(0, b.seqLen)).filter((id) => id !== 0);
    const shortIds = tf.tensor2d(Int32Array.from(row), [1, row.length], "int32");
    const short = model.logits(shortIds);
    assert.ok(maxAbsDiff(short.dataSync(), ref.logits[0][0]) <= 1e-4);
    tf.dispose([types, ids, logits, shortIds, short]);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    model.dispose();
  }
});

test("attentionMaskOf marks [PAD] (id 0) with 0 and every token with 1", () => {
  assert.deepEqual([...attentionMaskOf([2, 7, 3, 0, 0])], [1, 1, 1, 0, 0]);
});

test("BertModel refuses inputs longer than max_position_embeddings and values of the wrong size", () => {
  const { model } = loadBertModel(BERT_FIXTURES);
  try {
    const ids = tf.zeros([1, 41], "int32");
    assert.throws(() => model.logits(ids), /41 tokens; BERT supports at most 40/);
    ids.dispose();
  } finally {
    model.dispose();
  }
  assert.throws(
    () => new BertModel({ ...BERT_BASE_UNCASED, hiddenSize: 30 }),
    /hiddenSize \(30\) must be divisible by numAttentionHeads \(12\)/,
  );
  const cfg = {
    ...BERT_BASE_UNCASED,
    vocabSize: 10,
    hiddenSize: 4,
    numAttentionHeads: 2,
    numHiddenLayers: 1,
    intermediateSize: 8,
  };
  assert.throws(
    () => new BertModel(cfg, { weights: new Map([["classifier.weight", new Float32Array(3)]]) }),
    /classifier.weight: 3 values given, shape \[4,2\] needs 8/,
  );
  assert.ok(path.isAbsolute(BERT_FIXTURES));
});

test("postNormBlock's firstRowOnly equals row 0 of the whole block (BERT's last layer, read by the pooler)", async () => {
  const { TfjsOps, layers } = await import("llm-spam-classifier/model");
  const o = new TfjsOps();
  const r = (shape: number[], s: number) => tf.randomNormal(shape, 0, 0.5, "float32", s);
  tf.tidy(() => {
    const E = 8,
      lin = (i: number, n: number) => ({ weight: r([i, n], E + n), bias: r([n], n) });
    const p = {
      att: { query: lin(E, E), key: lin(E, E), value: lin(E, E), out: lin(E, E) },
      norm1: { scale: r([E], 1), shift: r([E], 2) },
      ff: { fc: lin(E, 2 * E), proj: lin(2 * E, E) },
      norm2: { scale: r([E], 3), shift: r([E], 4) },
    };
    const x = r([2, 5, E], 9);
    const mask = layers.paddingMask(o, tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [2, 5]));
    const full = layers.postNormBlock(o, x, p, { nHeads: 2, mask, eps: 1e-12 });
    const first = layers.postNormBlock(o, x, p, { nHeads: 2, mask, eps: 1e-12, firstRowOnly: true });
    assert.deepEqual(first.shape, [2, 1, E]);
    assert.ok(maxAbsDiff(first.dataSync(), tf.slice(full, [0, 0, 0], [2, 1, E]).dataSync()) <= 1e-5);
  });
  o.dispose();
});
