import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  TfCheckpoint,
  DataFormatError,
  GPTModel,
  loadWeightsIntoGpt,
  ShapeMismatchError,
  openWeights,
} from "llm-spam-classifier";
import { SafetensorsFile, writeSafetensors, crc32c, maskCrc } from "llm-spam-classifier/weights";
import { tempDir } from "../helpers";

const FIX = path.join(__dirname, "..", "fixtures", "model");
const tmp = tempDir("readers-");
after(tmp.cleanup);
const copy = (dir: string) => {
  const d = path.join(tmp.dir, `${path.basename(dir)}-${Math.random().toString(36).slice(2)}`);
  fs.cpSync(dir, d, { recursive: true });
  return d;
};

test("CRC-32C: known value and masking", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  assert.equal(maskCrc(0), 0xa282ead8);
});

test("lists variables from the .index alone, like tf.train.list_variables", () => {
  const d = copy(path.join(FIX, "openai"));
  fs.rmSync(path.join(d, "model.ckpt.data-00000-of-00001")); // no data needed to list
  const ck = new TfCheckpoint(d);
  const vars = ck.listVariables();
  assert.equal(vars.length, 4 + 2 * 12);
  assert.deepEqual(
    vars.find((v) => v.name === "model/h0/attn/c_attn/w"),
    {
      name: "model/h0/attn/c_attn/w",
      dtype: "DT_FLOAT",
      shape: [1, 16, 48],
      shardId: 0,
      offset: vars.find((v) => v.name === "model/h0/attn/c_attn/w")!.offset,
      size: 16 * 48 * 4,
      crc32c: vars.find((v) => v.name === "model/h0/attn/c_attn/w")!.crc32c,
    },
  );
  assert.throws(
    () => ck.readTensor("model/wte"),
    (e: unknown) => e instanceof DataFormatError && /Missing checkpoint shard/.test(e.message),
  );
});

test("uncompressed several-block index, Snappy 2-shard index (>16 keys per block) and literal-only Snappy read the same tensors", () => {
  const a = new TfCheckpoint(path.join(FIX, "openai", "model.ckpt"));
  const b = new TfCheckpoint(path.join(FIX, "openai-snappy-2shards"));
  const c = new TfCheckpoint(path.join(FIX, "openai-snappy-literal", "model.ckpt.index"));
  // 29 keys (28 tensors + the header): 8 per block uncompressed; 20 per block with Snappy copies; one literal-only block.
  assert.deepEqual(a.layout, { dataBlocks: 4, snappyBlocks: 0, maxKeysPerBlock: 8 });
  assert.deepEqual(b.layout, { dataBlocks: 2, snappyBlocks: 2, maxKeysPerBlock: 20 });
  assert.deepEqual(c.layout, { dataBlocks: 1, snappyBlocks: 1, maxKeysPerBlock: 29 });
  assert.equal(a.numShards, 1);
  assert.equal(b.numShards, 2);
  assert.deepEqual([...new Set(b.listVariables().map((v) => v.shardId))].sort(), [0, 1]);
  assert.deepEqual(
    b.listVariables().map((v) => v.name),
    a.listVariables().map((v) => v.name),
  );
  for (const v of a.listVariables()) {
    const ta = a.readTensor(v.name);
    assert.deepEqual(b.readTensor(v.name), ta);
    assert.deepEqual(c.readTensor(v.name), ta);
  }
  // listVariables(prefix), like filtering tf.train.list_variables
  assert.deepEqual(
    a.listVariables("model/h1/attn/").map((v) => v.name),
    ["model/h1/attn/c_attn/b", "model/h1/attn/c_attn/w", "model/h1/attn/c_proj/b", "model/h1/attn/c_proj/w"],
  );
  assert.deepEqual(
    a.listVariables("model/w").map((v) => [v.name, v.shape]),
    [
      ["model/wpe", [32, 16]],
      ["model/wte", [512, 16]],
    ],
  );
});

test("dtypes as the bundle names them: DT_HALF converts, DT_INT32 and an unknown enum value are refused clearly", () => {
  const ck = new TfCheckpoint(path.join(FIX, "misc-dtypes"));
  assert.deepEqual(
    ck.listVariables().map((v) => [v.name, v.dtype, v.shape]),
    [
      ["half", "DT_HALF", [2, 3]],
      ["int", "DT_INT32", [4]],
      ["odd", "DT_UNKNOWN(99)", [2]],
    ],
  );
  assert.deepEqual(Array.from(ck.readTensor("half").data), [1, -2, 0.5, 65504, 2 ** -24, 0]);
  assert.equal(ck.readBytes("int").length, 16);
  assert.throws(
    () => ck.readTensor("int"),
    (e: unknown) => e instanceof DataFormatError && /int has dtype DT_INT32; only float tensors/.test(e.message),
  );
  assert.throws(
    () => ck.readTensor("odd"),
    (e: unknown) => e instanceof DataFormatError && /odd has dtype DT_UNKNOWN\(99\)/.test(e.message),
  );
  assert.throws(
    () => ck.readTensor("nope"),
    (e: unknown) => e instanceof DataFormatError && /has no tensor "nope"/.test(e.message),
  );
});

test("a corrupted index block fails its block checksum", () => {
  const d = copy(path.join(FIX, "openai"));
  const idx = path.join(d, "model.ckpt.index");
  const bytes = fs.readFileSync(idx);
  bytes[10] ^= 0x01; // inside the first data block
  fs.writeFileSync(idx, bytes);
  assert.throws(
    () => new TfCheckpoint(d),
    (e: unknown) => e instanceof DataFormatError && /checksum mismatch in block at offset 0/.test(e.message),
  );
  assert.throws(
    () => new TfCheckpoint(path.join(tmp.dir, "nothing-here")),
    (e: unknown) => e instanceof DataFormatError && /No TensorFlow checkpoint/.test(e.message),
  );
});

test("a corrupted tensor fails its CRC check with a clear error", () => {
  const d = copy(path.join(FIX, "openai"));
  const ck0 = new TfCheckpoint(d);
  const e = ck0.entry("model/wpe");
  const data = path.join(d, "model.ckpt.data-00000-of-00001");
  const bytes = fs.readFileSync(data);
  bytes[e.offset + 3] ^= 0xff;
  fs.writeFileSync(data, bytes);
  assert.throws(
    () => new TfCheckpoint(d).readTensor("model/wpe"),
    (err: unknown) => err instanceof DataFormatError && /model\/wpe: checksum mismatch/.test(err.message),
  );
});

test("truncated files: index and data", () => {
  const d = copy(path.join(FIX, "openai"));
  const idx = path.join(d, "model.ckpt.index");
  fs.writeFileSync(idx, fs.readFileSync(idx).subarray(0, 100));
  assert.throws(
    () => new TfCheckpoint(d),
    (e: unknown) => e instanceof DataFormatError && /bad magic number|truncated/.test(e.message),
  );
  const d2 = copy(path.join(FIX, "openai"));
  const data = path.join(d2, "model.ckpt.data-00000-of-00001");
  fs.truncateSync(data, 1000);
  assert.throws(
    () => new TfCheckpoint(d2).readTensor("model/wte"),
    (e: unknown) => e instanceof DataFormatError && /truncated/.test(e.message),
  );
});

test("safetensors: round trip, header claiming more bytes than the file (no huge allocation), unknown dtype", () => {
  const f = path.join(tmp.dir, "t.safetensors");
  writeSafetensors(
    f,
    new Map([
      ["b", { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }],
      ["a", { data: new Float32Array([7]), shape: [1] }],
    ]),
    { note: "x" },
  );
  const st = new SafetensorsFile(f);
  assert.deepEqual(
    st.listVariables().map((v) => [v.name, v.dtype, v.shape]),
    [
      ["a", "F32", [1]],
      ["b", "F32", [2, 3]],
    ],
  );
  assert.deepEqual(Array.from(st.readTensor("b").data), [1, 2, 3, 4, 5, 6]);
  assert.equal(st.metadata.note, "x");
  const huge = path.join(tmp.dir, "huge.safetensors");
  const h = Buffer.alloc(16);
  h.writeBigUInt64LE(2n ** 40n);
  fs.writeFileSync(huge, h);
  assert.throws(
    () => new SafetensorsFile(huge),
    (e: unknown) => e instanceof DataFormatError && /header claims 1099511627776 bytes/.test(e.message),
  );
  const short = path.join(tmp.dir, "short.safetensors");
  const s = Buffer.alloc(16);
  s.writeBigUInt64LE(1000n);
  fs.writeFileSync(short, s);
  assert.throws(
    () => new SafetensorsFile(short),
    (e: unknown) => e instanceof DataFormatError && /file has only 16/.test(e.message),
  );
  const bad = path.join(tmp.dir, "bad.safetensors");
  const json = Buffer.from(JSON.stringify({ x: { dtype: "Q7", shape: [1], data_offsets: [0, 1] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(bad, Buffer.concat([len, json, Buffer.alloc(1)]));
  assert.throws(
    () => new SafetensorsFile(bad),
    (e: unknown) => e instanceof DataFormatError && /unknown dtype "Q7"/.test(e.message),
  );
  // Every dtype of the format is recognised (listed), even if only floats load as weights.
  const bf = path.join(tmp.dir, "bf16.safetensors");
  const j2 = Buffer.from(
    JSON.stringify({
      h: { dtype: "BF16", shape: [2], data_offsets: [0, 4] },
      i: { dtype: "I64", shape: [1], data_offsets: [4, 12] },
    }),
  );
  const l2 = Buffer.alloc(8);
  l2.writeBigUInt64LE(BigInt(j2.length));
  const body = Buffer.alloc(12);
  body.writeUInt16LE(0x3f80, 0);
  body.writeUInt16LE(0xc000, 2);
  fs.writeFileSync(bf, Buffer.concat([l2, j2, body]));
  const st2 = new SafetensorsFile(bf);
  assert.deepEqual(Array.from(st2.readTensor("h").data), [1, -2]);
  assert.throws(() => st2.readTensor("i"), /only float tensors/);
});

test("safetensors: F16 converts, sharded index.json reads every shard, the writer checks shapes", () => {
  const f16 = path.join(tmp.dir, "f16.safetensors");
  const j = Buffer.from(JSON.stringify({ h: { dtype: "F16", shape: [1, 3], data_offsets: [0, 6] } }));
  const l = Buffer.alloc(8);
  l.writeBigUInt64LE(BigInt(j.length));
  const body = Buffer.alloc(6);
  body.writeUInt16LE(0x3c00, 0);
  body.writeUInt16LE(0xc000, 2);
  body.writeUInt16LE(0x7bff, 4);
  fs.writeFileSync(f16, Buffer.concat([l, j, body]));
  assert.deepEqual(Array.from(new SafetensorsFile(f16).readTensor("h").data), [1, -2, 65504]);
  const dir = path.join(tmp.dir, "sharded");
  fs.mkdirSync(dir);
  writeSafetensors(
    path.join(dir, "model-00001-of-00002.safetensors"),
    new Map([["x", { dtype: "F32", data: new Float32Array([1, 2]), shape: [2] }]]),
  );
  writeSafetensors(
    path.join(dir, "model-00002-of-00002.safetensors"),
    new Map([["y", { dtype: "F32", data: new Float32Array([3]), shape: [1, 1] }]]),
  );
  fs.writeFileSync(
    path.join(dir, "model.safetensors.index.json"),
    JSON.stringify({
      metadata: {},
      weight_map: { x: "model-00001-of-00002.safetensors", y: "model-00002-of-00002.safetensors" },
    }),
  );
  const st = new SafetensorsFile(path.join(dir, "model.safetensors.index.json"));
  assert.deepEqual(
    st.listVariables().map((v) => [v.name, path.basename(v.file)]),
    [
      ["x", "model-00001-of-00002.safetensors"],
      ["y", "model-00002-of-00002.safetensors"],
    ],
  );
  assert.deepEqual(Array.from(st.readTensor("y").data), [3]);
  assert.throws(
    () =>
      writeSafetensors(
        path.join(tmp.dir, "bad-shape.safetensors"),
        new Map([["z", { data: new Float32Array(3), shape: [2, 2] }]]),
      ),
    (e: unknown) => e instanceof ShapeMismatchError && /"z" has 3 values but shape \[2,2\] needs 4/.test(e.message),
  );
  assert.ok(!fs.existsSync(path.join(tmp.dir, "bad-shape.safetensors")));
});

test("a shape mismatch names the tensor and both shapes", () => {
  const { src, config } = openWeights(path.join(FIX, "openai"));
  const model = new GPTModel({ ...config, embDim: 8 });
  assert.throws(
    () => loadWeightsIntoGpt(model, src),
    (e: unknown) =>
      e instanceof ShapeMismatchError &&
      /Shape mismatch for tok_emb\.weight \(from model\/wte\): model expects \[512,8\], checkpoint has \[512,16\]/.test(
        e.message,
      ),
  );
  model.dispose();
});
