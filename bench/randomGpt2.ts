/**
 * GPT-2 of any size with random weights, written the way the real files come: OpenAI's TensorFlow
 * checkpoint folder (`model.ckpt.*` + hparams.json) and a Hugging Face folder (`model.safetensors` +
 * config.json). For measuring cold start on 124M-shaped files without downloading GPT-2.
 *
 * `node --import tsx bench/randomGpt2.ts OUT_DIR [124M]` writes OUT_DIR/openai/ and OUT_DIR/hf/.
 * The checkpoint writer follows TensorFlow's tensor_bundle and table format like
 * scripts/fixtures/gpt2_reference.py (one uncompressed index block, every entry a restart point).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { modelConfig, type GPTConfig } from "llm-spam-classifier";
import { crc32c, maskCrc, writeSafetensors } from "llm-spam-classifier/weights";

/** OpenAI's tensor names and shapes for a config (Conv1D weights `[1, in, out]`). */
export function openaiShapes(cfg: GPTConfig): Array<[string, number[]]> {
  const E = cfg.embDim;
  const out: Array<[string, number[]]> = [
    ["model/wte", [cfg.vocabSize, E]],
    ["model/wpe", [cfg.contextLength, E]],
    ["model/ln_f/g", [E]],
    ["model/ln_f/b", [E]],
  ];
  for (let i = 0; i < cfg.nLayers; i++) {
    const h = `model/h${i}/`;
    out.push(
      [`${h}attn/c_attn/w`, [1, E, 3 * E]],
      [`${h}attn/c_attn/b`, [3 * E]],
      [`${h}attn/c_proj/w`, [1, E, E]],
      [`${h}attn/c_proj/b`, [E]],
      [`${h}mlp/c_fc/w`, [1, E, 4 * E]],
      [`${h}mlp/c_fc/b`, [4 * E]],
      [`${h}mlp/c_proj/w`, [1, 4 * E, E]],
      [`${h}mlp/c_proj/b`, [E]],
      [`${h}ln_1/g`, [E]],
      [`${h}ln_1/b`, [E]],
      [`${h}ln_2/g`, [E]],
      [`${h}ln_2/b`, [E]],
    );
  }
  return out;
}

/** Deterministic pseudo-random values in ±0.1 (xorshift32; the values only need to differ). */
function randomValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 0x100000000 - 0.5) * 0.2;
  }
  return out;
}

const varint = (n: number): number[] => {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
};
const pbVarint = (field: number, v: number) => [...varint(field << 3), ...varint(v)];
const pbBytes = (field: number, b: number[]) => [...varint((field << 3) | 2), ...varint(b.length), ...b];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** One uncompressed table block (every entry a restart point) with its 5-byte trailer; returns its handle. */
function tableBlock(chunks: number[][], entries: Array<[string, number[]]>): number[] {
  const offset = chunks.reduce((a, c) => a + c.length, 0);
  const body: number[] = [],
    restarts: number[] = [];
  for (const [k, v] of entries) {
    restarts.push(body.length);
    const key = [...Buffer.from(k, "utf8")];
    body.push(...varint(0), ...varint(key.length), ...varint(v.length), ...key, ...v);
  }
  if (!restarts.length) restarts.push(0);
  for (const r of restarts) body.push(...u32(r));
  body.push(...u32(restarts.length));
  const withType = [...body, 0];
  chunks.push([...withType, ...u32(maskCrc(crc32c(Uint8Array.from(withType))))]);
  return [...varint(offset), ...varint(body.length)];
}

/** Writes `<prefix>.index` and `<prefix>.data-00000-of-00001` (float32, one shard). */
export function writeTfCheckpoint(
  prefix: string,
  tensors: ReadonlyMap<string, { data: Float32Array; shape: number[] }>,
) {
  const names = [...tensors.keys()].sort();
  const kv: Array<[string, number[]]> = [["", [...pbVarint(1, 1), ...pbBytes(3, pbVarint(1, 1))]]];
  const fd = fs.openSync(`${prefix}.data-00000-of-00001`, "w");
  let offset = 0;
  for (const n of names) {
    const { data, shape } = tensors.get(n)!;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    fs.writeSync(fd, bytes);
    const dims = shape.flatMap((d) => pbBytes(2, pbVarint(1, d)));
    const entry = [
      ...pbVarint(1, 1),
      ...pbBytes(2, dims),
      ...pbVarint(3, 0),
      ...pbVarint(4, offset),
      ...pbVarint(5, bytes.length),
      ...varint((6 << 3) | 5),
      ...u32(maskCrc(crc32c(bytes))),
    ];
    kv.push([n, entry]);
    offset += bytes.length;
  }
  fs.closeSync(fd);
  const chunks: number[][] = [];
  const data = tableBlock(chunks, kv);
  const meta = tableBlock(chunks, []);
  const index = tableBlock(chunks, [[`${names[names.length - 1]}\xff`, data]]);
  const footer = [...meta, ...index];
  while (footer.length < 40) footer.push(0);
  footer.push(0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb); // magic 0xdb4775248b80fb57, little-endian
  fs.writeFileSync(`${prefix}.index`, Uint8Array.from([...chunks.flat(), ...footer]));
}

/** Writes `<out>/openai/` (TF checkpoint + hparams.json) and `<out>/hf/` (model.safetensors + config.json). */
export function writeRandomGpt2(out: string, size = "124M"): { openai: string; hf: string } {
  const cfg = modelConfig(size);
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  openaiShapes(cfg).forEach(([name, shape], i) => {
    const n = shape.reduce((a, d) => a * d, 1);
    tensors.set(name, { data: randomValues(n, 1000 + i), shape });
  });
  const openai = path.join(out, "openai"),
    hf = path.join(out, "hf");
  fs.mkdirSync(openai, { recursive: true });
  fs.mkdirSync(hf, { recursive: true });
  writeTfCheckpoint(path.join(openai, "model.ckpt"), tensors);
  fs.writeFileSync(path.join(openai, "checkpoint"), 'model_checkpoint_path: "model.ckpt"\n');
  const hp = { n_vocab: cfg.vocabSize, n_ctx: cfg.contextLength, n_embd: cfg.embDim, n_head: cfg.nHeads };
  fs.writeFileSync(path.join(openai, "hparams.json"), JSON.stringify({ ...hp, n_layer: cfg.nLayers }));
  // Hugging Face: transformer.h.0.attn.c_attn.weight, Conv1D [in, out] (OpenAI's without the leading 1).
  const hfTensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, t] of tensors) {
    let n = name
      .slice("model/".length)
      .replace(/^h(\d+)\//, "h.$1.")
      .replace(/\//g, ".");
    n = n.replace(/\.(w|g)$/, ".weight").replace(/\.b$/, ".bias");
    if (n === "wte" || n === "wpe") n += ".weight";
    hfTensors.set(`transformer.${n}`, { data: t.data, shape: t.shape.length === 3 ? t.shape.slice(1) : t.shape });
  }
  writeSafetensors(path.join(hf, "model.safetensors"), hfTensors, { format: "pt" });
  const hfConfig = { vocab_size: cfg.vocabSize, n_positions: cfg.contextLength, n_embd: cfg.embDim };
  fs.writeFileSync(
    path.join(hf, "config.json"),
    JSON.stringify({ ...hfConfig, n_head: cfg.nHeads, n_layer: cfg.nLayers, model_type: "gpt2" }),
  );
  return { openai, hf };
}

if (process.argv[1] && path.basename(process.argv[1]).startsWith("randomGpt2")) {
  const [out, size] = process.argv.slice(2);
  if (!out) throw new Error("usage: node --import tsx bench/randomGpt2.ts OUT_DIR [124M]");
  console.log(writeRandomGpt2(out, size ?? "124M"));
}
