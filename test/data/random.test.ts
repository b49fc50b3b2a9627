import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { RandomState } from "llm-spam-classifier";

// Written by scripts/fixtures/numpy_pandas_reference.py from NumPy itself.
interface NumpyRandomRef {
  raw_uint32_seed123: number[];
  random_sample_seed123: number[];
  permutations_seed123: Record<string, number[]>;
  permutation_1494_seed123: number[];
  permutation_4825_seed123: number[];
  permutation_5000_seed7: number[];
  choice_4825_747_seed123: number[];
}
const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "data", "numpy_random.json"), "utf8")) as NumpyRandomRef;

test("raw MT19937 outputs equal RandomState(123)", () => {
  const rs = new RandomState(123);
  assert.deepEqual(Array.from({ length: 20 }, () => rs.nextUint32()), ref.raw_uint32_seed123);
});

test("random_sample equals NumPy's (53-bit doubles)", () => {
  const rs = new RandomState(123);
  assert.deepEqual(Array.from({ length: 5 }, () => rs.randomSample()), ref.random_sample_seed123);
});

test("permutation equals NumPy's for small and large sizes and other seeds", () => {
  for (const [n, perm] of Object.entries(ref.permutations_seed123)) {
    assert.deepEqual(new RandomState(123).permutation(Number(n)), perm, `n=${n}`);
  }
  assert.deepEqual(new RandomState(123).permutation(1494), ref.permutation_1494_seed123);
  assert.deepEqual(new RandomState(123).permutation(4825), ref.permutation_4825_seed123);
  assert.deepEqual(new RandomState(7).permutation(5000), ref.permutation_5000_seed7);
});

test("choice without replacement equals NumPy's (pandas' sample)", () => {
  assert.deepEqual(new RandomState(123).choiceWithoutReplacement(4825, 747), ref.choice_4825_747_seed123);
  assert.throws(() => new RandomState(1).choiceWithoutReplacement(3, 4), RangeError);
});

test("seeds outside [0, 2^32) are refused", () => {
  assert.throws(() => new RandomState(-1), RangeError);
  assert.throws(() => new RandomState(2 ** 32), RangeError);
  assert.throws(() => new RandomState(1.5), RangeError);
});
