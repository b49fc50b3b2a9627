/**
 * The primitives of lib/src/model/ops.ts as ONNX graph building: each call adds nodes to an
 * `OnnxGraphBuilder` and returns a symbolic value (name, static dims, element type). Running the model
 * definition (lib/src/model/gpt.ts) with these ops builds its ONNX graph; running it under the gradient
 * tape (DiffOps) builds the backward pass too.
 *
 * Symbolic dims ("batch", "seq", "batch*seq") are resolved in the graph from the inputs that declared
 * them (Shape nodes), only where a reshape or broadcast needs them. With `fused`, whole layers map to
 * ONNX Runtime's kernels (LayerNormalization, Gelu, one MatMul for Q/K/V, optionally the contrib
 * Attention op); test/engine/onnx/onnxOps.test.ts checks each against the composite definition.
 */
import { ConfigError } from "../../errors";
import type { AttentionParams } from "../../model/layers";
import {
  broadcastDims,
  matMulDims,
  normAxes,
  reducedDims,
  type Dim,
  type FusedOps,
  type MatMulOptions,
  type Ops,
} from "../../model/ops";
import { type AttrValue, OnnxGraphBuilder } from "./onnxGraph";
import { OnnxDataType } from "./onnxProto";

/** A value of the graph being built. */
export interface OnnxValue {
  readonly name: string;
  readonly dims: readonly Dim[];
  /** OnnxDataType code (FLOAT for everything but token ids). */
  readonly type: number;
  /** The values of a constant known at build time (parameters as initializers): lets fused ops fold them. */
  readonly data?: () => Float32Array;
}

/** Which fused kernels `OnnxOps` uses (each equals the composite definition). */
export interface OnnxFusion {
  /** LayerNormalization (opset 17). */
  layerNorm?: boolean;
  /** Gelu with approximate="tanh" (opset 20), and the exact Gelu for BERT's erf form. */
  gelu?: boolean;
  /** Linear layers as one MatMul on N-D input, Q/K/V as one MatMul. */
  linear?: boolean;
  /** Causal self-attention as ONNX Runtime's com.microsoft Attention (masked scores get -10000, not -∞). */
  attention?: boolean;
}

/** Concatenates row-major matrices [rows, cols_i] column-wise into [rows, Σ cols_i]. */
export function concatColumns(mats: readonly Float32Array[], rows: number, cols: readonly number[]): Float32Array {
  const total = cols.reduce((a, c) => a + c, 0),
    out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let off = r * total;
    mats.forEach((m, j) => {
      out.set(m.subarray(r * cols[j], (r + 1) * cols[j]), off);
      off += cols[j];
    });
  }
  return out;
}

/** `Ops` that build an ONNX graph. */
export class OnnxOps implements Ops<OnnxValue> {
  readonly fused?: FusedOps<OnnxValue>;
  /** Where each symbolic dim can be read: (value name, axis) of a graph input. */
  private readonly dimSources = new Map<string, { value: string; axis: number }>();
  /** Cached int64 [1] values of symbolic dims, shape tensors, scalars and causal masks. */
  private readonly cache = new Map<string, string>();

  constructor(
    readonly g: OnnxGraphBuilder,
    fusion: OnnxFusion = {},
  ) {
    const f: FusedOps<OnnxValue> = {};
    if (fusion.layerNorm) f.layerNorm = (x, scale, shift, eps) => this.layerNormKernel(x, scale, shift, eps);
    if (fusion.gelu) {
      f.gelu = (x) => this.node("Gelu", [x], x.dims, { approximate: "tanh" });
      f.geluErf = (x) => this.node("Gelu", [x], x.dims); // approximate="none": the exact erf form
    }
    if (fusion.linear) {
      f.linear = (x, w, b) => this.linearKernel(x, [w], [b])[0];
      f.linears = (x, ws, bs) => this.linearKernel(x, ws, bs);
    }
    if (fusion.attention) {
      f.causalSelfAttention = (x, p, nHeads) => this.attentionKernel(x, p, nHeads);
      f.maskedSelfAttention = (x, p, nHeads, keyMask) => this.attentionKernel(x, p, nHeads, keyMask);
    }
    this.fused = Object.keys(f).length ? f : undefined;
  }

  // ---- graph inputs, constants, outputs

  /** Declares a graph input; its symbolic dims become resolvable. */
  input(name: string, type: number, dims: readonly Dim[]): OnnxValue {
    this.g.input(name, type, dims);
    dims.forEach((d, axis) => {
      if (typeof d === "string" && !this.dimSources.has(d)) this.dimSources.set(d, { value: name, axis });
    });
    return { name, dims, type };
  }

  /** A float32 initializer (a copy is made when the graph is serialised; `data` may be a function called then). */
  initializer(name: string, dims: readonly number[], data: Float32Array | (() => Float32Array)): OnnxValue {
    this.g.floatInit(name, dims, data);
    return { name, dims, type: OnnxDataType.FLOAT, data: typeof data === "function" ? data : () => data };
  }

  /** Makes `x` a graph output called `name`. */
  output(x: OnnxValue, name: string): void {
    this.g.node("Identity", [x.name], {}, [name]);
    this.g.output(name, x.type, x.dims);
  }

  /** Adds one node with one output of the given dims (type: the first input's unless given). */
  node(
    op: string,
    inputs: readonly (OnnxValue | string)[],
    dims: readonly Dim[],
    attrs: Record<string, AttrValue> = {},
    type?: number,
  ): OnnxValue {
    const names = inputs.map((x) => (typeof x === "string" ? x : x.name));
    const first = inputs.find((x): x is OnnxValue => typeof x !== "string");
    return { name: this.g.op(op, names, attrs), dims, type: type ?? first?.type ?? OnnxDataType.FLOAT };
  }

  private cached(key: string, make: () => string): string {
    let v = this.cache.get(key);
    if (v === undefined) {
      v = make();
      this.cache.set(key, v);
    }
    return v;
  }

  /** A float scalar constant (one initializer per value). */
  private scalar(v: number): OnnxValue {
    return { name: this.cached(`scalar:${v}`, () => this.g.scalar(v)), dims: [], type: OnnxDataType.FLOAT };
  }

  private arg(x: OnnxValue | number): OnnxValue {
    return typeof x === "number" ? this.scalar(x) : x;
  }

  /** An int64 [1] value holding a dim (numbers as constants, names from their input's shape, products multiplied). */
  dimValue(d: Dim): string {
    if (typeof d === "number" || /^\d+$/.test(d)) return this.cached(`dim:${d}`, () => this.g.ints([Number(d)]));
    return this.cached(`dim:${d}`, () => {
      const factors = d.split("*");
      if (factors.length > 1) return factors.map((f) => this.dimValue(f)).reduce((a, b) => this.g.op("Mul", [a, b]));
      const src = this.dimSources.get(d);
      if (!src) throw new ConfigError(`internal: symbolic dim "${d}" has no source input`);
      return this.g.op("Shape", [src.value], { start: src.axis, end: src.axis + 1 });
    });
  }

  /** An int64 shape tensor for `dims` (`special(d, i)` may give a number ONNX reads specially, e.g. 0 or -1). */
  private shapeTensor(dims: readonly Dim[], special: (d: Dim, i: number) => number | undefined): string {
    const parts = dims.map((d, i) => special(d, i) ?? (typeof d === "number" ? d : undefined));
    const known = parts.filter((p): p is number => p !== undefined);
    if (known.length === parts.length) return this.cached(`shape:${known.join(",")}`, () => this.g.ints(known));
    return this.cached(`shape:${dims.map((d, i) => parts[i] ?? d).join(",")}`, () => {
      const pieces: string[] = [];
      let run: number[] = [];
      parts.forEach((p, i) => {
        if (p !== undefined) run.push(p);
        else {
          if (run.length) pieces.push(this.g.ints(run));
          run = [];
          pieces.push(this.dimValue(dims[i]));
        }
      });
      if (run.length) pieces.push(this.g.ints(run));
      return this.g.op("Concat", pieces, { axis: 0 });
    });
  }

  // ---- Ops

  shape(x: OnnxValue): readonly Dim[] {
    return x.dims;
  }

  constant(values: Float32Array, shape: readonly number[]): OnnxValue {
    return this.initializer(this.g.fresh("const"), shape, values);
  }

  causalMask(n: Dim): OnnxValue {
    const name = this.cached(`mask:${n}`, () => {
      if (typeof n === "number") {
        const m = new Float32Array(n * n);
        for (let r = 0; r < n; r++) m.fill(-Infinity, r * n + r + 1, (r + 1) * n);
        return this.g.floatInit(this.g.fresh("causal_mask"), [n, n], m);
      }
      // -∞ everywhere, then Trilu keeps the part strictly above the diagonal and zeroes the rest
      const size = this.g.op("Concat", [this.dimValue(n), this.dimValue(n)], { axis: 0 });
      const full = this.g.op("Expand", [this.scalar(-Infinity).name, size]);
      return this.g.op("Trilu", [full, this.g.int64Init(this.g.fresh("k"), [], [1])], { upper: 1 });
    });
    return { name, dims: [n, n], type: OnnxDataType.FLOAT };
  }

  private binary(op: string, a: OnnxValue | number, b: OnnxValue | number): OnnxValue {
    const x = this.arg(a),
      y = this.arg(b);
    return this.node(op, [x, y], broadcastDims(x.dims, y.dims));
  }
  add(a: OnnxValue | number, b: OnnxValue | number): OnnxValue {
    return this.binary("Add", a, b);
  }
  sub(a: OnnxValue | number, b: OnnxValue | number): OnnxValue {
    return this.binary("Sub", a, b);
  }
  mul(a: OnnxValue | number, b: OnnxValue | number): OnnxValue {
    return this.binary("Mul", a, b);
  }
  div(a: OnnxValue | number, b: OnnxValue | number): OnnxValue {
    return this.binary("Div", a, b);
  }
  neg(x: OnnxValue): OnnxValue {
    return this.node("Neg", [x], x.dims);
  }
  exp(x: OnnxValue): OnnxValue {
    return this.node("Exp", [x], x.dims);
  }
  log(x: OnnxValue): OnnxValue {
    return this.node("Log", [x], x.dims);
  }
  sqrt(x: OnnxValue): OnnxValue {
    return this.node("Sqrt", [x], x.dims);
  }
  tanh(x: OnnxValue): OnnxValue {
    return this.node("Tanh", [x], x.dims);
  }
  erf(x: OnnxValue): OnnxValue {
    return this.node("Erf", [x], x.dims);
  }

  private reduce(op: string, x: OnnxValue, axes: number | readonly number[], keepDims: boolean): OnnxValue {
    const ax = normAxes(axes, x.dims.length);
    return this.node(
      op,
      [x, this.cached(`axes:${ax.join(",")}`, () => this.g.ints(ax))],
      reducedDims(x.dims, ax, keepDims),
      {
        keepdims: keepDims ? 1 : 0,
      },
    );
  }
  sum(x: OnnxValue, axes: number | readonly number[], keepDims = false): OnnxValue {
    return this.reduce("ReduceSum", x, axes, keepDims);
  }
  mean(x: OnnxValue, axes: number | readonly number[], keepDims = false): OnnxValue {
    return this.reduce("ReduceMean", x, axes, keepDims);
  }

  softmax(x: OnnxValue): OnnxValue {
    return this.node("Softmax", [x], x.dims, { axis: -1 });
  }
  logSoftmax(x: OnnxValue): OnnxValue {
    return this.node("LogSoftmax", [x], x.dims, { axis: -1 });
  }

  matMul(a: OnnxValue, b: OnnxValue, opts: MatMulOptions = {}): OnnxValue {
    const dims = matMulDims(a.dims, b.dims, opts);
    const tA = opts.transposeA ?? false,
      tB = opts.transposeB ?? false;
    // 2-D: Gemm applies transposes while packing (a Transpose node would copy the operand first).
    if (a.dims.length === 2 && b.dims.length === 2 && (tA || tB))
      return this.node("Gemm", [a, b], dims, { transA: tA ? 1 : 0, transB: tB ? 1 : 0 });
    const swap = (x: OnnxValue) => {
      const r = x.dims.length;
      const perm = [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
      return this.transpose(x, perm);
    };
    return this.node("MatMul", [tA ? swap(a) : a, tB ? swap(b) : b], dims);
  }

  gather(table: OnnxValue, ids: OnnxValue): OnnxValue {
    return this.node("Gather", [table, ids], [...ids.dims, ...table.dims.slice(1)], { axis: 0 }, table.type);
  }

  scatterAddRows(ids: OnnxValue, rows: OnnxValue, numRows: number): OnnxValue {
    const inner = rows.dims.slice(ids.dims.length);
    const idx = this.node(
      "Reshape",
      [this.node("Cast", [ids], ids.dims, { to: OnnxDataType.INT64 }, OnnxDataType.INT64), this.g.ints([-1, 1])],
      ["n", 1],
    );
    const flat = this.node("Reshape", [rows, this.shapeTensor([-1, ...inner], () => undefined)], ["n", ...inner]);
    const zeros = this.node(
      "ConstantOfShape",
      [this.g.ints([numRows, ...(inner as number[])])],
      [numRows, ...inner],
      {},
      OnnxDataType.FLOAT,
    );
    return this.node("ScatterND", [zeros, idx, flat], zeros.dims, { reduction: "add" });
  }

  reshape(x: OnnxValue, shape: readonly Dim[]): OnnxValue {
    const unresolved = shape.filter((d, i) => typeof d !== "number" && d !== x.dims[i]).length;
    // A dim equal to the input's at the same axis is copied (0); a single unknown one is inferred (-1).
    const special = (d: Dim, i: number) =>
      typeof d === "number" ? undefined : d === x.dims[i] ? 0 : unresolved === 1 ? -1 : undefined;
    return this.node("Reshape", [x, this.shapeTensor(shape, special)], shape);
  }

  transpose(x: OnnxValue, perm: readonly number[]): OnnxValue {
    return this.node(
      "Transpose",
      [x],
      perm.map((p) => x.dims[p]),
      { perm: [...perm] },
    );
  }

  slice(x: OnnxValue, axis: number, start: number, size: Dim): OnnxValue {
    const a = axis < 0 ? axis + x.dims.length : axis;
    let end: string;
    if (typeof size === "number") {
      const e = start < 0 && start + size >= 0 ? Number.MAX_SAFE_INTEGER : start + size;
      end = this.g.ints([e]);
    } else if (start === 0) end = this.dimValue(size);
    else throw new ConfigError("internal: slice of a symbolic size must start at 0");
    const dims = x.dims.map((d, i) => (i === a ? size : d));
    return this.node("Slice", [x, this.g.ints([start]), end, this.g.ints([a])], dims);
  }

  pad(x: OnnxValue, axis: number, before: number, after: number): OnnxValue {
    const r = x.dims.length,
      a = axis < 0 ? axis + r : axis;
    const pads = new Array<number>(2 * r).fill(0);
    pads[a] = before;
    pads[r + a] = after;
    const d = x.dims[a];
    const dims = x.dims.map((v, i) =>
      i === a ? (typeof d === "number" ? d + before + after : `${d}+${before + after}`) : v,
    );
    return this.node("Pad", [x, this.g.ints(pads)], dims);
  }

  concat(xs: readonly OnnxValue[], axis: number): OnnxValue {
    const r = xs[0].dims.length,
      a = axis < 0 ? axis + r : axis;
    const total = xs.reduce<Dim>((s, x) => {
      const d = x.dims[a];
      return typeof s === "number" && typeof d === "number" ? s + d : `${s}+${d}`;
    }, 0);
    const out = this.node(
      "Concat",
      xs,
      xs[0].dims.map((d, i) => (i === a ? total : d)),
      { axis: a },
    );
    // A symbolic sum ("20+seq", a prompt before the tokens) is read back from the result's own shape.
    if (typeof total === "string" && !this.dimSources.has(total))
      this.dimSources.set(total, { value: out.name, axis: a });
    return out;
  }

  broadcastTo(x: OnnxValue, shape: readonly Dim[]): OnnxValue {
    // Expand broadcasts both ways: 1 keeps the input's dim, so only the dims it lacks need resolving.
    const lead = shape.length - x.dims.length;
    const special = (d: Dim, i: number) => (i >= lead && x.dims[i - lead] === d ? 1 : undefined);
    return this.node("Expand", [x, this.shapeTensor(shape, special)], shape);
  }

  // ---- fused kernels

  private layerNormKernel(x: OnnxValue, scale: OnnxValue, shift: OnnxValue, eps: number): OnnxValue {
    return this.node("LayerNormalization", [x, scale, shift], x.dims, { axis: -1, epsilon: { float: eps } });
  }

  /**
   * Linear layers of one input as one MatMul on N-D input (MatMul folds leading axes into its rows):
   * weights concatenated column-wise (once, at serialisation, when they are initializers), then split.
   */
  private linearKernel(x: OnnxValue, ws: readonly OnnxValue[], bs: readonly (OnnxValue | undefined)[]): OnnxValue[] {
    const cols = ws.map((w) => w.dims[1] as number);
    const rows = ws[0].dims[0] as number;
    const lead = x.dims.slice(0, -1);
    const fold = (vals: readonly OnnxValue[], r: number, dims: number[]): OnnxValue =>
      vals.length === 1
        ? vals[0]
        : vals.every((v) => v.data)
          ? this.initializer(this.g.fresh("fused"), dims, () =>
              concatColumns(
                vals.map((v) => v.data!()),
                r,
                cols,
              ),
            )
          : this.concat(vals, -1);
    const total = cols.reduce((a, c) => a + c, 0);
    let y = this.node("MatMul", [x, fold(ws, rows, [rows, total])], [...lead, total]);
    if (bs.some((b) => b)) {
      const biases = bs.map(
        (b, i) => b ?? this.initializer(this.g.fresh("zero_bias"), [cols[i]], new Float32Array(cols[i])),
      );
      y = this.add(y, fold(biases, 1, [total]));
    }
    if (ws.length === 1) return [y];
    const outs = this.g.node("Split", [y.name, this.g.ints(cols)], { axis: -1 }, ws.length);
    return outs.map((name, i) => ({ name, dims: [...lead, cols[i]], type: OnnxDataType.FLOAT }));
  }

  /**
   * ONNX Runtime's contrib Attention: Q/K/V projection, softmax and context in one kernel, then out_proj; causal,
   * or bidirectional with the keys masked by a 0/1 `keyMask` [B, T] (the kernel's raw mask: hidden keys get
   * -10000, whose exp is 0 in float32 as the composite's float32-min). Constant weights are packed once at
   * serialisation; weights fed as inputs are concatenated in the graph.
   */
  private attentionKernel(x: OnnxValue, p: AttentionParams<OnnxValue>, nHeads: number, keyMask?: OnnxValue): OnnxValue {
    const E = x.dims[2] as number;
    const pack = (vals: readonly OnnxValue[], rows: number, dims: number[]): OnnxValue =>
      vals.every((v) => v.data)
        ? this.initializer(this.g.fresh("qkv"), dims, () =>
            concatColumns(
              vals.map((v) => v.data!()),
              rows,
              [E, E, E],
            ),
          )
        : this.concat(vals, -1);
    const w = pack([p.query.weight, p.key.weight, p.value.weight], E, [E, 3 * E]);
    const zero = () => this.initializer(this.g.fresh("zero_bias"), [E], new Float32Array(E));
    const b = pack([p.query.bias ?? zero(), p.key.bias ?? zero(), p.value.bias ?? zero()], 1, [3 * E]);
    const inputs = [x.name, w.name, b.name];
    if (keyMask)
      inputs.push(this.node("Cast", [keyMask], keyMask.dims, { to: OnnxDataType.INT32 }, OnnxDataType.INT32).name);
    const ctx = this.g.node(
      "Attention",
      inputs,
      { num_heads: nHeads, unidirectional: keyMask ? 0 : 1 },
      1,
      "com.microsoft",
    )[0];
    const context: OnnxValue = { name: ctx, dims: x.dims, type: OnnxDataType.FLOAT };
    let y = this.node("MatMul", [context, p.out.weight], x.dims);
    if (p.out.bias) y = this.add(y, p.out.bias);
    return y;
  }
}
