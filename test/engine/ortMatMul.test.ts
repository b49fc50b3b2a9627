import { test } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, loadOnnxRuntime } from "llm-spam-classifier";
import { enableOrtMatMul, disableOrtMatMul, acquireOrtMatMul, ortMatMulStats } from "llm-spam-classifier/engine";

const cases: Array<{ a: number[]; b: number[]; tA: boolean; tB: boolean }> = [
  { a: [96, 64], b: [64, 80], tA: false, tB: false },
  { a: [64, 96], b: [64, 80], tA: true, tB: false },
  { a: [96, 64], b: [80, 64], tA: false, tB: true },
  { a: [64, 96], b: [80, 64], tA: true, tB: true },
  { a: [2, 3, 40, 32], b: [2, 3, 32, 50], tA: false, tB: false }, // attention-style batched
  { a: [4, 40, 32], b: [32, 50], tA: false, tB: false }, // broadcast 2-D right operand
];

function products(): { values: Float32Array[]; grads: Float32Array[] } {
  const values: Float32Array[] = [],
    grads: Float32Array[] = [];
  cases.forEach((c, i) => {
    const a = tf.randomNormal(c.a, 0, 1, "float32", 2 * i + 1),
      b = tf.randomNormal(c.b, 0, 1, "float32", 2 * i + 2);
    const y = tf.matMul(a, b, c.tA, c.tB);
    values.push(y.dataSync() as Float32Array);
    const g = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, w, c.tA, c.tB))))([a, b]);
    grads.push(Float32Array.from([...g[0].dataSync(), ...g[1].dataSync()]));
    tf.dispose([a, b, y, ...g]);
  });
  return { values, grads };
}

function relDiff(x: Float32Array, y: Float32Array): number {
  let d = 0,
    m = 0;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    m = Math.max(m, Math.abs(y[i]));
  }
  return d / m;
}

for (const backend of ["wasm", "cpu"] as const) {
  test(`tfjs matmuls routed to ONNX Runtime equal tfjs's own on ${backend} (values and gradients, every transpose combination)`, async (t) => {
    if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
    const previous = (await initBackend()).choice;
    await initBackend(backend);
    try {
      checkRoutedProducts();
    } finally {
      await initBackend(previous);
    }
  });
}

function checkRoutedProducts(): void {
  const want = products();
  assert.equal(enableOrtMatMul({ minFlops: 1 }), true);
  const before = tf.memory().numTensors;
  const got = products();
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  const stats = ortMatMulStats();
  assert.ok(stats.enabled && stats.calls >= cases.length * 3, `ORT did ${stats.calls} matmuls`);
  cases.forEach((c, i) => {
    assert.ok(relDiff(got.values[i], want.values[i]) < 1e-5, `values ${JSON.stringify(c)}`);
    assert.ok(relDiff(got.grads[i], want.grads[i]) < 1e-5, `grads ${JSON.stringify(c)}`);
  });
  disableOrtMatMul();
  assert.equal(ortMatMulStats().enabled, false);
  const back = products();
  cases.forEach((_, i) => assert.deepEqual(back.values[i], want.values[i], "tfjs's kernel is restored"));
}

test("acquireOrtMatMul is reference-counted and leaves a by-hand enableOrtMatMul alone", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  await initBackend();
  const a = acquireOrtMatMul(),
    b = acquireOrtMatMul();
  assert.ok(a && b && ortMatMulStats().enabled);
  a();
  a(); // a second call of the same release does nothing
  assert.equal(ortMatMulStats().enabled, true, "still held by b");
  b();
  assert.equal(ortMatMulStats().enabled, false, "the last holder hands tfjs its kernel back");
  assert.equal(enableOrtMatMul(), true);
  const c = acquireOrtMatMul()!;
  c();
  assert.equal(ortMatMulStats().enabled, true, "enabled by hand: stays until disableOrtMatMul");
  disableOrtMatMul();
  process.env.ORT_MATMUL = "0";
  try {
    assert.equal(acquireOrtMatMul(), undefined, "ORT_MATMUL=0 keeps tfjs's matmuls");
  } finally {
    delete process.env.ORT_MATMUL;
  }
});
