import { test, before } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend } from "llm-spam-classifier";

before(async () => {
  const info = await initBackend("wasm");
  assert.equal(info.choice, "wasm");
});

/** Runs `fn` on the cpu backend and on wasm, returning both results as plain arrays. */
async function onBoth<T>(fn: () => T): Promise<{ cpu: T; wasm: T }> {
  await tf.setBackend("cpu");
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false; // no "install tfjs-node" banner
  const cpu = fn();
  await tf.setBackend("wasm");
  const wasm = fn();
  return { cpu, wasm };
}

function assertClose(a: number[], b: number[], tol = 1e-5) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
}

test("UnsortedSegmentSum on wasm equals the cpu backend (incl. repeated and out-of-range ids)", async () => {
  const x = [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
    [10, 11, 12],
    [0.5, 0.25, 0.125],
  ];
  const ids = [2, 0, 2, 5, -1]; // 5 and -1 are out of range and dropped
  const r = await onBoth(() =>
    tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(x), tf.tensor1d(ids, "int32"), 4).arraySync()),
  );
  assert.deepEqual(r.wasm, r.cpu);
  assert.deepEqual(r.wasm, [
    [4, 5, 6],
    [0, 0, 0],
    [8, 10, 12],
    [0, 0, 0],
  ]);
});

test("the gather (embedding) gradient works on wasm and equals cpu", async () => {
  const table = Array.from({ length: 6 * 4 }, (_, i) => Math.sin(i));
  const ids = [
    [1, 3, 3],
    [0, 5, 1],
  ];
  const r = await onBoth(() =>
    tf.tidy(() => {
      const w = tf.tensor2d(table, [6, 4]);
      const g = tf.grad((t: tf.Tensor) =>
        tf
          .gather(t, tf.tensor2d(ids, [2, 3], "int32"))
          .square()
          .sum(),
      )(w);
      return Array.from(g.dataSync());
    }),
  );
  assertClose(r.wasm, r.cpu);
  assert.ok(
    r.wasm.slice(8, 12).every((v) => v === 0),
    "row 2 was never gathered: zero gradient",
  );
});

test("the BatchMatMul gradient override gives the same gradients as cpu for every transpose/rank case", async () => {
  const seeded = (shape: number[], s: number) => tf.randomNormal(shape, 0, 1, "float32", s);
  const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
    { a: [5, 3], b: [3, 4], ta: false, tb: false },
    { a: [3, 5], b: [3, 4], ta: true, tb: false },
    { a: [5, 3], b: [4, 3], ta: false, tb: true },
    { a: [3, 5], b: [4, 3], ta: true, tb: true },
    { a: [2, 5, 3], b: [2, 3, 4], ta: false, tb: false },
    { a: [2, 5, 3], b: [2, 4, 3], ta: false, tb: true },
    { a: [2, 3, 5], b: [2, 3, 4], ta: true, tb: false },
    { a: [2, 5, 3], b: [3, 4], ta: false, tb: false }, // broadcast weight: gradient summed over the batch
  ];
  for (const c of cases) {
    const r = await onBoth(() =>
      tf.tidy(() => {
        const a = seeded(c.a, 1),
          b = seeded(c.b, 2);
        const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, c.ta, c.tb).square().sum())([a, b]);
        assert.deepEqual(ga.shape, c.a);
        assert.deepEqual(gb.shape, c.b);
        return [...ga.dataSync(), ...gb.dataSync()];
      }),
    );
    assertClose(r.wasm, r.cpu, 1e-3);
  }
});
