/**
 * Cold start: the converted weight cache (hit, miss, invalidation, atomic write), the model built straight from
 * loaded arrays, zero-copy readers, and classify identical with and without the cache (tfjs and ONNX Runtime).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import {
  GPTModel,
  initBackend,
  loadClassifier,
  loadPretrainedArrays,
  loadPretrainedGpt2,
  loadWeightsIntoGpt,
  openWeights,
  saveClassifier,
} from "llm-spam-classifier";
import { ArrayGpt } from "llm-spam-classifier/model";
import { classifyWithProbability, readClassifierArrays } from "llm-spam-classifier/train";
import { OnnxClassifier, loadOnnxRuntime } from "llm-spam-classifier/engine";
import {
  cachedWeights,
  crc32c,
  crc32cJs,
  toFloat32,
  weightCacheFile,
  type WeightArrays,
} from "llm-spam-classifier/weights";
import { ROOT, tempDir } from "../helpers";

const FIX = path.join(__dirname, "..", "fixtures", "model");
const tmp = tempDir("weight-cache-");
after(tmp.cleanup);
let n = 0;
const fresh = (name: string) => path.join(tmp.dir, `${name}-${n++}`);
const copy = (dir: string) => {
  const d = fresh(path.basename(dir));
  fs.cpSync(dir, d, { recursive: true });
  return d;
};
const cacheFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const plain = (a: WeightArrays) => new Map([...a].map(([k, t]) => [k, { data: Array.from(t.data), shape: t.shape }]));
const TEXTS = ["You won a prize, call now to claim it", "See you at dinner tonight?"];
// A small random classifier with GPT-2's vocabulary (the texts' token ids must fit).
const CFG = { vocabSize: 50257, contextLength: 24, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };
function saveRandomClassifier(dir: string): void {
  const model = new GPTModel(CFG, { seed: 11 });
  model.replaceOutHead(2, { bias: true, seed: 7 });
  saveClassifier(dir, model, { maxLength: 12 });
  model.dispose();
}

before(async () => {
  await initBackend();
});

for (const layout of ["openai", "hf"]) {
  test(`weight cache (${layout}): a miss writes one file, a hit reads it back with the very values of the uncached reader`, async () => {
    const src = copy(path.join(FIX, layout));
    const cacheDir = fresh("cache");
    const uncached = await loadPretrainedArrays({ path: src, cacheDir: false });
    assert.equal(uncached.cached, false);
    assert.deepEqual(cacheFiles(cacheDir), []);
    const miss = await loadPretrainedArrays({ path: src, cacheDir, cacheMinBytes: 0 });
    assert.equal(miss.cached, false);
    assert.equal(cacheFiles(cacheDir).length, 1);
    const hit = await loadPretrainedArrays({ path: src, cacheDir, cacheMinBytes: 0 });
    assert.equal(hit.cached, true);
    assert.deepEqual(plain(hit.arrays), plain(uncached.arrays));
    assert.deepEqual(plain(miss.arrays), plain(uncached.arrays));
    assert.deepEqual(hit.config, uncached.config);
    // A model built from the cache (each tensor read from the file straight into the backend's memory) has them too.
    const { model } = await loadPretrainedGpt2({ path: src, cacheDir, cacheMinBytes: 0 });
    for (const [name, t] of uncached.arrays)
      assert.deepEqual(Array.from(model.param(name).dataSync()), Array.from(t.data), name);
    model.dispose();
    // Sources under the size limit are not cached.
    const small = fresh("cache-small");
    assert.equal((await loadPretrainedArrays({ path: src, cacheDir: small })).cached, false);
    assert.deepEqual(cacheFiles(small), []);
  });
}

test("weight cache: a changed source is a miss; the rebuilt copy has the new values and replaces the stale one", async () => {
  const src = copy(path.join(FIX, "hf"));
  const cacheDir = fresh("cache");
  const opts = { path: src, cacheDir, cacheMinBytes: 0 };
  const before = await loadPretrainedArrays(opts);
  const [first] = cacheFiles(cacheDir);
  // Rewrite the file with other values (a different size too, via metadata) and a later modification time.
  const { SafetensorsFile, writeSafetensors } = await import("llm-spam-classifier/weights");
  const st = new SafetensorsFile(path.join(src, "model.safetensors"));
  const tensors = new Map(
    [...st.entries.keys()].map((k) => {
      const t = st.readTensor(k);
      return [k, { data: t.data.map((v) => v * 2), shape: t.shape }] as const;
    }),
  );
  writeSafetensors(path.join(src, "model.safetensors"), tensors, { changed: "yes" });
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(path.join(src, "model.safetensors"), later, later);
  const after = await loadPretrainedArrays(opts);
  assert.equal(after.cached, false, "changed source: rebuilt");
  const files = cacheFiles(cacheDir);
  assert.equal(files.length, 1, "the stale copy is deleted");
  assert.notEqual(files[0], first);
  const wpe0 = before.arrays.get("pos_emb.weight")!.data,
    wpe1 = after.arrays.get("pos_emb.weight")!.data;
  assert.deepEqual(Array.from(wpe1), Array.from(wpe0.map((v) => v * 2)));
  const hit = await loadPretrainedArrays(opts);
  assert.equal(hit.cached, true);
  assert.deepEqual(plain(hit.arrays), plain(after.arrays));
});

test("weight cache: the write is atomic; when it fails there is no partial file and the load still succeeds", () => {
  const src = copy(path.join(FIX, "hf"));
  const file = path.join(src, "model.safetensors");
  const cacheDir = fresh("cache");
  const target = weightCacheFile(cacheDir, [file], "test")!;
  // A non-empty folder where the cache file should go: the data is written to a temp file, the rename fails.
  fs.mkdirSync(target, { recursive: true });
  fs.writeFileSync(path.join(target, "blocker"), "x");
  const arrays: WeightArrays = new Map([["w", { data: new Float32Array(1 << 20).fill(1.5), shape: [1024, 1024] }]]);
  const notes: string[] = [];
  const r = cachedWeights([file], "test", () => arrays, { dir: cacheDir, minBytes: 0, log: (l) => notes.push(l) });
  assert.equal(r.hit, false);
  assert.equal(r.arrays, arrays);
  assert.match(notes.join("\n"), /could not write the weight cache/);
  assert.deepEqual(cacheFiles(cacheDir), [path.basename(target)], "no temp file, no partial cache file left");
  // A cache folder that cannot be created at all: the same.
  const blocked = path.join(fresh("file"), "cache");
  fs.writeFileSync(path.dirname(blocked), "not a folder");
  const r2 = cachedWeights([file], "test", () => arrays, { dir: blocked, minBytes: 0 });
  assert.equal(r2.hit, false);
  // A truncated cache file (e.g. copied half) is ignored and rewritten.
  fs.rmSync(target, { recursive: true });
  cachedWeights([file], "test", () => arrays, { dir: cacheDir, minBytes: 0 });
  fs.truncateSync(target, 1000);
  const r3 = cachedWeights([file], "test", () => arrays, { dir: cacheDir, minBytes: 0 });
  assert.equal(r3.hit, false);
  const r4 = cachedWeights([file], "test", () => new Map(), { dir: cacheDir, minBytes: 0 });
  assert.equal(r4.hit, true);
  assert.deepEqual(Array.from(r4.arrays.get("w")!.data.subarray(0, 3)), [1.5, 1.5, 1.5]);
});

test("GPTModel built from the arrays equals the model loaded the old way (zeros, then loadWeightsIntoGpt)", async () => {
  for (const layout of ["openai", "hf"]) {
    const dir = path.join(FIX, layout);
    const { model } = await loadPretrainedGpt2({ path: dir, cacheDir: false });
    const { src, config } = openWeights(dir);
    const old = new GPTModel(config, { init: "zeros" });
    loadWeightsIntoGpt(old, src);
    assert.deepEqual([...model.params.keys()], [...old.params.keys()]);
    for (const [name, v] of model.params)
      assert.deepEqual(Array.from(v.dataSync()), Array.from(old.param(name).dataSync()), `${layout} ${name}`);
    model.dispose();
    old.dispose();
  }
});

test("CRC-32C: the native one (@node-rs/crc32, when installed) equals the JavaScript slicing-by-8, chained too", () => {
  const data = new Uint8Array(100_003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  for (const len of [0, 1, 7, 8, 4095, 4096, 65_537, data.length]) {
    const part = data.subarray(3, 3 + Math.min(len, data.length - 3));
    assert.equal(crc32c(part), crc32cJs(part), `length ${len}`);
  }
  const whole = crc32cJs(data);
  assert.equal(crc32c(data.subarray(50_000), crc32c(data.subarray(0, 50_000))), whole);
  assert.equal(crc32cJs(Buffer.from("123456789")), 0xe3069283);
});

test("readers give float32 views over the bytes read (no copy) when aligned, a copy otherwise", () => {
  const bytes = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
  const view = toFloat32(bytes, "F32", "t");
  assert.equal(view.buffer, bytes.buffer);
  const unaligned = new Uint8Array(13);
  unaligned.set(bytes, 1);
  const copied = toFloat32(unaligned.subarray(1), "F32", "t");
  assert.notEqual(copied.buffer, unaligned.buffer);
  assert.deepEqual(Array.from(copied), [1, 2, 3]);
});

test("classify gives identical results through the cache and without it (tfjs and ONNX Runtime)", async () => {
  const dir = fresh("classifier");
  saveRandomClassifier(dir);
  const cacheDir = fresh("cache");
  const uncached = loadClassifier(dir, { cacheDir: false }).model;
  const miss = loadClassifier(dir, { cacheDir, cacheMinBytes: 0 }).model;
  assert.equal(cacheFiles(cacheDir).length, 1);
  const hit = loadClassifier(dir, { cacheDir, cacheMinBytes: 0 }).model;
  const want = TEXTS.map((t) => classifyWithProbability(t, uncached));
  assert.deepEqual(
    TEXTS.map((t) => classifyWithProbability(t, miss)),
    want,
  );
  assert.deepEqual(
    TEXTS.map((t) => classifyWithProbability(t, hit)),
    want,
  );
  if (loadOnnxRuntime()) {
    // ONNX Runtime straight from the cached arrays (no tfjs model) = ONNX Runtime from the uncached GPTModel.
    const { arrays, config } = readClassifierArrays(dir, { cacheDir, cacheMinBytes: 0 });
    const arrayModel = new ArrayGpt(config.gpt, arrays);
    arrayModel.trainedMaxLength = config.maxLength;
    arrayModel.padTokenId = config.padTokenId;
    const results = [];
    for (const m of [arrayModel, uncached]) {
      const onnx = await OnnxClassifier.create(m);
      results.push(await onnx.classify(TEXTS));
      await onnx.release();
    }
    assert.deepEqual(results[0], results[1]);
    assert.deepEqual(
      results[0].map((r) => r.label),
      want.map((r) => r.label),
    );
  }
  for (const m of [uncached, miss, hit]) m.dispose();
});

test("the CLI loads no tfjs for --help, and none for classify on ONNX Runtime", () => {
  const probe = (args: string[]) => {
    const code = `
      const Module = require("module"); const load = Module._load; let tf = false;
      Module._load = function (req) { if (/@tensorflow\\//.test(req)) tf = true; return load.apply(this, arguments); };
      require(${JSON.stringify(path.join(ROOT, "lib", "dist", "cli", "main.js"))})
        .main(${JSON.stringify(args)}).then((c) => { process.stderr.write("TFJS=" + tf + " CODE=" + c + "\\n"); });`;
    const r = spawnSync(process.execPath, ["-e", code], {
      encoding: "utf8",
      env: { ...process.env, LLM_WEIGHT_CACHE: "off" },
    });
    return r.stderr;
  };
  assert.match(probe(["--help"]), /TFJS=false CODE=0/);
  assert.match(probe(["classify", "--help"]), /TFJS=false CODE=0/);
  if (loadOnnxRuntime()) {
    const dir = fresh("classifier-cli");
    saveRandomClassifier(dir);
    assert.match(probe(["classify", "--model", dir, "--engine", "onnx", "Win a prize now"]), /TFJS=false CODE=0/);
    assert.match(probe(["classify", "--model", dir, "--engine", "tfjs", "Win a prize now"]), /TFJS=true CODE=0/);
  }
});
