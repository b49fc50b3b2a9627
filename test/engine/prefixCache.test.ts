import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DataFormatError, tf, initBackend } from "llm-spam-classifier";
import { PrefixCache, sequenceKey, rowsOf, hashSequences } from "llm-spam-classifier/engine";

const E = 3;
/** A fake prefix: hidden[t, e] = id_t * 10 + e, so rows are easy to check. */
const fake = (ids: Int32Array) =>
  Promise.resolve(Float32Array.from({ length: ids.length * E }, (_, i) => ids[Math.floor(i / E)] * 10 + (i % E)));

test("fill computes each distinct sequence once, in batches, and gather returns them in order", async () => {
  const cache = new PrefixCache(E);
  const rows = [
    [1, 2],
    [3, 4],
    [1, 2],
    [5, 6],
    [7, 8, 9],
  ].map((r) => Int32Array.from(r));
  const calls: number[] = [];
  const n = await cache.fill(
    rows,
    async (ids, b) => {
      calls.push(b);
      return fake(ids);
    },
    { batchSize: 2 },
  );
  assert.equal(n, 4);
  assert.deepEqual(calls, [2, 1, 1], "length-2 rows in batches of 2, the length-3 row alone");
  assert.equal(cache.size, 4);
  assert.equal(cache.bytes, (3 * 2 + 3) * E * 4);
  assert.deepEqual(Array.from(cache.gather([rows[3], rows[0]])!), [50, 51, 52, 60, 61, 62, 10, 11, 12, 20, 21, 22]);
  assert.equal(cache.gather([Int32Array.of(9, 9)]), undefined);
  assert.equal(await cache.fill(rows, fake), 0, "nothing left to compute");
  assert.deepEqual(
    cache.missing([Int32Array.of(1, 2), Int32Array.of(2, 1), Int32Array.of(2, 1)]).map((r) => Array.from(r)),
    [[2, 1]],
  );
  assert.notEqual(sequenceKey([1, 2]), sequenceKey([2, 1]));
  assert.notEqual(hashSequences([[1, 2]]), hashSequences([[2, 1]]));
});

test("save/load round-trips the entries; another tag loads nothing; a damaged file is a DataFormatError", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prefix-"));
  try {
    const cache = new PrefixCache(E);
    await cache.fill(
      [
        [1, 2],
        [3, 4, 5],
      ].map((r) => Int32Array.from(r)),
      fake,
    );
    const file = path.join(dir, "sub", "p.bin");
    cache.save(file, "weights-A");
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["p.bin"], "no temp file left behind");
    const back = new PrefixCache(E);
    assert.equal(back.load(file, "weights-B"), 0);
    assert.equal(back.load(file, "weights-A"), 2);
    assert.deepEqual(Array.from(back.get([3, 4, 5])!), Array.from(cache.get([3, 4, 5])!));
    assert.equal(new PrefixCache(4).load(file, "weights-A"), 0, "other width");
    assert.equal(back.load(path.join(dir, "absent.bin"), "weights-A"), 0);
    fs.truncateSync(file, fs.statSync(file).size - 4);
    assert.throws(
      () => new PrefixCache(E).load(file, "weights-A"),
      (e: unknown) => e instanceof DataFormatError && /expected 60 data bytes, found 56/.test(e.message),
    );
    fs.writeFileSync(file, "not json\n");
    assert.throws(() => new PrefixCache(E).load(file, "weights-A"), DataFormatError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("rowsOf splits tensors and DataLoader batches into rows", async () => {
  await initBackend();
  const t = tf.tensor2d(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    [2, 3],
    "int32",
  );
  assert.deepEqual(
    rowsOf(t).map((r) => Array.from(r)),
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
  );
  t.dispose();
  const b = { inputIds: Int32Array.of(7, 8, 9, 10), batchSize: 2 };
  assert.deepEqual(
    rowsOf(b).map((r) => Array.from(r)),
    [
      [7, 8],
      [9, 10],
    ],
  );
});
