import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TfCheckpoint, DataFormatError, GPTModel, loadWeightsIntoGpt, openWeights } from "llm-spam-classifier";
import { crc32c, maskCrc, checksummedLength, decodeStringTensor } from "llm-spam-classifier/weights";
import { tempDir } from "../helpers";

// DT_STRING tensors in TensorFlow bundles (tensor_bundle.cc, WriteStringTensor). Fixtures:
// tf-strings-2shards/ and tf2-object-graph/ from scripts/fixtures/tf_strings_reference.py (our writer, to
// the format's spec); tf2-real/ written by TensorFlow 2.21.0 itself (scripts/fixtures/tensorflow/tf2_real.py).
const FIX = path.join(__dirname, "..", "fixtures", "model");
const tmp = tempDir("tf-strings-");
after(tmp.cleanup);
const copy = (dir: string) => {
  const d = path.join(tmp.dir, `${path.basename(dir)}-${Math.random().toString(36).slice(2)}`);
  fs.cpSync(dir, d, { recursive: true });
  return d;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const isError = (re: RegExp) => (e: unknown) => e instanceof DataFormatError && re.test(e.message);

const NOTES = [
  Buffer.from("GPT-2 spam classifier"),
  Buffer.alloc(0),
  Buffer.from(Array.from({ length: 200 }, (_, i) => i)),
];
const LABELS = [Buffer.from("ham"), Buffer.alloc(0), Buffer.from("spam ".repeat(40))];

/** The entry's stored bytes, straight from its shard. */
function stored(ck: TfCheckpoint, name: string): Buffer {
  const e = ck.entry(name);
  return fs.readFileSync(ck.shardPath(e.shardId)).subarray(e.offset, e.offset + e.size);
}

/** A copy of `dir` with one byte of tensor `name` XOR-ed: the first varint length byte ("lengths") or the last string byte ("bytes"). */
function corrupt(dir: string, name: string, where: "lengths" | "bytes"): string {
  const d = copy(dir);
  const ck = new TfCheckpoint(d);
  const e = ck.entry(name);
  const file = ck.shardPath(e.shardId);
  const bytes = fs.readFileSync(file);
  bytes[where === "lengths" ? e.offset : e.offset + e.size - 1] ^= 0x01;
  fs.writeFileSync(file, bytes);
  return d;
}

test("a DT_STRING [3] tensor beside float tensors in two shards: elements, dtype, shape; the stored layout and both checksums as TensorFlow writes them", () => {
  const ck = new TfCheckpoint(path.join(FIX, "tf-strings-2shards"));
  assert.equal(ck.numShards, 2);
  assert.deepEqual([...new Set(ck.listVariables().map((v) => v.shardId))].sort(), [0, 1]);
  const e = ck.entry("model/notes");
  assert.deepEqual([e.dtype, e.shape], ["DT_STRING", [3]]);
  assert.deepEqual(
    ck.readStrings("model/notes").map((b) => Buffer.from(b)),
    NOTES,
  );
  assert.deepEqual(Buffer.from(ck.readBytes("model/notes")), Buffer.concat(NOTES));
  // [varint 21][varint 0][varint 200 = c8 01][masked CRC32C of the lengths][bytes]
  const raw = stored(ck, "model/notes");
  assert.deepEqual([...raw.subarray(0, 4)], [21, 0, 0xc8, 0x01]);
  const fixed = Buffer.concat(NOTES.map((s) => checksummedLength(s.length))); // uint32 little-endian each
  assert.equal(fixed.length, 12);
  assert.equal(raw.readUInt32LE(4), maskCrc(crc32c(fixed)));
  assert.deepEqual(raw.subarray(8), Buffer.concat(NOTES));
  assert.equal(e.crc32c, maskCrc(crc32c(Buffer.concat([fixed, raw.subarray(4)]))));
  // …which is neither a CRC of the stored bytes nor one over uint64 lengths
  assert.notEqual(e.crc32c, maskCrc(crc32c(raw)));
  const fixed64 = Buffer.concat(
    NOTES.map((s) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(s.length));
      return b;
    }),
  );
  assert.notEqual(raw.readUInt32LE(4), maskCrc(crc32c(fixed64)));
  // A float tensor of the same bundle reads as before; a string tensor is no float weight.
  assert.deepEqual(ck.readTensor("model/wpe").shape, [8, 8]);
  assert.throws(() => ck.readTensor("model/notes"), isError(/model\/notes has dtype DT_STRING; only float tensors/));
  assert.throws(() => ck.readStrings("model/wpe"), isError(/model\/wpe has dtype DT_FLOAT, not DT_STRING/));
});

test("a flipped byte in the lengths fails the length checksum; in the string bytes, the entry's checksum — each naming the tensor", () => {
  const dir = path.join(FIX, "tf-strings-2shards");
  const shard = new TfCheckpoint(dir).shardPath(new TfCheckpoint(dir).entry("model/notes").shardId);
  const at = path.basename(shard).replace(/\./g, "\\.");
  const badLengths = new TfCheckpoint(corrupt(dir, "model/notes", "lengths"));
  assert.throws(
    () => badLengths.readStrings("model/notes"),
    isError(
      new RegExp(
        `^model/notes: DT_STRING length checksum mismatch in ${at} \\(the masked CRC32C of the 3 element lengths: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\); the file is corrupt`,
      ),
    ),
  );
  assert.throws(() => badLengths.readBytes("model/notes"), isError(/DT_STRING length checksum mismatch/));
  assert.deepEqual(badLengths.readTensor("model/wte").shape, [64, 8]); // other tensors are unaffected
  const badBytes = new TfCheckpoint(corrupt(dir, "model/notes", "bytes"));
  assert.throws(
    () => badBytes.readStrings("model/notes"),
    isError(
      new RegExp(
        `^model/notes: DT_STRING data checksum mismatch in ${at} \\(the entry's CRC32C over the lengths, their checksum and the 221 string bytes: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\); the file is corrupt`,
      ),
    ),
  );
  // A flipped byte in the stored length checksum itself is a length checksum mismatch too.
  const d = copy(dir);
  const ck = new TfCheckpoint(d);
  const e = ck.entry("model/notes");
  const bytes = fs.readFileSync(ck.shardPath(e.shardId));
  bytes[e.offset + 5] ^= 0x80;
  fs.writeFileSync(ck.shardPath(e.shardId), bytes);
  assert.throws(
    () => new TfCheckpoint(d).readStrings("model/notes"),
    isError(/model\/notes: DT_STRING length checksum mismatch/),
  );
});

test("decodeStringTensor: lengths past the entry, lengths that do not add up, an empty tensor, uint64 lengths above 0xFFFFFFFF", () => {
  const raw = stored(new TfCheckpoint(path.join(FIX, "tf-strings-2shards")), "model/notes");
  const at = { name: "t", shard: "s.data" };
  assert.equal(decodeStringTensor(raw, 3, at).length, 3);
  assert.throws(
    () => decodeStringTensor(raw.subarray(0, raw.length - 1), 3, at),
    isError(/^t: the DT_STRING lengths add up to 221 bytes but the entry holds 220 after them in s\.data/),
  );
  assert.throws(
    () => decodeStringTensor(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80), 1, at),
    isError(/^t: the 1 DT_STRING lengths and their checksum run past the entry's 5 bytes/),
  );
  assert.throws(
    () => decodeStringTensor(raw, 1000, at),
    isError(/the 1000 DT_STRING lengths and their checksum run past/),
  );
  assert.deepEqual(decodeStringTensor(u32(maskCrc(0)), 0, at, maskCrc(crc32c(u32(maskCrc(0))))), []); // TF's layout for zero elements
  assert.deepEqual(decodeStringTensor(new Uint8Array(0), 0, at), []);
  assert.deepEqual([...checksummedLength(0xffffffff)], [0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual([...checksummedLength(2 ** 32 + 5)], [5, 0, 0, 0, 1, 0, 0, 0]);
});

test("a TF2-shaped checkpoint (ckpt-1 via its `checkpoint` file): the scalar _CHECKPOINTABLE_OBJECT_GRAPH, .ATTRIBUTES/VARIABLE_VALUE variables, DT_INT64 save_counter", () => {
  const dir = path.join(FIX, "tf2-object-graph");
  const ck = new TfCheckpoint(dir);
  assert.equal(path.basename(ck.prefix), "ckpt-1");
  assert.deepEqual(
    ck.listVariables().map((v) => [v.name, v.dtype, v.shape]),
    [
      ["_CHECKPOINTABLE_OBJECT_GRAPH", "DT_STRING", []],
      ["model/layer/bias/.ATTRIBUTES/VARIABLE_VALUE", "DT_FLOAT", [3]],
      ["model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE", "DT_FLOAT", [4, 3]],
      ["save_counter/.ATTRIBUTES/VARIABLE_VALUE", "DT_INT64", []],
    ],
  );
  const [graph, ...rest] = ck.readStrings("_CHECKPOINTABLE_OBJECT_GRAPH");
  assert.equal(rest.length, 0);
  assert.ok(graph.length >= 128 && stored(ck, "_CHECKPOINTABLE_OBJECT_GRAPH")[0] & 0x80, "a 2-byte varint length");
  for (const v of ck.listVariables().slice(1))
    assert.ok(Buffer.from(graph).includes(v.name), `the object graph names ${v.name}`);
  assert.deepEqual(Array.from(ck.readTensor("model/layer/bias/.ATTRIBUTES/VARIABLE_VALUE").data), [0.5, -1, 2]);
  assert.equal(Buffer.from(ck.readBytes("save_counter/.ATTRIBUTES/VARIABLE_VALUE")).readBigInt64LE(0), 1n);
  assert.throws(
    () =>
      new TfCheckpoint(corrupt(dir, "_CHECKPOINTABLE_OBJECT_GRAPH", "lengths")).readBytes(
        "_CHECKPOINTABLE_OBJECT_GRAPH",
      ),
    isError(
      /^_CHECKPOINTABLE_OBJECT_GRAPH: DT_STRING length checksum mismatch in ckpt-1\.data-00000-of-00001 \(the masked CRC32C of the 1 element lengths/,
    ),
  );
  assert.throws(
    () =>
      new TfCheckpoint(corrupt(dir, "_CHECKPOINTABLE_OBJECT_GRAPH", "bytes")).readBytes("_CHECKPOINTABLE_OBJECT_GRAPH"),
    isError(/^_CHECKPOINTABLE_OBJECT_GRAPH: DT_STRING data checksum mismatch in ckpt-1\.data-00000-of-00001/),
  );
});

test("files written by TensorFlow 2.21 itself: a tf.train.Checkpoint and a SavedModel folder (its variables/ bundle) verify and read", () => {
  const ck = new TfCheckpoint(path.join(FIX, "tf2-real", "checkpoint"));
  assert.deepEqual(
    ck.listVariables().map((v) => [v.name, v.dtype, v.shape]),
    [
      ["_CHECKPOINTABLE_OBJECT_GRAPH", "DT_STRING", []],
      ["model/labels/.ATTRIBUTES/VARIABLE_VALUE", "DT_STRING", [3]],
      ["model/layer/bias/.ATTRIBUTES/VARIABLE_VALUE", "DT_FLOAT", [3]],
      ["model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE", "DT_FLOAT", [4, 3]],
      ["save_counter/.ATTRIBUTES/VARIABLE_VALUE", "DT_INT64", []],
    ],
  );
  assert.deepEqual(
    ck.readStrings("model/labels/.ATTRIBUTES/VARIABLE_VALUE").map((b) => Buffer.from(b)),
    LABELS,
  );
  assert.ok(ck.readStrings("_CHECKPOINTABLE_OBJECT_GRAPH")[0].length > 128);
  assert.deepEqual(
    Array.from(ck.readTensor("model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE").data),
    Array.from({ length: 12 }, (_, i) => i / 4),
  );
  const sm = new TfCheckpoint(path.join(FIX, "tf2-real", "savedmodel"));
  assert.equal(path.relative(path.join(FIX, "tf2-real", "savedmodel"), sm.prefix), path.join("variables", "variables"));
  assert.deepEqual(
    sm.readStrings("labels/.ATTRIBUTES/VARIABLE_VALUE").map((b) => Buffer.from(b)),
    LABELS,
  );
  assert.deepEqual(
    sm.readTensor("layer/bias/.ATTRIBUTES/VARIABLE_VALUE").data,
    ck.readTensor("model/layer/bias/.ATTRIBUTES/VARIABLE_VALUE").data,
  );
  const dir = path.join(FIX, "tf2-real", "checkpoint");
  assert.throws(
    () =>
      new TfCheckpoint(corrupt(dir, "model/labels/.ATTRIBUTES/VARIABLE_VALUE", "lengths")).readStrings(
        "model/labels/.ATTRIBUTES/VARIABLE_VALUE",
      ),
    isError(/DT_STRING length checksum mismatch/),
  );
  assert.throws(
    () =>
      new TfCheckpoint(corrupt(dir, "_CHECKPOINTABLE_OBJECT_GRAPH", "bytes")).readStrings(
        "_CHECKPOINTABLE_OBJECT_GRAPH",
      ),
    isError(/DT_STRING data checksum mismatch/),
  );
});

test("loading GPT-2 ignores DT_STRING tensors (config inferred from the float tensors; even a corrupt string tensor is never read)", () => {
  const dir = corrupt(path.join(FIX, "tf-strings-2shards"), "model/notes", "bytes");
  const { src, config } = openWeights(dir);
  assert.deepEqual([config.vocabSize, config.contextLength, config.embDim, config.nLayers], [64, 8, 8, 1]);
  const model = new GPTModel(config, { init: "zeros" });
  try {
    loadWeightsIntoGpt(model, src);
    assert.deepEqual(
      Array.from(model.params.get("pos_emb.weight")!.dataSync()),
      Array.from(src.readTensor("model/wpe").data),
    );
    assert.deepEqual(
      Array.from(model.params.get("trf_blocks.0.ff.layers.0.bias")!.dataSync()),
      Array.from(src.readTensor("model/h0/mlp/c_fc/b").data),
    );
  } finally {
    model.dispose();
  }
});
