/**
 * The layers of a transformer (book ch. 4; BERT's post-norm blocks reuse them), each written once
 * against the primitives of ops.ts, so that every engine (tfjs with its autodiff, ONNX Runtime, the
 * gradient tape of autodiff.ts) runs the same definition. An engine may substitute a fused kernel for a
 * whole layer (`Ops.fused`); the composite here is the definition it must equal.
 */
import { dimProduct, type Dim, type Ops } from "./ops";

/** LayerNorm epsilon of GPT-2 and the book (and BERT uses 1e-12: pass it). */
export const LAYER_NORM_EPS = 1e-5;
const GELU_C = Math.sqrt(2 / Math.PI);

/** A Linear layer: weight [in, out] (`x @ W`, GPT-2's Conv1D layout), optional bias [out]. */
export interface LinearParams<T> {
  readonly weight: T;
  readonly bias?: T;
}
/** LayerNorm's scale and shift [E]. */
export interface NormParams<T> {
  readonly scale: T;
  readonly shift: T;
}
/** Multi-head attention: query, key, value and output projections. */
export interface AttentionParams<T> {
  readonly query: LinearParams<T>;
  readonly key: LinearParams<T>;
  readonly value: LinearParams<T>;
  readonly out: LinearParams<T>;
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

/** x [..., in] @ W [in, out] (+ b), as one 2-D product on the flattened leading axes. */
export function linear<T>(o: Ops<T>, x: T, p: LinearParams<T>): T {
  if (o.fused?.linear) return o.fused.linear(x, p.weight, p.bias);
  const dims = o.shape(x),
    lead = dims.slice(0, -1);
  const outDim = o.shape(p.weight)[1];
  const flat = lead.length === 1 ? x : o.reshape(x, [dimProduct(lead), dims[dims.length - 1]]);
  let y = o.matMul(flat, p.weight);
  if (p.bias) y = o.add(y, p.bias);
  return lead.length === 1 ? y : o.reshape(y, [...lead, outDim]);
}

/** LayerNorm over the last axis with the biased variance (the book's `unbiased=False`). */
export function layerNorm<T>(o: Ops<T>, x: T, p: NormParams<T>, eps = LAYER_NORM_EPS): T {
  if (o.fused?.layerNorm) return o.fused.layerNorm(x, p.scale, p.shift, eps);
  const centred = o.sub(x, o.mean(x, -1, true));
  const variance = o.mean(o.mul(centred, centred), -1, true);
  return o.add(o.mul(o.div(centred, o.sqrt(o.add(variance, eps))), p.scale), p.shift);
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
  return o.mul(o.mul(x, 0.5), o.add(o.erf(o.mul(x, Math.SQRT1_2)), 1));
}

/** Which query rows an attention layer computes, when not every position. */
export interface QueryPick<T> {
  /** [B, T, E] → [B, Q, E]: the rows whose outputs are needed. */
  readonly rows: (x: T) => T;
  /** Additive mask on the scores of those rows, broadcast to [B, H, Q, T]; none: every key is visible. */
  readonly mask?: T;
}

/** Options of `multiHeadAttention`. */
export interface AttentionOptions<T> {
  readonly nHeads: number;
  /** The causal mask (default true); false lets every position attend to every other (the bonus's row 17). */
  readonly causal?: boolean;
  /** Compute these query rows only (keys and values still cover every position); they bring their own mask. */
  readonly pick?: QueryPick<T>;
  /** Additive mask added to the scores (broadcast to [B, H, Q, T]), e.g. BERT's padding mask. */
  readonly mask?: T;
  /** Dropout on the attention weights (training). */
  readonly dropRate?: number;
}

/**
 * Multi-head self-attention (book: MultiHeadAttention): scores q·kᵀ/√D, masked, softmax, weighted values,
 * output projection. x [B, T, E] → [B, T, E] ([B, Q, E] with `pick`).
 */
export function multiHeadAttention<T>(o: Ops<T>, x: T, p: AttentionParams<T>, opts: AttentionOptions<T>): T {
  const [B, T, E] = o.shape(x);
  const H = opts.nHeads,
    D = (E as number) / H;
  const plain = !opts.pick && !opts.mask && (opts.causal ?? true) && !((opts.dropRate ?? 0) > 0);
  if (plain && o.fused?.causalSelfAttention) return o.fused.causalSelfAttention(x, p, H);
  let q: T, k: T, v: T;
  if (opts.pick) {
    q = linear(o, opts.pick.rows(x), p.query);
    k = linear(o, x, p.key);
    v = linear(o, x, p.value);
  } else if (o.fused?.linears) {
    [q, k, v] = o.fused.linears(
      x,
      [p.query.weight, p.key.weight, p.value.weight],
      [p.query.bias, p.key.bias, p.value.bias],
    );
  } else [q, k, v] = [linear(o, x, p.query), linear(o, x, p.key), linear(o, x, p.value)];
  const Q = o.shape(q)[1];
  const heads = (t: T, n: Dim) => o.transpose(o.reshape(t, [B, n, H, D]), [0, 2, 1, 3]); // [B, H, n, D]
  let scores = o.div(o.matMul(heads(q, Q), heads(k, T), { transposeB: true }), Math.sqrt(D)); // [B, H, Q, T]
  if (opts.pick) {
    if (opts.pick.mask) scores = o.add(scores, opts.pick.mask);
  } else if (opts.causal ?? true) scores = o.add(scores, o.causalMask(T));
  if (opts.mask) scores = o.add(scores, opts.mask);
  const weights = dropout(o, o.softmax(scores), opts.dropRate);
  const context = o.reshape(o.transpose(o.matMul(weights, heads(v, T)), [0, 2, 1, 3]), [B, Q, E]); // [B, Q, E]
  return linear(o, context, p.out);
}

/** The feed-forward network (book: FeedForward): Linear(E → 4E) → GELU → Linear(4E → E). */
export function feedForward<T>(o: Ops<T>, x: T, p: FeedForwardParams<T>): T {
  return linear(o, gelu(o, linear(o, x, p.fc)), p.proj);
}

/** Options of `transformerBlock`. */
export interface BlockOptions<T> extends AttentionOptions<T> {
  /** LayerNorm epsilon (default 1e-5). */
  readonly eps?: number;
}

/**
 * A pre-LayerNorm transformer block with residual connections (book: TransformerBlock):
 * x + attention(norm1(x)), then + feedForward(norm2(·)). [B, T, E] → [B, T, E] ([B, Q, E] with `pick`).
 */
export function transformerBlock<T>(o: Ops<T>, x: T, p: BlockParams<T>, opts: BlockOptions<T>): T {
  const eps = opts.eps ?? LAYER_NORM_EPS;
  const h = multiHeadAttention(o, layerNorm(o, x, p.norm1, eps), p.att, opts);
  const x1 = o.add(opts.pick ? opts.pick.rows(x) : x, dropout(o, h, opts.dropRate));
  return o.add(x1, dropout(o, feedForward(o, layerNorm(o, x1, p.norm2, eps), p.ff), opts.dropRate));
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
