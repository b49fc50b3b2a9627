import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { TfCheckpoint } from "llm-spam-classifier";
import { tempDir } from "../helpers";

// `npm start -- weights ...` and `npm start -- generate ...` end to end, on the PyTorch-made fixtures
// and (with --smoke) the tiny checkpoint served from 127.0.0.1.
const root = path.resolve(__dirname, "..", "..");
const cli = path.join(root, "lib", "dist", "cli", "main.js");
const FIX = path.join(__dirname, "..", "fixtures", "model");
const tmp = tempDir("weights-cli-");
after(tmp.cleanup);
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cli, ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, LLM_DATA_DIR: path.join(tmp.dir, "data"), GPT2_BASE_URL: "", LLM_SMOKE: "", ...env },
  });

type Listed = { name: string; dtype: string; shape: number[]; sha256?: string };

test("weights inspect --json --sha256: names, dtypes as the files name them, shapes, hashes of the stored bytes", () => {
  const tf = run(["weights", "inspect", path.join(FIX, "openai"), "--json", "--sha256"]);
  assert.equal(tf.status, 0, tf.stderr);
  const a = JSON.parse(tf.stdout) as Listed[];
  assert.equal(a.length, 28);
  assert.deepEqual(
    a.find((v) => v.name === "model/h0/attn/c_attn/w"),
    {
      name: "model/h0/attn/c_attn/w",
      dtype: "DT_FLOAT",
      shape: [1, 16, 48],
      sha256: a.find((v) => v.name === "model/h0/attn/c_attn/w")!.sha256,
    },
  );
  const st = run(["weights", "inspect", path.join(FIX, "hf", "model.safetensors"), "--json", "--sha256"]);
  assert.equal(st.status, 0, st.stderr);
  const b = JSON.parse(st.stdout) as Listed[];
  const wpe = b.find((v) => v.name === "transformer.wpe.weight")!;
  assert.deepEqual([wpe.dtype, wpe.shape], ["F32", [32, 16]]);
  // The same float32 values stored in two formats hash the same; and the hash is of the stored bytes.
  assert.equal(wpe.sha256, a.find((v) => v.name === "model/wpe")!.sha256);
  const file = fs.readFileSync(path.join(FIX, "hf", "model.safetensors"));
  const headerLen = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLen).toString("utf8")) as Record<
    string,
    { data_offsets: [number, number] }
  >;
  const [begin, end] = header["transformer.wpe.weight"].data_offsets;
  assert.equal(
    wpe.sha256,
    crypto
      .createHash("sha256")
      .update(file.subarray(8 + headerLen + begin, 8 + headerLen + end))
      .digest("hex"),
  );
  // Human-readable form.
  const text = run(["weights", "inspect", path.join(FIX, "misc-dtypes")]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^half +DT_HALF +\[2, 3\]$/m);
  assert.match(text.stdout, /^odd +DT_UNKNOWN\(99\) +\[2\]$/m);
  assert.match(text.stdout, /^3 tensors; index: 1 data blocks \(0 Snappy-compressed\), 1 data shard\(s\)$/m);
});

test("weights inspect on TF2 checkpoints: DT_STRING tensors listed (--json, --sha256 of the elements' bytes), a corrupt one is one clear error", () => {
  const dir = path.join(FIX, "tf2-object-graph");
  const r = run(["weights", "inspect", dir, "--json", "--sha256"]);
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout) as Listed[];
  assert.deepEqual(
    list.map((v) => [v.name, v.dtype, v.shape]),
    [
      ["_CHECKPOINTABLE_OBJECT_GRAPH", "DT_STRING", []],
      ["model/layer/bias/.ATTRIBUTES/VARIABLE_VALUE", "DT_FLOAT", [3]],
      ["model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE", "DT_FLOAT", [4, 3]],
      ["save_counter/.ATTRIBUTES/VARIABLE_VALUE", "DT_INT64", []],
    ],
  );
  // The object graph's hash is of its bytes: the stored entry less its 2-byte varint length and 4-byte length checksum.
  const e = new TfCheckpoint(dir).entry("_CHECKPOINTABLE_OBJECT_GRAPH");
  const raw = fs.readFileSync(path.join(dir, "ckpt-1.data-00000-of-00001")).subarray(e.offset, e.offset + e.size);
  assert.equal(raw[0] & 0x80, 0x80);
  assert.equal((raw[0] & 0x7f) | (raw[1] << 7), e.size - 6);
  assert.equal(list[0].sha256, crypto.createHash("sha256").update(raw.subarray(6)).digest("hex"));
  assert.notEqual(list[0].sha256, crypto.createHash("sha256").update(raw).digest("hex"));
  const real = run(["weights", "inspect", path.join(FIX, "tf2-real", "checkpoint"), "--json", "--sha256"]);
  assert.equal(real.status, 0, real.stderr);
  const labels = (JSON.parse(real.stdout) as Listed[]).find(
    (v) => v.name === "model/labels/.ATTRIBUTES/VARIABLE_VALUE",
  )!;
  assert.deepEqual(
    [labels.dtype, labels.shape, labels.sha256],
    [
      "DT_STRING",
      [3],
      crypto
        .createHash("sha256")
        .update("ham" + "" + "spam ".repeat(40))
        .digest("hex"),
    ],
  );
  const text = run(["weights", "inspect", path.join(FIX, "tf2-real", "savedmodel")]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^_CHECKPOINTABLE_OBJECT_GRAPH +DT_STRING +\[\]$/m);
  assert.match(text.stdout, /^labels\/\.ATTRIBUTES\/VARIABLE_VALUE +DT_STRING +\[3\]$/m);
  // A flipped string byte: exit 1 (a data error), one line naming the tensor and the checksum.
  const bad = path.join(tmp.dir, "tf2-bad");
  fs.cpSync(dir, bad, { recursive: true });
  const file = path.join(bad, "ckpt-1.data-00000-of-00001");
  const bytes = fs.readFileSync(file);
  bytes[e.offset + e.size - 1] ^= 0x01;
  fs.writeFileSync(file, bytes);
  const c = run(["weights", "inspect", bad, "--sha256"]);
  assert.equal(c.status, 1, c.stderr);
  assert.equal(c.stderr.trim().split("\n").length, 1, c.stderr);
  assert.match(
    c.stderr,
    /^error: _CHECKPOINTABLE_OBJECT_GRAPH: DT_STRING data checksum mismatch in ckpt-1\.data-00000-of-00001 \(the entry's CRC32C/m,
  );
  assert.equal(run(["weights", "inspect", bad]).status, 0, "listing alone reads the index only");
});

test("weights download (local server via --smoke, into <data>/smoke) and generate --json: the first new token is the argmax of lastLogits", () => {
  const dl = run(["weights", "download", "--size", "124M", "--smoke", "--json"]);
  assert.equal(dl.status, 0, dl.stderr);
  assert.deepEqual(JSON.parse(dl.stdout), { size: "124M", dir: path.join(tmp.dir, "data", "smoke", "gpt2", "124M") });
  const g = run(["generate", "Every effort moves you", "--smoke", "--max-new-tokens", "3", "--json"]);
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stderr + g.stdout, /File already exists and is up-to-date: .*124M\/model\.ckpt\.index/);
  const out = JSON.parse(g.stdout) as {
    text: string;
    promptTokenIds: number[];
    tokenIds: number[];
    lastLogits: number[];
  };
  assert.deepEqual(out.promptTokenIds, [6109, 3626, 6100, 345]);
  assert.equal(out.tokenIds.length, 7);
  assert.deepEqual(out.tokenIds.slice(0, 4), out.promptTokenIds);
  assert.equal(out.lastLogits.length, 50257);
  assert.equal(out.lastLogits.indexOf(Math.max(...out.lastLogits)), out.tokenIds[4]);
  assert.ok(out.text.startsWith("Every effort moves you"));
  // the same generation on ONNX Runtime: the same tokens, the same logits within float32 rounding
  const o = run([
    "generate",
    "Every effort moves you",
    "--smoke",
    "--max-new-tokens",
    "3",
    "--json",
    "--engine",
    "onnx",
  ]);
  assert.equal(o.status, 0, o.stderr);
  const onnx = JSON.parse(o.stdout) as typeof out;
  assert.deepEqual(onnx.tokenIds, out.tokenIds);
  assert.equal(onnx.text, out.text);
  assert.ok(
    onnx.lastLogits.every((v, i) => Math.abs(v - out.lastLogits[i]) < 1e-4),
    "logits equal within 1e-4",
  );
});

test("user mistakes: one line, exit code 2", () => {
  const cases: Array<[string[], RegExp]> = [
    [["weights", "download", "--size", "7B"], /^error: Model size not in 124M, 355M, 774M, 1558M: "7B"/],
    [["weights", "inspect"], /^error: weights inspect needs a PATH/],
    [["weights", "inspect", path.join(tmp.dir, "missing")], /^error: No weights at /],
    [["weights", "frob"], /^error: weights needs "download" or "inspect", got "frob"/],
    [["generate"], /^error: generate needs a prompt/],
    [
      ["generate", "Every effort moves you", "--weights", path.join(FIX, "openai")],
      /^error: Token id 6109 is outside the model's vocabulary \(512 tokens\)/,
    ],
    // A negative value is the option's value (not an "ambiguous" option), in both spellings, and is checked.
    [
      ["generate", "hi", "--max-new-tokens", "-1"],
      /^error: --max-new-tokens must be a positive integer \(at most 1024\), got "-1"$/,
    ],
    [
      ["generate", "hi", "--max-new-tokens=-1"],
      /^error: --max-new-tokens must be a positive integer \(at most 1024\), got "-1"$/,
    ],
    [["generate", "--max-new-tokens", "-1", "hi"], /^error: --max-new-tokens must be a positive integer/],
    [
      ["generate", "hi", "--max-new-tokens", "1.5"],
      /^error: --max-new-tokens must be a positive integer \(at most 1024\), got "1\.5"$/,
    ],
    [["generate", "hi", "--max-new-tokens", "1e2"], /^error: --max-new-tokens must be a positive integer/],
    [["generate", "hi", "--max-new-tokens"], /^error: Option '--max-new-tokens <value>' argument missing/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("error:"));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], re);
  }
});
