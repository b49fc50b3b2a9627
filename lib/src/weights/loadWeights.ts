/**
 * Loading pretrained GPT-2 weights into our GPTModel (book: load_weights_into_gpt, 5.5 / 6.4), from
 * OpenAI's TF checkpoint names (`model/h0/attn/c_attn/w`), Hugging Face's (`h.0.attn.c_attn.weight`,
 * optionally prefixed `transformer.`) or the book's own state_dict names (`tok_emb.weight`, …, as in
 * rasbt's `gpt2-small-124M.safetensors`). GPT-2's Conv1D weights are already `[in, out]`, our layout,
 * so unlike the book (which transposes into PyTorch's `[out, in]`) nothing is transposed except the
 * output head, which is the token embedding transposed (GPT-2 ties them); the book's state_dict
 * stores PyTorch `[out, in]` Linear weights, which are transposed.
 */
import { DataFormatError, ShapeMismatchError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import { isLinearWeight } from "../model/parameters";

/** What both TfCheckpoint and SafetensorsFile offer. */
export interface WeightSource {
  has(name: string): boolean;
  readTensor(name: string): { data: Float32Array; shape: number[] };
}

/** OpenAI's TF names, Hugging Face's names, or the book's own state_dict names (PyTorch `[out, in]` Linear weights). */
export type WeightLayout = "openai" | "huggingface" | "book";

/** Tells the layout (and Hugging Face's optional `transformer.` prefix) from the names present. */
export function detectLayout(src: WeightSource): { layout: WeightLayout; prefix: string } {
  if (src.has("model/wte")) return { layout: "openai", prefix: "model/" };
  if (src.has("wte.weight")) return { layout: "huggingface", prefix: "" };
  if (src.has("transformer.wte.weight")) return { layout: "huggingface", prefix: "transformer." };
  if (src.has("tok_emb.weight")) return { layout: "book", prefix: "" };
  throw new DataFormatError(
    "Not a GPT-2 checkpoint: found neither model/wte (OpenAI), wte.weight (Hugging Face) nor tok_emb.weight (the book's state_dict)",
  );
}

/** Source tensor names for one of our parameters, per layout (c_attn splits into q/k/v). */
function sourceName(layout: WeightLayout, prefix: string, ours: string): { name: string; part?: number } {
  const oa = layout === "openai";
  const m = /^trf_blocks\.(\d+)\.(.+)$/.exec(ours);
  const top: Record<string, [string, string]> = {
    "tok_emb.weight": ["wte", "wte.weight"],
    "pos_emb.weight": ["wpe", "wpe.weight"],
    "final_norm.scale": ["ln_f/g", "ln_f.weight"],
    "final_norm.shift": ["ln_f/b", "ln_f.bias"],
  };
  if (!m) {
    const t = top[ours];
    if (!t) throw new DataFormatError(`No pretrained tensor for ${ours}`);
    return { name: prefix + (oa ? t[0] : t[1]) };
  }
  const [, i, rest] = m;
  const block = oa ? `h${i}/` : `h.${i}.`;
  const qkv = /^att\.W_(query|key|value)\.(weight|bias)$/.exec(rest);
  if (qkv) {
    const kind = qkv[2] === "weight" ? (oa ? "w" : "weight") : oa ? "b" : "bias";
    return {
      name: prefix + block + (oa ? `attn/c_attn/${kind}` : `attn.c_attn.${kind}`),
      part: ["query", "key", "value"].indexOf(qkv[1]),
    };
  }
  const map: Record<string, [string, string]> = {
    "att.out_proj.weight": ["attn/c_proj/w", "attn.c_proj.weight"],
    "att.out_proj.bias": ["attn/c_proj/b", "attn.c_proj.bias"],
    "ff.layers.0.weight": ["mlp/c_fc/w", "mlp.c_fc.weight"],
    "ff.layers.0.bias": ["mlp/c_fc/b", "mlp.c_fc.bias"],
    "ff.layers.2.weight": ["mlp/c_proj/w", "mlp.c_proj.weight"],
    "ff.layers.2.bias": ["mlp/c_proj/b", "mlp.c_proj.bias"],
    "norm1.scale": ["ln_1/g", "ln_1.weight"],
    "norm1.shift": ["ln_1/b", "ln_1.bias"],
    "norm2.scale": ["ln_2/g", "ln_2.weight"],
    "norm2.shift": ["ln_2/b", "ln_2.bias"],
  };
  const t = map[rest];
  if (!t) throw new DataFormatError(`No pretrained tensor for ${ours}`);
  return { name: prefix + block + (oa ? t[0] : t[1]) };
}

/** `[rows, cols]` row-major → `[cols, rows]`, in 64×64 tiles (a plain double loop misses the cache on every write). */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B)
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(r0 + B, rows),
        c1 = Math.min(c0 + B, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = data[r * cols + c];
    }
  return out;
}

/** Columns `[from, from + n)` of a row-major `[rows, cols]` matrix (c_attn's q, k or v third). */
function columns(data: Float32Array, rows: number, cols: number, from: number, n: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + from + n), r * n);
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, k) => d === b[k]);

/**
 * Pretrained GPT-2 weights as our parameters' values (our names and layout), from OpenAI's, Hugging Face's
 * or the book's own state_dict names; no tfjs involved (the values go straight into a GPTModel or ONNX Runtime).
 * The output head is the token embedding, transposed (GPT-2 ties them), unless the source has its own
 * `out_head.weight`; `out_head.*` not in `shapes` (a classifier head) is not read.
 * @param shapes our parameter names and shapes (`parameterShapes(cfg)`, or a model's).
 * @throws DataFormatError for a missing tensor; ShapeMismatchError naming the tensor and both shapes.
 */
export function gpt2WeightArrays(
  src: WeightSource,
  shapes: ReadonlyArray<readonly [string, readonly number[]]>,
): { arrays: Map<string, Float32Array>; layout: WeightLayout } {
  const { layout, prefix } = detectLayout(src);
  const arrays = new Map<string, Float32Array>();
  const shapeOf = new Map(shapes);
  const lmHead = shapeOf.get("out_head.weight")?.[1] === shapeOf.get("tok_emb.weight")?.[0];
  const mismatch = (ours: string, name: string, expected: readonly number[], got: readonly number[]) =>
    new ShapeMismatchError(
      `Shape mismatch for ${ours} (from ${name}): model expects [${expected.join(",")}], checkpoint has [${got.join(",")}]`,
    );
  const read = (name: string) => {
    if (!src.has(name)) throw new DataFormatError(`The checkpoint has no tensor "${name}"`);
    return src.readTensor(name);
  };
  if (layout === "book") {
    for (const [ours, expected] of shapes) {
      if (ours.startsWith("out_head.") && !lmHead) continue; // a classifier head replaced after loading
      const tied = ours === "out_head.weight" && !src.has(ours);
      const name = tied ? "tok_emb.weight" : ours;
      const t = read(name);
      const transpose = tied || isLinearWeight(ours); // PyTorch Linear [out, in] → ours [in, out]
      const want = transpose ? [...expected].reverse() : expected;
      if (!sameShape(t.shape, want)) throw mismatch(ours, name, want, t.shape);
      arrays.set(ours, transpose ? transpose2d(t.data, t.shape[0], t.shape[1]) : t.data);
    }
    return { arrays, layout };
  }
  // c_attn's weight and bias are read once for q, k and v.
  let last: { name: string; t: { data: Float32Array; shape: number[] } } | undefined;
  const readOnce = (name: string) => {
    if (last?.name !== name) {
      const t = read(name);
      // OpenAI's Conv1D weights are [1, in, out]: drop the leading 1 (the book's np.squeeze).
      last = {
        name,
        t: { data: t.data, shape: t.shape.length === 3 && t.shape[0] === 1 ? t.shape.slice(1) : t.shape },
      };
    }
    return last.t;
  };
  for (const [ours, expected] of shapes) {
    if (ours.startsWith("out_head.")) continue;
    const { name, part } = sourceName(layout, prefix, ours);
    const t = readOnce(name);
    if (part === undefined) {
      if (!sameShape(t.shape, expected)) throw mismatch(ours, name, expected, t.shape);
      arrays.set(ours, t.data);
      continue;
    }
    // c_attn packs q, k, v side by side: [E, 3E] (weights) or [3E] (biases); take the part-th third.
    const E = expected[expected.length - 1];
    const want = expected.slice(0, -1).concat(3 * E);
    if (!sameShape(t.shape, want)) throw mismatch(ours, name, want, t.shape);
    arrays.set(
      ours,
      t.shape.length === 1 ? t.data.slice(part * E, (part + 1) * E) : columns(t.data, t.shape[0], 3 * E, part * E, E),
    );
  }
  // Output head: GPT-2 ties it to the token embedding (logits = h · wteᵀ).
  if (lmHead) {
    const wte = arrays.get("tok_emb.weight")!;
    const [V, E] = shapeOf.get("tok_emb.weight")!;
    arrays.set("out_head.weight", transpose2d(wte, V, E));
  }
  return { arrays, layout };
}

/**
 * Copies pretrained GPT-2 weights into `model` (whose config must match the checkpoint's), from
 * OpenAI's, Hugging Face's or the book's own state_dict names (e.g. `gpt2-small-124M.safetensors`, 5.5 / appendix).
 * The output head gets the token embedding, transposed (the book's `out_head.weight = wte`), unless
 * the source has its own `out_head.weight`; a replaced (classifier) head is left alone.
 * (`loadPretrainedGpt2` builds the model straight from `gpt2WeightArrays` instead.)
 * @throws DataFormatError for a missing tensor; ShapeMismatchError naming the tensor and both shapes.
 */
export function loadWeightsIntoGpt(
  model: GPTModel,
  src: WeightSource,
  log?: (line: string) => void,
): { layout: WeightLayout } {
  const shapes = [...model.params].map(([n, v]) => [n, v.shape] as const);
  const { arrays, layout } = gpt2WeightArrays(src, shapes);
  for (const [name, data] of arrays) model.setParam(name, data, model.param(name).shape);
  log?.(`Loaded ${model.params.size} tensors (${layout === "book" ? "book state_dict" : layout} layout).`);
  return { layout };
}
