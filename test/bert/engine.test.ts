import { test, before } from "node:test";
import assert from "node:assert/strict";
import { initBackend, loadOnnxRuntime } from "llm-spam-classifier";
import { createBertRunner, createOrtSession } from "llm-spam-classifier/engine";
import { buildBertOnnx } from "llm-spam-classifier/engine";
import { attentionMaskOf } from "llm-spam-classifier/model";
import { loadBertModel } from "llm-spam-classifier/weights";
import { BERT_FIXTURES, fixtureBatch, maxAbsDiff, readBertReference } from "./fixture";

// BERT on ONNX Runtime against PyTorch (bert_reference.py): the forward graph's logits, and native training
// (every parameter, the definition under the gradient tape, AdamW outside) over 3 AdamW steps.
const ref = readBertReference();

before(async () => {
  await initBackend();
});

for (const fusedAttention of [true, false])
  test(`the ONNX forward graph of the tiny BERT gives PyTorch's logits within 1e-4 (${fusedAttention ? "fused attention kernel" : "composite attention"})`, async (t) => {
    const ort = loadOnnxRuntime();
    if (!ort) return t.skip("onnxruntime-node unavailable");
    const { model } = loadBertModel(BERT_FIXTURES);
    const session = await createOrtSession(buildBertOnnx(model, { fusedAttention }), { threads: 1 });
    try {
      for (let i = 0; i < ref.batches.length; i++) {
        const b = fixtureBatch(ref, i);
        const dims = [b.batchSize, b.seqLen];
        const out = await session.run({
          input_ids: new ort.Tensor("int32", b.inputIds, dims),
          attention_mask: new ort.Tensor("float32", attentionMaskOf(b.inputIds), dims),
        });
        const d = maxAbsDiff(out.logits.data as Float32Array, ref.logits[i].flat());
        assert.ok(d <= 1e-4, `batch ${i}: max |Δ| ${d}`);
      }
    } finally {
      await session.release();
      model.dispose();
    }
  });

test("createBertRunner trains every parameter natively: PyTorch's losses over 3 AdamW steps and logits after, within 1e-4", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const { model } = loadBertModel(BERT_FIXTURES);
  const runner = await createBertRunner(model, {
    optimizer: { lr: ref.train.lr, weightDecay: ref.train.weightDecay },
    threads: 1,
  });
  try {
    assert.equal(runner.kind, "native");
    assert.equal(runner.trainer.trainable.length, model.params.size);
    for (let s = 0; s < 3; s++) {
      const loss = await runner.trainStep(fixtureBatch(ref, s));
      assert.ok(Math.abs(loss - ref.train.losses[s]) <= 1e-4, `step ${s}: ${loss} vs ${ref.train.losses[s]}`);
    }
    for (let i = 0; i < 3; i++) {
      const d = maxAbsDiff(await runner.logits(fixtureBatch(ref, i)), ref.train.logitsAfter[i].flat());
      assert.ok(d <= 1e-4, `logits after, batch ${i}: max |Δ| ${d}`);
    }
  } finally {
    await runner.finish();
  }
  // finish() wrote the trained values back: the tfjs model now gives the same logits.
  const { tf } = await import("llm-spam-classifier");
  const b = fixtureBatch(ref, 1);
  const ids = tf.tensor2d(b.inputIds, [b.batchSize, b.seqLen], "int32");
  const logits = model.logits(ids);
  assert.ok(maxAbsDiff(logits.dataSync(), ref.train.logitsAfter[1].flat()) <= 1e-4);
  tf.dispose([ids, logits]);
  model.dispose();
});

test("gradient accumulation over two half batches equals one step on the whole batch", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const half = (b: ReturnType<typeof fixtureBatch>, k: number) => {
    const n = b.batchSize / 2;
    return {
      ...b,
      inputIds: b.inputIds.slice(k * n * b.seqLen, (k + 1) * n * b.seqLen),
      labels: b.labels.slice(k * n, (k + 1) * n),
      batchSize: n,
    };
  };
  const whole = loadBertModel(BERT_FIXTURES).model;
  const parts = loadBertModel(BERT_FIXTURES).model;
  const optimizer = { lr: ref.train.lr, weightDecay: ref.train.weightDecay };
  const a = await createBertRunner(whole, { optimizer, threads: 1 });
  const c = await createBertRunner(parts, { optimizer, threads: 1 });
  try {
    const b = fixtureBatch(ref, 0);
    await a.trainStep(b);
    await c.trainStep(half(b, 0), { lossScale: 0.5, update: false });
    await c.trainStep(half(b, 1), { lossScale: 0.5, update: true });
    const d = maxAbsDiff(await a.logits(fixtureBatch(ref, 2)), await c.logits(fixtureBatch(ref, 2)));
    assert.ok(d <= 1e-5, `max |Δ| ${d}`);
    assert.equal(c.trainer.steps, 1);
  } finally {
    await a.finish();
    await c.finish();
    whole.dispose();
    parts.dispose();
  }
});

test("noDecay leaves biases and LayerNorm weights out of AdamW's weight decay (Hugging Face's Trainer)", async () => {
  const { WasmAdamW, hfNoDecay } = await import("llm-spam-classifier/engine");
  assert.deepEqual(
    hfNoDecay([
      "bert.pooler.dense.weight",
      "bert.pooler.dense.bias",
      "bert.embeddings.LayerNorm.weight",
      "classifier.weight",
    ]),
    ["bert.pooler.dense.bias", "bert.embeddings.LayerNorm.weight"],
  );
  const sizes = { a: 100, b: 90, c: 10, d: 5 };
  const opt = new WasmAdamW(new Map(Object.entries(sizes).map(([n, k]) => [n, new Float32Array(k).fill(2)])), {
    noDecay: ["a", "b"],
  });
  try {
    opt.step(1, { lr: 0.1, weightDecay: 0.5 }); // zero gradients: only the decay moves a parameter
    for (const n of ["a", "b"])
      assert.ok(
        opt.param(n).every((v) => v === 2),
        n,
      );
    for (const n of ["c", "d"])
      assert.ok(
        opt.param(n).every((v) => Math.abs(v - 2 * (1 - 0.05)) < 1e-6),
        n,
      );
  } finally {
    opt.dispose();
  }
});

test("a BertDataset batches through the book's DataLoader and trains with createBertRunner", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const { BertTokenizer, DataLoader, BertDataset } = await import("llm-spam-classifier/data").then(async (d) => ({
    ...d,
    ...(await import("llm-spam-classifier")),
  }));
  const tokenizer = BertTokenizer.fromDir(BERT_FIXTURES);
  const texts = ["a great movie, i love it!", "boring plot.", "the worst film ever", "very fun story"];
  const data = new BertDataset(texts, [1, 0, 0, 1], tokenizer, { maxLength: 16, padding: "longest" });
  assert.equal(data.maxLength, 10); // [CLS] a great movie , i love it ! [SEP]
  assert.deepEqual([...data.encodedTexts[1]], [...tokenizer.encode("boring plot."), 0, 0, 0, 0, 0]);
  assert.throws(() => new BertDataset(texts, [1, 0], tokenizer), /4 texts but 2 labels/);
  const loader = new DataLoader(data, { batchSize: 2, shuffle: true, seed: 1 });
  const { model } = loadBertModel(BERT_FIXTURES);
  const runner = await createBertRunner(model, { optimizer: { lr: 1e-2, weightDecay: 0 }, threads: 1 });
  try {
    const losses: number[] = [];
    for (let epoch = 0; epoch < 5; epoch++) for (const batch of loader) losses.push(await runner.trainStep(batch));
    assert.equal(losses.length, 10);
    const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
    assert.ok(
      mean(losses.slice(-2)) < mean(losses.slice(0, 2)),
      `loss falls: ${losses.map((l) => l.toFixed(3)).join(" ")}`,
    );
  } finally {
    await runner.finish();
    model.dispose();
  }
});
