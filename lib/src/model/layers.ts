/**
 * The layers of a transformer (book ch. 4; BERT's post-norm blocks reuse them), each written once
 * against the primitives of ops.ts, so that every engine (tfjs with its autodiff, ONNX Runtime, the
 * gradient tape of autodiff.ts) runs the same definition. An engine may substitute a fused kernel for a
 * whole layer (`Ops.fused`); the composite here is the definition it must equal.
 */
import { dimProduct, type AttentionParams, type LinearParams, type LoraParams, type Ops } from "./ops";

export type { AttentionParams, LinearParams, LoraParams } from "./ops";

/** LayerNorm epsilon of GPT-2 and the book (and BERT uses 1e-12: pass it). */
export const LAYER_NORM_EPS = 1e-5;
const GELU_C = Math.sqrt(2 / Math.PI);

/** LayerNorm's scale and shift [E]. */
export interface NormParams<T> {
  readonly scale: T;
  readonly shift: T;
}
/** The feed-forward network: Linear(E → 4E), GELU, Linear(4E → E). */
export interface FeedForwardParams<T> {
  readonly fc: LinearParams<T>;
  readonly proj: LinearParams<T>;
}
/** A pre-LayerNorm transformer block. */
export interface BlockParams<T> {
  readonly norm1: NormParams<T>;
  readonly att: AttentionParams<T>;
  readonly norm2: NormParams<T>;
  readonly ff: FeedForwardParams<T>;
}

/** Inverted dropout when `rate` > 0 (training), else x itself. */
export function dropout<T>(o: Ops<T>, x: T, rate = 0): T {
  if (!(rate > 0)) return x;
  if (!o.dropout) throw new Error("this engine has no dropout (train with dropRate 0, or on tfjs)");
  return o.dropout(x, rate);
}

/**
 * x [..., in] @ W [in, out] (+ b), as one 2-D product on the flattened leading axes; with a LoRA adapter
 * plus `scale · (x @ A @ B)` (appendix E's LinearWithLoRA: `linear(x) + lora(x)`).
 */
export function linear<T>(o: Ops<T>, x: T, p: LinearParams<T>): T {
  if (p.lora) return o.add(linear(o, x, { weight: p.weight, bias: p.bias }), loraUpdate(o, x, p.lora));
  if (o.fused?.linear) return o.fused.linear(x, p.weight, p.bias);
  const dims = o.shape(x),
    lead = dims.slice(0, -1);
  const outDim = o.shape(p.weight)[1];
  const flat = lead.length === 1 ? x : o.reshape(x, [dimProduct(lead), dims[dims.length - 1]]);
  let y = o.matMul(flat, p.weight);
  if (p.bias) y = o.add(y, p.bias);
  return lead.length === 1 ? y : o.reshape(y, [...lead, outDim]);
}

/** LoRALayer's forward: scale · (x @ A @ B) on the flattened leading axes. x [..., in] → [..., out]. */
export function loraUpdate<T>(o: Ops<T>, x: T, p: LoraParams<T>): T {
  const dims = o.shape(x),
    lead = dims.slice(0, -1);
  const flat = lead.length === 1 ? x : o.reshape(x, [dimProduct(lead), dims[dims.length - 1]]);
  const y = o.mul(o.matMul(o.matMul(flat, p.a), p.b), p.scale);
  return lead.length === 1 ? y : o.reshape(y, [...lead, o.shape(p.b)[1]]);
}

/** (x − mean) / √(var + eps) over the last axis, biased variance: LayerNorm without its scale and shift. */
export function normalize<T>(o: Ops<T>, x: T, eps = LAYER_NORM_EPS): T {
  const centred = o.sub(x, o.mean(x, -1, true));
  const variance = o.mean(o.mul(centred, centred), -1, true);
  return o.div(centred, o.sqrt(o.add(variance, eps)));
}

/** LayerNorm over the last axis with the biased variance (the book's `unbiased=False`). */
export function layerNorm<T>(o: Ops<T>, x: T, p: NormParams<T>, eps = LAYER_NORM_EPS): T {
  if (o.fused?.layerNorm) return o.fused.layerNorm(x, p.scale, p.shift, eps);
  return o.add(o.mul(normalize(o, x, eps), p.scale), p.shift);
}

/**
 * LayerNorm's backward pass, derived by hand (fewer passes and saved values than the composite's autodiff;
 * tested against it): with x̂ = (x − mean)·r, r = 1/√(var + eps) recomputed from x and g = dy ⊙ scale,
 *   dx = r ⊙ (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)),  dscale = Σ dy ⊙ x̂,  dshift = Σ dy  (sums over leading axes).
 */
export function layerNormVjp<T>(o: Ops<T>, x: T, scale: T, eps: number, dy: T): { dx: T; dScale: T; dShift: T } {
  const centred = o.sub(x, o.mean(x, -1, true));
  const rstd = o.div(1, o.sqrt(o.add(o.mean(o.mul(centred, centred), -1, true), eps)));
  const xhat = o.mul(centred, rstd);
  const g = o.mul(dy, scale);
  const dx = o.mul(rstd, o.sub(o.sub(g, o.mean(g, -1, true)), o.mul(xhat, o.mean(o.mul(g, xhat), -1, true))));
  const lead = o
    .shape(x)
    .map((_, i) => i)
    .slice(0, -1);
  return { dx, dScale: o.sum(o.mul(dy, xhat), lead), dShift: o.sum(dy, lead) };
}

/** GELU, tanh approximation (GPT-2, the book): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). x·x·x: cheaper than pow. */
export function gelu<T>(o: Ops<T>, x: T): T {
  if (o.fused?.gelu) return o.fused.gelu(x);
  const inner = o.mul(o.add(x, o.mul(o.mul(o.mul(x, x), x), 0.044715)), GELU_C);
  return o.mul(o.mul(x, 0.5), o.add(o.tanh(inner), 1));
}

/**
 * GELU's backward pass, derived by hand (only x is kept; tested against the composite's autodiff): with
 * t = tanh(c·(x + k·x³)), dx = dy ⊙ ½·(1 + t)·(1 + c·x·(1 − t)·(1 + 3k·x²)), using 1 − t² = (1 − t)(1 + t).
 */
export function geluVjp<T>(o: Ops<T>, x: T, dy: T): T {
  const x2 = o.mul(x, x);
  const t = o.tanh(o.mul(x, o.add(o.mul(x2, 0.044715 * GELU_C), GELU_C)));
  const w = o.mul(o.mul(x, o.sub(1, t)), o.add(o.mul(x2, 3 * 0.044715 * GELU_C), GELU_C));
  return o.mul(o.mul(dy, o.add(t, 1)), o.mul(o.add(w, 1), 0.5));
}

/** GELU with the exact erf (BERT): 0.5·x·(1 + erf(x/√2)). */
export function geluErf<T>(o: Ops<T>, x: T): T {
  if (o.fused?.geluErf) return o.fused.geluErf(x);
  return o.mul(o.mul(x, 0.5), o.add(o.erf(o.mul(x, Math.SQRT1_2)), 1));
}

/**
 * The exact GELU's backward pass (only x is kept; tested against the composite's autodiff):
 * dx = dy ⊙ (½·(1 + erf(x/√2)) + x·φ(x)), φ(x) = exp(−x²/2)/√(2π) the normal density.
 */
export function geluErfVjp<T>(o: Ops<T>, x: T, dy: T): T {
  const cdf = o.mul(o.add(o.erf(o.mul(x, Math.SQRT1_2)), 1), 0.5);
  const pdf = o.mul(o.exp(o.mul(o.mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
  return o.mul(dy, o.add(cdf, o.mul(x, pdf)));
}

/** Options of `multiHeadAttention`. */
export interface AttentionOptions<T> {
  readonly nHeads: number;
  /** The causal mask (default true); false lets every position attend to every other (the bonus's row 17). */
  readonly causal?: boolean;
  /** Additive mask added to the scores (broadcast to [B, H, T, T]), e.g. BERT's padding mask. */
  readonly mask?: T;
  /**
   * The same padding as a 0/1 mask of the keys [B, T] (1: attend), for an engine's fused kernel
   * (`maskedSelfAttention`); the composite uses `mask`, which must say the same.
   */
  readonly keyMask?: T;
  /**
   * The rows whose outputs are wanted, [B, S, E] (default: x itself): queries come from them, keys and values
   * from every row of x (bidirectional only), e.g. BERT's last layer, read at its first position only.
   */
  readonly queries?: T;
  /** Dropout on the attention weights (training). */
  readonly dropRate?: number;
}

/**
 * Multi-head self-attention (book: MultiHeadAttention): scores q·kᵀ/√D, masked, softmax, weighted values,
 * output projection. x [B, T, E] → [B, T, E].
 */
export function multiHeadAttention<T>(o: Ops<T>, x: T, p: AttentionParams<T>, opts: AttentionOptions<T>): T {
  const [B, T, E] = o.shape(x);
  const H = opts.nHeads,
    D = (E as number) / H;
  const causal = opts.causal ?? true;
  // Fused kernels know no LoRA: with adapters the composite runs.
  const lora = !!(p.query.lora || p.key.lora || p.value.lora || p.out.lora);
  if (opts.queries && causal) throw new Error("queries other than x need a bidirectional attention (causal: false)");
  if (opts.queries) return pickedQueryAttention(o, x, opts.queries, p, opts);
  if (causal && !opts.mask && !((opts.dropRate ?? 0) > 0) && !lora && o.fused?.causalSelfAttention)
    return o.fused.causalSelfAttention(x, p, H);
  if (!causal && opts.keyMask && !((opts.dropRate ?? 0) > 0) && !lora && o.fused?.maskedSelfAttention)
    return o.fused.maskedSelfAttention(x, p, H, opts.keyMask);
  const [q, k, v] =
    o.fused?.linears && !lora
      ? o.fused.linears(x, [p.query.weight, p.key.weight, p.value.weight], [p.query.bias, p.key.bias, p.value.bias])
      : [linear(o, x, p.query), linear(o, x, p.key), linear(o, x, p.value)];
  const heads = (t: T) => o.transpose(o.reshape(t, [B, T, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
  let scores = o.div(o.matMul(heads(q), heads(k), { transposeB: true }), Math.sqrt(D)); // [B, H, T, T]
  if (causal) scores = o.add(scores, o.causalMask(T));
  if (opts.mask) scores = o.add(scores, opts.mask);
  const weights = dropout(o, o.softmax(scores), opts.dropRate);
  const context = o.reshape(o.transpose(o.matMul(weights, heads(v)), [0, 2, 1, 3]), [B, T, E]); // [B, T, E]
  return linear(o, context, p.out);
}

/** Multi-head attention of the rows `xq` [B, S, E] over every row of x [B, T, E] (bidirectional). → [B, S, E]. */
function pickedQueryAttention<T>(o: Ops<T>, x: T, xq: T, p: AttentionParams<T>, opts: AttentionOptions<T>): T {
  const [B, T, E] = o.shape(x),
    S = o.shape(xq)[1];
  const H = opts.nHeads,
    D = (E as number) / H;
  const heads = (t: T, n: typeof T) => o.transpose(o.reshape(t, [B, n, H, D]), [0, 2, 1, 3]); // [B, H, n, D]
  const q = heads(linear(o, xq, p.query), S);
  let scores = o.div(o.matMul(q, heads(linear(o, x, p.key), T), { transposeB: true }), Math.sqrt(D)); // [B, H, S, T]
  if (opts.mask) scores = o.add(scores, opts.mask);
  const weights = dropout(o, o.softmax(scores), opts.dropRate);
  const context = o.matMul(weights, heads(linear(o, x, p.value), T)); // [B, H, S, D]
  return linear(o, o.reshape(o.transpose(context, [0, 2, 1, 3]), [B, S, E]), p.out);
}

/**
 * The feed-forward network (book: FeedForward): Linear(E → 4E) → GELU → Linear(4E → E); BERT passes
 * `geluErf` as the activation (and its own inner width).
 */
export function feedForward<T>(o: Ops<T>, x: T, p: FeedForwardParams<T>, activation: (o: Ops<T>, x: T) => T = gelu): T {
  return linear(o, activation(o, linear(o, x, p.fc)), p.proj);
}

/** Options of `transformerBlock`. */
export interface BlockOptions<T> extends AttentionOptions<T> {
  /** LayerNorm epsilon (default 1e-5). */
  readonly eps?: number;
}

/**
 * A pre-LayerNorm transformer block with residual connections (book: TransformerBlock):
 * x + attention(norm1(x)), then + feedForward(norm2(·)). [B, T, E] → [B, T, E].
 */
export function transformerBlock<T>(o: Ops<T>, x: T, p: BlockParams<T>, opts: BlockOptions<T>): T {
  const eps = opts.eps ?? LAYER_NORM_EPS;
  const h = multiHeadAttention(o, layerNorm(o, x, p.norm1, eps), p.att, opts);
  const x1 = o.add(x, dropout(o, h, opts.dropRate));
  return o.add(x1, dropout(o, feedForward(o, layerNorm(o, x1, p.norm2, eps), p.ff), opts.dropRate));
}

/** Options of `postNormBlock`. */
export interface PostNormBlockOptions<T> extends BlockOptions<T> {
  /** The feed-forward activation (default `geluErf`, BERT's). */
  readonly activation?: (o: Ops<T>, x: T) => T;
  /**
   * Compute position 0's output only ([B, 1, E], keys and values from every position): all that BERT's pooler
   * reads of the last layer, for a fraction of its work.
   */
  readonly firstRowOnly?: boolean;
}

/**
 * A post-LayerNorm transformer block (BERT, "Attention Is All You Need"): the LayerNorm comes after each
 * residual sum, x1 = norm1(x + attention(x)), then norm2(x1 + feedForward(x1)). Bidirectional unless
 * `causal`; `mask` is the additive padding mask. Dropout (training) on the attention weights and on each
 * sub-layer's output, as Hugging Face's BertLayer. [B, T, E] → [B, T, E].
 */
export function postNormBlock<T>(o: Ops<T>, x: T, p: BlockParams<T>, opts: PostNormBlockOptions<T>): T {
  const eps = opts.eps ?? LAYER_NORM_EPS;
  const rows = opts.firstRowOnly ? o.slice(x, 1, 0, 1) : x;
  const h = multiHeadAttention(o, x, p.att, {
    ...opts,
    causal: opts.causal ?? false,
    queries: opts.firstRowOnly ? rows : undefined,
  });
  const x1 = layerNorm(o, o.add(dropout(o, h, opts.dropRate), rows), p.norm1, eps);
  const f = feedForward(o, x1, p.ff, opts.activation ?? geluErf);
  return layerNorm(o, o.add(dropout(o, f, opts.dropRate), x1), p.norm2, eps);
}

/** float32's lowest value: Hugging Face's additive mask for hidden keys (`torch.finfo(float32).min`). */
export const MASK_MIN = -3.4028234663852886e38;

/**
 * The additive padding mask of a 0/1 attention mask [B, T] (1: a token, 0: padding), broadcast over heads
 * and queries: (1 − m) · MASK_MIN as [B, 1, 1, T] (Hugging Face's extended attention mask).
 */
export function paddingMask<T>(o: Ops<T>, attentionMask: T): T {
  const [B, T] = o.shape(attentionMask);
  return o.reshape(o.mul(o.sub(1, attentionMask), MASK_MIN), [B, 1, 1, T]);
}

/** One query row per sequence: which row, and the mask of its scores. */
export interface QueryRow<T> {
  /** [B, T, E] → [B, 1, E]: the row whose output is needed (the last, the first, a one-hot pick, …). */
  readonly rows: (x: T) => T;
  /** Additive mask on that row's scores, [B or 1, 1, 1, T]; none: every key is visible. */
  readonly mask?: T;
}

/**
 * A transformer block's output at ONE query row per sequence (the classifier's readout), without the keys
 * and values of every position: per head, with LayerNorm 1's h = x̂ ⊙ s + b (x̂ normalised),
 *   q·k_t = x̂_t·(s ⊙ u) + b·u + b_k·q,  u = W_k,h q_h            (E·D per head instead of T·E·D)
 *   Σ_t a_t v_t = ((Σ_t a_t x̂_t) ⊙ s + b) W_v,h + b_v,h          (the weights a sum to 1)
 * The same numbers as `transformerBlock` at that row up to float32 rounding (tested); no dropout (the
 * weights must sum to 1). x [B, T, E] → [B, E].
 */
export function singleQueryBlock<T>(
  o: Ops<T>,
  x: T,
  p: BlockParams<T>,
  opts: { nHeads: number; row: QueryRow<T>; eps?: number },
): T {
  const eps = opts.eps ?? LAYER_NORM_EPS;
  const [B, , E] = o.shape(x);
  const H = opts.nHeads,
    D = (E as number) / H;
  const { scale: s, shift: b } = p.norm1,
    att = p.att;
  const xhat = normalize(o, x, eps); // [B, T, E]
  const row = (t: T) => o.reshape(opts.row.rows(t), [B, E]);
  const q = linear(o, o.add(o.mul(row(xhat), s), b), att.query); // [B, E]
  const perHead = (w: T, perm: number[]) => o.transpose(o.reshape(w, [E, H, D]), perm);
  const u = o.matMul(o.transpose(o.reshape(q, [B, H, D]), [1, 0, 2]), perHead(att.key.weight, [1, 2, 0])); // [H, B, E]
  let shift = o.sum(o.mul(u, b), -1); // [H, B]: b·u
  if (att.key.bias) shift = o.add(shift, o.transpose(o.sum(o.reshape(o.mul(q, att.key.bias), [B, H, D]), -1), [1, 0]));
  const raw = o.matMul(o.transpose(o.mul(u, s), [1, 0, 2]), xhat, { transposeB: true }); // [B, H, T]
  let scores = o.div(o.add(raw, o.reshape(o.transpose(shift, [1, 0]), [B, H, 1])), Math.sqrt(D));
  if (opts.row.mask) scores = o.add(scores, o.reshape(opts.row.mask, [o.shape(opts.row.mask)[0], 1, o.shape(x)[1]]));
  const z = o.add(o.mul(o.matMul(o.softmax(scores), xhat), s), b); // [B, H, E]
  let context = o.reshape(
    o.transpose(o.matMul(o.transpose(z, [1, 0, 2]), perHead(att.value.weight, [1, 0, 2])), [1, 0, 2]),
    [B, E],
  ); // per head z_h W_v,h: [H, B, D] → [B, E]
  if (att.value.bias) context = o.add(context, att.value.bias);
  const x1 = o.add(row(x), linear(o, context, att.out));
  return o.add(x1, feedForward(o, layerNorm(o, x1, p.norm2, eps), p.ff));
}

/** Token + position embeddings: ids [B, T] → [B, T, E] (positions 0..T-1). */
export function embed<T>(o: Ops<T>, ids: T, tokEmb: T, posEmb: T): T {
  const T = o.shape(ids)[1];
  return o.add(o.gather(tokEmb, ids), o.slice(posEmb, 0, 0, T));
}

/**
 * Cross-entropy of logits [B, C] against one-hot (or soft) targets [B, C], averaged over the rows
 * (PyTorch's `cross_entropy` with mean reduction). With `rowWeights` [B] the mean is weighted (rows of
 * weight 0 are ignored, as `ignore_index`; the weights must sum to 1).
 */
export function crossEntropy<T>(o: Ops<T>, logits: T, targets: T, rowWeights?: T): T {
  const perRow = o.neg(o.sum(o.mul(o.logSoftmax(logits), targets), -1)); // [B]
  return rowWeights ? o.sum(o.mul(perRow, rowWeights), 0) : o.mean(perRow, 0);
}
