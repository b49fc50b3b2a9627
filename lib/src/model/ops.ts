/**
 * The primitive operations the model maths is written in, as an interface over a tensor type `T`.
 * The layers (layers.ts) and the GPT definition (gpt.ts) are written once against `Ops<T>`; an engine is
 * an implementation of it: `TfjsOps` (tfjs tensors, tfjs's autodiff applies), `OnnxOps` (symbolic values
 * that build an ONNX graph, lib/src/engine/onnx/onnxOps.ts) and `DiffOps` (any engine plus a gradient tape,
 * autodiff.ts, whose backward pass is written with the same primitives).
 *
 * Shapes are static: every value has a known rank and dims that are numbers or symbolic names ("batch",
 * "seq", products such as "batch*seq") that an engine resolves when it runs. Binary operations broadcast
 * like NumPy and accept plain numbers as scalar constants.
 */

/** A dimension: a size, or a symbolic name resolved at run time ("batch", "seq", "batch*seq"). */

export type Dim = number | string;

/** A Linear layer: weight [in, out] (`x @ W`, GPT-2's Conv1D layout), optional bias [out]. */
export interface LinearParams<T> {
  readonly weight: T;
  readonly bias?: T;
  /** A LoRA adapter (appendix E): the layer adds `scale · (x @ a @ b)`, a [in, r], b [r, out]. */
  readonly lora?: LoraParams<T>;
}
/** A LoRA adapter's matrices and multiplier (lora.ts). */
export interface LoraParams<T> {
  readonly a: T;
  readonly b: T;
  readonly scale: number;
}
/** Multi-head attention (the parameters of a fused attention kernel too): query, key, value and output projections. */
export interface AttentionParams<T> {
  readonly query: LinearParams<T>;
  readonly key: LinearParams<T>;
  readonly value: LinearParams<T>;
  readonly out: LinearParams<T>;
}

/** Options of `matMul`: multiply by the transpose of the last two axes of an operand. */
export interface MatMulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/**
 * Faster implementations of whole layers that an engine may provide (e.g. ONNX Runtime's fused
 * `LayerNormalization`). Each must equal the composite definition in layers.ts (tested), so the model
 * has one definition whichever engine runs it.
 */
export interface FusedOps<T> {
  /** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * scale + shift (biased variance). */
  layerNorm?(x: T, scale: T, shift: T, eps: number): T;
  /** GELU, tanh approximation. */
  gelu?(x: T): T;
  /** GELU with the exact erf (BERT). */
  geluErf?(x: T): T;
  /** A Linear layer on input of any rank in one kernel: x @ W (+ b). */
  linear?(x: T, weight: T, bias: T | undefined): T;
  /** Several Linear maps of the same input (attention's Q, K, V as one product): x @ W_i (+ b_i). */
  linears?(x: T, weights: readonly T[], biases: readonly (T | undefined)[]): T[];
  /** Causal multi-head self-attention with its output projection (no query pick, extra mask or dropout). */
  causalSelfAttention?(x: T, p: AttentionParams<T>, nHeads: number): T;
  /**
   * Bidirectional multi-head self-attention with its output projection, the keys masked by a 0/1 mask
   * [B, T] (BERT's padding; no dropout).
   */
  maskedSelfAttention?(x: T, p: AttentionParams<T>, nHeads: number, keyMask: T): T;
}

/** The primitives, over a tensor type `T`. */
export interface Ops<T> {
  /** The static shape of a value. */
  shape(x: T): readonly Dim[];

  // ---- constants (never differentiated)
  /** A float32 constant of the given shape. */
  constant(values: Float32Array, shape: readonly number[]): T;
  /** The additive causal mask [n, n]: 0 on and below the diagonal, -Infinity above (no peeking ahead). */
  causalMask(n: Dim): T;

  // ---- elementwise, NumPy broadcasting
  add(a: T | number, b: T | number): T;
  sub(a: T | number, b: T | number): T;
  mul(a: T | number, b: T | number): T;
  div(a: T | number, b: T | number): T;
  neg(x: T): T;
  exp(x: T): T;
  log(x: T): T;
  sqrt(x: T): T;
  tanh(x: T): T;
  erf(x: T): T;

  // ---- reductions over axes (negative axes count from the end)
  sum(x: T, axes: number | readonly number[], keepDims?: boolean): T;
  mean(x: T, axes: number | readonly number[], keepDims?: boolean): T;

  // ---- on the last axis
  softmax(x: T): T;
  logSoftmax(x: T): T;

  // ---- products and indexing
  /** Matrix product of the last two axes, batch axes broadcast. */
  matMul(a: T, b: T, opts?: MatMulOptions): T;
  /** Rows of `table` [V, ...] picked by integer `ids` (any shape): ids.shape + table.shape[1:]. */
  gather(table: T, ids: T): T;
  /** The gradient of `gather`: [numRows, ...] zeros with `rows` [...ids.shape, ...] added at `ids`. */
  scatterAddRows(ids: T, rows: T, numRows: number): T;

  // ---- shapes
  reshape(x: T, shape: readonly Dim[]): T;
  transpose(x: T, perm: readonly number[]): T;
  /** `size` elements of one axis from `start` (a negative start counts from the end). */
  slice(x: T, axis: number, start: number, size: Dim): T;
  /** Zeros before and after one axis. */
  pad(x: T, axis: number, before: number, after: number): T;
  concat(xs: readonly T[], axis: number): T;
  broadcastTo(x: T, shape: readonly Dim[]): T;

  /** Inverted dropout (training only; engines without it leave it out). */
  dropout?(x: T, rate: number): T;
  /** Fused layers this engine offers. */
  readonly fused?: FusedOps<T>;
}

/** Axis `a` of a rank-`rank` value as a non-negative index. */
export function normAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

/** Axes as a sorted list of non-negative indices. */
export function normAxes(axes: number | readonly number[], rank: number): number[] {
  return (typeof axes === "number" ? [axes] : [...axes]).map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

/** The product of dims: a number when all are numbers, else a symbolic product ("batch*seq"). */
export function dimProduct(dims: readonly Dim[]): Dim {
  let n = 1;
  const names: string[] = [];
  for (const d of dims) {
    if (typeof d === "number") n *= d;
    else names.push(d);
  }
  if (!names.length) return n;
  return n === 1 ? names.join("*") : [String(n), ...names].join("*");
}

/** NumPy broadcasting of two static shapes (a symbolic dim meets 1 or itself; a number beats a name). */
export function broadcastDims(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1,
      y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (typeof x === "number" && typeof y === "number")
      throw new Error(`shapes [${a.join(",")}] and [${b.join(",")}] do not broadcast`);
    else out.push(typeof x === "number" ? x : y);
  }
  return out;
}

/** Shape of a reduction. */
export function reducedDims(dims: readonly Dim[], axes: readonly number[], keepDims: boolean): Dim[] {
  const out: Dim[] = [];
  dims.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

/** Shape of a matrix product of the last two axes (batch axes broadcast). */
export function matMulDims(a: readonly Dim[], b: readonly Dim[], opts: MatMulOptions = {}): Dim[] {
  const m = opts.transposeA ? a[a.length - 1] : a[a.length - 2];
  const n = opts.transposeB ? b[b.length - 2] : b[b.length - 1];
  return [...broadcastDims(a.slice(0, -2), b.slice(0, -2)), m, n];
}

/** Numeric dims, or an error naming the operation when one is symbolic. */
export function numericDims(dims: readonly Dim[], what: string): number[] {
  return dims.map((d) => {
    if (typeof d !== "number") throw new Error(`${what} needs numeric dims, got [${dims.join(",")}]`);
    return d;
  });
}

/**
 * Sums a broadcast result back to the shape of the operand it came from: the gradient of broadcasting
 * (leading axes summed away, axes where the operand has 1 summed with keepDims).
 */
export function sumToShape<T>(o: Ops<T>, g: T, dims: readonly Dim[]): T {
  const gd = o.shape(g);
  const lead = gd.length - dims.length;
  const axes: number[] = [];
  for (let i = 0; i < gd.length; i++) if (i < lead || (dims[i - lead] === 1 && gd[i] !== 1)) axes.push(i);
  if (!axes.length) return g;
  let r = o.sum(g, axes, true);
  if (lead > 0) r = o.reshape(r, dims);
  return r;
}
