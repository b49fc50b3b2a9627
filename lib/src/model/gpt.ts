/**
 * GPT-2 (book ch. 4) as one definition over any engine's primitives: parameters by the book's state_dict
 * names, embeddings → pre-LayerNorm blocks → final LayerNorm → output head, with the classifier's
 * readouts (the book's last token and the bonus experiments' first token, last real token and mean).
 * `GPTModel` runs it with tfjs, `buildGptOnnx` with ONNX Runtime, the ONNX trainer under a gradient tape.
 */
import { ConfigError } from "../errors";
import {
  embed,
  layerNorm,
  linear,
  singleQueryBlock,
  transformerBlock,
  dropout,
  type BlockParams,
  type LinearParams,
  type QueryRow,
} from "./layers";
import { loraScale, type LoraSettings } from "./loraSettings";
import type { Ops } from "./ops";

/** The config fields the definition reads. */
export interface GptShape {
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly embDim: number;
  readonly nHeads: number;
  readonly nLayers: number;
  /** LoRA on every Linear layer (`<linear>.lora.A` / `.lora.B` parameters; lora.ts). */
  readonly lora?: LoraSettings;
}

/** An engine's value of the parameter `name` (book state_dict names), or undefined when the model has none. */
export type ParamLookup<T> = (name: string) => T | undefined;

/** The parameter `name`. @throws ConfigError when the model has none */
export function need<T>(param: ParamLookup<T>, name: string): T {
  const p = param(name);
  if (p === undefined) throw new ConfigError(`Model has no parameter "${name}"`);
  return p;
}

/** A Linear's parameters; with LoRA settings also its adapter (which must then exist: never dropped silently). */
function linearParams<T>(param: ParamLookup<T>, prefix: string, lora?: LoraSettings): LinearParams<T> {
  const weight = need(param, `${prefix}.weight`),
    bias = param(`${prefix}.bias`);
  if (!lora) return { weight, bias };
  return {
    weight,
    bias,
    lora: { a: need(param, `${prefix}.lora.A`), b: need(param, `${prefix}.lora.B`), scale: loraScale(lora) },
  };
}

/** Block i's parameters (`trf_blocks.i.*`), with their LoRA adapters when `lora` is given. */
export function gptBlockParams<T>(param: ParamLookup<T>, i: number, lora?: LoraSettings): BlockParams<T> {
  const p = `trf_blocks.${i}`;
  const norm = (n: string) => ({ scale: need(param, `${p}.${n}.scale`), shift: need(param, `${p}.${n}.shift`) });
  return {
    norm1: norm("norm1"),
    att: {
      query: linearParams(param, `${p}.att.W_query`, lora),
      key: linearParams(param, `${p}.att.W_key`, lora),
      value: linearParams(param, `${p}.att.W_value`, lora),
      out: linearParams(param, `${p}.att.out_proj`, lora),
    },
    norm2: norm("norm2"),
    ff: { fc: linearParams(param, `${p}.ff.layers.0`, lora), proj: linearParams(param, `${p}.ff.layers.2`, lora) },
  };
}

/**
 * What the classifier reads from the last block's output (the bonus experiments' `--trainable_token_pos`
 * and `--average_embeddings`). `position` and `mean` carry per-batch data: `weights` [B, T], one-hot rows
 * for `position` (e.g. the last real token), rows summing to 1 for `mean` (see `readoutWeights`).
 */
export type Readout<T> =
  | { readonly kind: "all" }
  | { readonly kind: "last" }
  | { readonly kind: "first" }
  | { readonly kind: "position"; readonly weights: T }
  | { readonly kind: "mean"; readonly weights: T };

/** Options of the forward pass. */
export interface GptForwardOptions<T> {
  /** First block (default 0); the input is token ids when the part starts with the embeddings, else hidden states. */
  readonly fromBlock?: number;
  /** One past the last block (default nLayers). */
  readonly toBlock?: number;
  /** Start from token ids with the embeddings (default: fromBlock === 0). */
  readonly embed?: boolean;
  /** Append the final norm and the head (default false: the output is the hidden states [B, T, E]). */
  readonly head?: boolean;
  /** With `head`: which positions become logits (default "all": [B, T, C]; otherwise [B, C]). */
  readonly readout?: Readout<T>;
  /** Causal attention mask (default true). */
  readonly causal?: boolean;
  /** Dropout rate (training only; default 0). */
  readonly dropRate?: number;
}

/** The soft prompt of prompt tuning (promptTuning.ts): n learned embeddings [n, E] placed before the tokens. */
export const PROMPT_PARAM = "prompt_embeddings";

/**
 * Token + position embeddings (+ dropout): ids [B, T] → [B, T, E]. With a soft prompt (`prompt_embeddings`
 * [n, E], prompt tuning) the prompt comes first, [B, n + T, E], at positions 0..n-1 and the tokens at n..n+T-1
 * (the causal model then sees the prompt from every token; the last position is still the last token).
 * @throws ConfigError beyond the context length
 */
export function gptEmbed<T>(o: Ops<T>, param: ParamLookup<T>, cfg: GptShape, ids: T, dropRate = 0): T {
  const T = o.shape(ids)[1];
  const prompt = param(PROMPT_PARAM);
  const n = prompt ? (o.shape(prompt)[0] as number) : 0;
  if (typeof T === "number" && n + T > cfg.contextLength)
    throw new ConfigError(
      `Input has ${T} tokens${n ? ` after a ${n}-token soft prompt` : ""}; the model supports at most ${cfg.contextLength}${n ? ` in all` : ""}`,
    );
  const tokEmb = need(param, "tok_emb.weight"),
    posEmb = need(param, "pos_emb.weight");
  if (!prompt) return dropout(o, embed(o, ids, tokEmb, posEmb), dropRate);
  const [B, E] = [o.shape(ids)[0], o.shape(tokEmb)[1]];
  const x = o.concat([o.broadcastTo(o.reshape(prompt, [1, n, E]), [B, n, E]), o.gather(tokEmb, ids)], 1);
  return dropout(o, o.add(x, o.slice(posEmb, 0, 0, o.shape(x)[1])), dropRate); // positions 0..n+T-1
}

/** The final LayerNorm. */
export function gptFinalNorm<T>(o: Ops<T>, param: ParamLookup<T>, x: T): T {
  return layerNorm(o, x, { scale: need(param, "final_norm.scale"), shift: need(param, "final_norm.shift") });
}

/** The output head: [..., E] → [..., outDim] (with its LoRA adapter when `lora` is given). */
export function gptHead<T>(o: Ops<T>, param: ParamLookup<T>, x: T, lora?: LoraSettings): T {
  return linear(o, x, linearParams(param, "out_head", lora));
}

/**
 * The query row the last block must compute for a readout, with its causal mask: one row per sequence
 * for last / first / position readouts, undefined (every row) for "all" and "mean".
 * Position readouts pick row p with one-hot weights w [B, T] (w · x, exact); its causal mask allows keys
 * t ≤ p: w · exp(causalMask) is row p of the lower-triangular ones (exp(-∞) = 0), and (allowed - 1)·1e9
 * turns it into an additive mask that zeroes the softmax like -∞ does.
 */
export function readoutRow<T>(o: Ops<T>, readout: Readout<T>, x: T, causal = true): QueryRow<T> | undefined {
  const [B, T] = o.shape(x);
  switch (readout.kind) {
    case "last":
      // The last query sees every key under the causal mask too: no mask needed.
      return { rows: (t) => o.slice(t, 1, -1, 1) };
    case "first": {
      const mask = causal ? o.reshape(o.slice(o.causalMask(T), 0, 0, 1), [1, 1, 1, T]) : undefined;
      return { rows: (t) => o.slice(t, 1, 0, 1), mask };
    }
    case "position": {
      const w = o.reshape(readout.weights, [B, 1, T]);
      const mask = causal
        ? o.reshape(o.mul(o.sub(o.matMul(w, o.exp(o.causalMask(T))), 1), 1e9), [B, 1, 1, T])
        : undefined;
      return { rows: (t) => o.matMul(w, t), mask };
    }
    default:
      return undefined;
  }
}

/**
 * Runs (part of) GPT-2. The input is token ids [B, T] when the part starts with the embeddings, else the
 * hidden states entering `fromBlock` [B, T, E]. Returns hidden states [B, T, E], or with `head` the logits:
 * [B, T, outDim] for readout "all", [B, outDim] for the others (the last block then computes only the rows
 * the readout needs).
 */
export function gptForward<T>(
  o: Ops<T>,
  param: ParamLookup<T>,
  cfg: GptShape,
  input: T,
  opts: GptForwardOptions<T> = {},
): T {
  const from = opts.fromBlock ?? 0,
    to = opts.toBlock ?? cfg.nLayers;
  const readout = opts.readout ?? { kind: "all" };
  if ((readout.kind === "position" || readout.kind === "mean") && param(PROMPT_PARAM))
    throw new ConfigError(
      `A soft prompt is read at the last position (the "${readout.kind}" readout is not supported)`,
    );
  const causal = opts.causal ?? true;
  let x = (opts.embed ?? from === 0) ? gptEmbed(o, param, cfg, input, opts.dropRate) : input;
  let picked = false;
  for (let i = from; i < to; i++) {
    // The last block computes only the row the readout reads (not with dropout: its identity needs weights summing
    // to 1; not with LoRA: its per-head algebra uses the key and value weights alone).
    const row =
      opts.head && i === cfg.nLayers - 1 && !((opts.dropRate ?? 0) > 0) && !cfg.lora
        ? readoutRow(o, readout, x, causal)
        : undefined;
    picked = row !== undefined;
    x = row
      ? singleQueryBlock(o, x, gptBlockParams(param, i), { nHeads: cfg.nHeads, row })
      : transformerBlock(o, x, gptBlockParams(param, i, cfg.lora), {
          nHeads: cfg.nHeads,
          causal,
          dropRate: opts.dropRate,
        });
  }
  if (!opts.head) return x;
  if (!picked && readout.kind !== "all" && readout.kind !== "mean") {
    const [B, , E] = o.shape(x);
    x = o.reshape(readoutRow(o, readout, x, causal)!.rows(x), [B, E]);
  }
  let h = gptFinalNorm(o, param, x); // [B, T, E], or [B, E] for a single row
  if (readout.kind === "mean") {
    const [B, T, E] = o.shape(h);
    h = o.reshape(o.matMul(o.reshape(readout.weights, [B, 1, T]), h), [B, E]); // weighted mean over positions
  }
  return gptHead(o, param, h, cfg.lora);
}

/** The readouts by name, as the bonus experiments call them (mean: `--average_embeddings`). */
export const READOUT_CHOICES = ["last", "first", "flexible", "mean"] as const;
export type ReadoutKind = (typeof READOUT_CHOICES)[number];

/** The definition's readout for a kind by name; `weights` makes its data (called for "flexible" and "mean" only). */
export function readoutOf<T>(kind: ReadoutKind, weights: () => T): Readout<T> {
  if (kind === "flexible") return { kind: "position", weights: weights() };
  if (kind === "mean") return { kind: "mean", weights: weights() };
  return { kind };
}

/** Options of `readoutWeights`. */
export interface ReadoutWeightsOptions {
  /** The padding token (default 50256, GPT-2's <|endoftext|>, the book's padding). */
  padTokenId?: number;
  /** "mean" over every position, padding included (default, the book's `average_embeddings`) or the real tokens only. */
  meanOver?: "all" | "real";
}

/**
 * Per-batch readout weights [B, T] for token ids (row-major [B, T]): "flexible" → one-hot at the last real
 * token (the bonus's `mask.sum(dim=1) - 1` with mask = ids != pad: a row of padding only reads position
 * -1, the last, as PyTorch's indexing does); "mean" → 1/T everywhere (or 1/n over the n real tokens).
 * Undefined for "last" and "first", which need no data.
 */
export function readoutWeights(
  kind: ReadoutKind,
  ids: ArrayLike<number>,
  batch: number,
  opts: ReadoutWeightsOptions = {},
): Float32Array | undefined {
  if (kind === "last" || kind === "first") return undefined;
  const T = ids.length / batch,
    pad = opts.padTokenId ?? 50256;
  const w = new Float32Array(ids.length);
  if (kind === "mean" && opts.meanOver !== "real") return w.fill(1 / T);
  for (let b = 0; b < batch; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) if (ids[b * T + t] !== pad) n++;
    if (kind === "flexible") w[b * T + (n > 0 ? n - 1 : T - 1)] = 1;
    else w.fill(1 / Math.max(n, 1), b * T, b * T + Math.max(n, 1));
  }
  return w;
}
