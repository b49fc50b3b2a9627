/**
 * Loading pretrained GPT-2 weights into our GPTModel (book: load_weights_into_gpt, 5.5 / 6.4), from
 * OpenAI's TF checkpoint names (`model/h0/attn/c_attn/w`), Hugging Face's (`h.0.attn.c_attn.weight`,
 * optionally prefixed `transformer.`) or the book's own state_dict names (`tok_emb.weight`, …, as in
 * rasbt's `gpt2-small-124M.safetensors`). GPT-2's Conv1D weights are already `[in, out]`, our layout,
 * so unlike the book (which transposes into PyTorch's `[out, in]`) nothing is transposed except the
 * output head, which is the token embedding transposed (GPT-2 ties them); the book's state_dict
 * stores PyTorch `[out, in]` Linear weights, which are transposed.
 */
import * as tf from "@tensorflow/tfjs";
import { DataFormatError, ShapeMismatchError } from "../errors";
import { isLinearWeight, type GPTModel } from "../model/gptModel";

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

/**
 * Copies pretrained GPT-2 weights into `model` (whose config must match the checkpoint's), from
 * OpenAI's, Hugging Face's or the book's own state_dict names (e.g. `gpt2-small-124M.safetensors`, 5.5 / appendix).
 * The output head gets the token embedding, transposed (the book's `out_head.weight = wte`), unless
 * the source has its own `out_head.weight`; a replaced (classifier) head is left alone.
 * @throws DataFormatError for a missing tensor; ShapeMismatchError naming the tensor and both shapes.
 */
export function loadWeightsIntoGpt(
  model: GPTModel,
  src: WeightSource,
  log?: (line: string) => void,
): { layout: WeightLayout } {
  const { layout, prefix } = detectLayout(src);
  if (layout === "book") {
    loadBookStateDict(model, src);
    log?.(`Loaded ${model.params.size} tensors (book state_dict layout).`);
    return { layout };
  }
  const cache = new Map<string, { data: Float32Array; shape: number[] }>();
  const read = (name: string) => {
    if (!cache.has(name)) {
      if (!src.has(name)) throw new DataFormatError(`The checkpoint has no tensor "${name}"`);
      const t = src.readTensor(name);
      if (cache.size >= 4) cache.delete(cache.keys().next().value!); // c_attn w/b are read for q, k and v
      // OpenAI's Conv1D weights are [1, in, out]: drop the leading 1 (the book's np.squeeze).
      cache.set(name, { data: t.data, shape: t.shape.length === 3 && t.shape[0] === 1 ? t.shape.slice(1) : t.shape });
    }
    return cache.get(name)!;
  };
  for (const [ours, variable] of model.params) {
    if (ours.startsWith("out_head.")) continue;
    const { name, part } = sourceName(layout, prefix, ours);
    const t = read(name);
    const expected = variable.shape;
    if (part === undefined) {
      if (t.shape.length !== expected.length || t.shape.some((d, k) => d !== expected[k])) {
        throw new ShapeMismatchError(
          `Shape mismatch for ${ours} (from ${name}): model expects [${expected.join(",")}], checkpoint has [${t.shape.join(",")}]`,
        );
      }
      model.setParam(ours, t.data, t.shape);
      continue;
    }
    // c_attn packs q, k, v side by side: [E, 3E] (weights) or [3E] (biases); take the part-th third.
    const E = expected[expected.length - 1];
    const okShape =
      t.shape.length === expected.length &&
      t.shape[t.shape.length - 1] === 3 * E &&
      (t.shape.length === 1 || t.shape[0] === expected[0]);
    if (!okShape)
      throw new ShapeMismatchError(
        `Shape mismatch for ${ours} (from ${name}): expected [${expected
          .slice(0, -1)
          .concat(3 * E)
          .join(",")}], checkpoint has [${t.shape.join(",")}]`,
      );
    tf.tidy(() => {
      const full = tf.tensor(t.data, t.shape);
      const slice = t.shape.length === 1 ? full.slice([part * E], [E]) : full.slice([0, part * E], [t.shape[0], E]);
      model.setParam(ours, slice);
    });
  }
  // Output head: GPT-2 ties it to the token embedding (logits = h · wteᵀ).
  if (model.params.has("out_head.weight") && model.outDim === model.cfg.vocabSize) {
    const wte = read(sourceName(layout, prefix, "tok_emb.weight").name);
    tf.tidy(() => model.setParam("out_head.weight", tf.tensor2d(wte.data, wte.shape as [number, number]).transpose()));
  }
  log?.(`Loaded ${model.params.size} tensors (${layout} layout).`);
  return { layout };
}

/** The book's state_dict (`tok_emb.weight`, `trf_blocks.0.att.W_query.weight` `[out, in]`, …): same names, Linear weights transposed. */
function loadBookStateDict(model: GPTModel, src: WeightSource): void {
  const lmHead = model.outDim === model.cfg.vocabSize;
  for (const [ours, variable] of model.params) {
    if (ours.startsWith("out_head.") && !lmHead) continue; // a classifier head replaced after loading
    const name = ours === "out_head.weight" && !src.has(ours) ? "tok_emb.weight" : ours; // tied head
    if (!src.has(name)) throw new DataFormatError(`The checkpoint has no tensor "${name}"`);
    const t = src.readTensor(name);
    const transpose = isLinearWeight(ours) && name === ours; // PyTorch Linear [out, in] → ours [in, out]
    const expected = transpose || name !== ours ? [...variable.shape].reverse() : variable.shape;
    if (t.shape.length !== expected.length || t.shape.some((d, k) => d !== expected[k])) {
      throw new ShapeMismatchError(
        `Shape mismatch for ${ours} (from ${name}): model expects [${expected.join(",")}], checkpoint has [${t.shape.join(",")}]`,
      );
    }
    if (transpose || name !== ours) tf.tidy(() => model.setParam(ours, tf.tensor(t.data, t.shape).transpose()));
    else model.setParam(ours, t.data, t.shape);
  }
}
