/**
 * Reverse-mode automatic differentiation over any engine's primitives. `DiffOps` wraps an `Ops<T>`: every
 * primitive runs forward on the wrapped engine and records its vector-Jacobian product (VJP), written here
 * next to it with the same primitives, so the backward pass runs on every engine (on tfjs it computes,
 * on ONNX it becomes graph nodes: the ONNX trainer's backward). `grad(loss, wrt)` walks the tape back.
 *
 * Only values that depend on a `variable` are recorded, and a VJP computes only the input gradients that
 * lead to a variable: a frozen prefix costs no backward work. LayerNorm and GELU are recorded whole, with
 * backward passes derived by hand (layers.ts); an embedding's gradient can stay rows at ids (`gradOrRows`). Broadcast operands get their gradient summed
 * back to their shape (static ranks). Shapes may be symbolic for the forward pass; the backward of a
 * slice/mean over a symbolic axis needs numbers (the trainer builds one graph per batch shape).
 */
import { gelu, geluErf, geluErfVjp, geluVjp, layerNorm, layerNormVjp } from "./layers";
import { normAxes, numericDims, sumToShape, type Dim, type FusedOps, type MatMulOptions, type Ops } from "./ops";

/** A value under the tape: the engine's value, and its tape entry when it depends on a variable. */
export interface Tracked<T> {
  readonly value: T;
  /** Set when the value depends on a variable. */
  readonly node?: TapeNode<T>;
}

/**
 * A gradient given as rows added at ids, as `gather`'s VJP makes for an embedding table: [numRows, ...]
 * zeros plus `rows` [...ids.shape, ...] at `ids`. Kept sparse until something needs it dense.
 */
export interface RowGradient<T> {
  readonly ids: T;
  readonly rows: T;
  readonly numRows: number;
}

/** A gradient: dense, or rows at ids (see `DiffOps.gradOrRows`). */
export type Gradient<T> = T | RowGradient<T>;

function isRows<T>(g: Gradient<T>): g is RowGradient<T> {
  return typeof g === "object" && g !== null && "rows" in g && "numRows" in g;
}

/** One recorded primitive: its inputs and the VJP that maps the output's cotangent to theirs. */
interface TapeNode<T> {
  readonly id: number;
  readonly inputs: readonly (Tracked<T> | undefined)[];
  /** Cotangents of the inputs for which `needs[i]` holds (others may be undefined). */
  readonly vjp: (dy: T, needs: readonly boolean[]) => (Gradient<T> | undefined)[];
  readonly dims: readonly Dim[];
}

type Arg<T> = Tracked<T> | number;

/** The tape: `Ops` on tracked values, plus `variable` and `grad`. */
export class DiffOps<T> implements Ops<Tracked<T>> {
  private nextId = 0;
  /**
   * Layers with a hand-derived backward pass (layers.ts, beside each forward; tested against the
   * composite's autodiff): forward on the engine's fused kernel when it has one, one tape entry each.
   */
  readonly fused: FusedOps<Tracked<T>> = {
    layerNorm: (x, scale, shift, eps) => {
      const o = this.base;
      const y = layerNorm(o, x.value, { scale: scale.value, shift: shift.value }, eps);
      return this.record(y, [x, scale, shift], (dy) => {
        const { dx, dScale, dShift } = layerNormVjp(o, x.value, scale.value, eps, dy);
        return [dx, dScale, dShift];
      });
    },
    gelu: (x) => this.record(gelu(this.base, x.value), [x], (dy) => [geluVjp(this.base, x.value, dy)]),
    geluErf: (x) => this.record(geluErf(this.base, x.value), [x], (dy) => [geluErfVjp(this.base, x.value, dy)]),
  };

  constructor(readonly base: Ops<T>) {}

  /** A value that gradients are taken with respect to. */
  variable(value: T): Tracked<T> {
    return { value, node: { id: this.nextId++, inputs: [], vjp: () => [], dims: this.base.shape(value) } };
  }

  /** A value without gradient (data, frozen weights). */
  constant(values: Float32Array, shape: readonly number[]): Tracked<T> {
    return { value: this.base.constant(values, shape) };
  }

  /** Wraps an engine value as a constant of the tape. */
  lift(value: T): Tracked<T> {
    return { value };
  }

  private record(value: T, inputs: readonly (Arg<T> | undefined)[], vjp: TapeNode<T>["vjp"]): Tracked<T> {
    const tracked = inputs.map((x) => (typeof x === "object" ? x : undefined));
    if (!tracked.some((x) => x?.node)) return { value };
    return { value, node: { id: this.nextId++, inputs: tracked, vjp, dims: this.base.shape(value) } };
  }

  private v(x: Arg<T>): T | number {
    return typeof x === "number" ? x : x.value;
  }

  shape(x: Tracked<T>): readonly Dim[] {
    return this.base.shape(x.value);
  }

  causalMask(n: Dim): Tracked<T> {
    return { value: this.base.causalMask(n) };
  }

  // ---- elementwise: the VJP of a broadcast operand is summed back to its shape
  private dimsOf(x: Arg<T>): readonly Dim[] {
    return typeof x === "number" ? [] : this.base.shape(x.value);
  }

  add(a: Arg<T>, b: Arg<T>): Tracked<T> {
    const o = this.base;
    const [da, db] = [this.dimsOf(a), this.dimsOf(b)];
    return this.record(o.add(this.v(a), this.v(b)), [a, b], (dy, n) => [
      n[0] ? sumToShape(o, dy, da) : undefined,
      n[1] ? sumToShape(o, dy, db) : undefined,
    ]);
  }

  sub(a: Arg<T>, b: Arg<T>): Tracked<T> {
    const o = this.base;
    const [da, db] = [this.dimsOf(a), this.dimsOf(b)];
    return this.record(o.sub(this.v(a), this.v(b)), [a, b], (dy, n) => [
      n[0] ? sumToShape(o, dy, da) : undefined,
      n[1] ? sumToShape(o, o.neg(dy), db) : undefined,
    ]);
  }

  mul(a: Arg<T>, b: Arg<T>): Tracked<T> {
    const o = this.base;
    const [va, vb] = [this.v(a), this.v(b)];
    const [da, db] = [this.dimsOf(a), this.dimsOf(b)];
    return this.record(o.mul(va, vb), [a, b], (dy, n) => [
      n[0] ? sumToShape(o, o.mul(dy, vb), da) : undefined,
      n[1] ? sumToShape(o, o.mul(dy, va), db) : undefined,
    ]);
  }

  div(a: Arg<T>, b: Arg<T>): Tracked<T> {
    const o = this.base;
    const [va, vb] = [this.v(a), this.v(b)];
    const [da, db] = [this.dimsOf(a), this.dimsOf(b)];
    const y = o.div(va, vb);
    // d(a/b)/db = -a/b² = -y/b
    return this.record(y, [a, b], (dy, n) => [
      n[0] ? sumToShape(o, o.div(dy, vb), da) : undefined,
      n[1] ? sumToShape(o, o.neg(o.div(o.mul(dy, y), vb)), db) : undefined,
    ]);
  }

  neg(x: Tracked<T>): Tracked<T> {
    return this.record(this.base.neg(x.value), [x], (dy) => [this.base.neg(dy)]);
  }

  exp(x: Tracked<T>): Tracked<T> {
    const y = this.base.exp(x.value);
    return this.record(y, [x], (dy) => [this.base.mul(dy, y)]);
  }

  log(x: Tracked<T>): Tracked<T> {
    return this.record(this.base.log(x.value), [x], (dy) => [this.base.div(dy, x.value)]);
  }

  sqrt(x: Tracked<T>): Tracked<T> {
    const y = this.base.sqrt(x.value);
    return this.record(y, [x], (dy) => [this.base.div(this.base.mul(dy, 0.5), y)]);
  }

  tanh(x: Tracked<T>): Tracked<T> {
    const o = this.base,
      y = o.tanh(x.value);
    return this.record(y, [x], (dy) => [o.mul(dy, o.sub(1, o.mul(y, y)))]);
  }

  erf(x: Tracked<T>): Tracked<T> {
    const o = this.base;
    // d erf(x)/dx = 2/√π · exp(-x²)
    return this.record(o.erf(x.value), [x], (dy) => [
      o.mul(dy, o.mul(o.exp(o.neg(o.mul(x.value, x.value))), 2 / Math.sqrt(Math.PI))),
    ]);
  }

  // ---- reductions: the cotangent is broadcast back over the reduced axes
  private unreduce(dy: T, dims: readonly Dim[], axes: readonly number[], keepDims: boolean): T {
    const o = this.base;
    const kept = keepDims
      ? dy
      : o.reshape(
          dy,
          dims.map((d, i) => (axes.includes(i) ? 1 : d)),
        );
    return o.broadcastTo(kept, dims);
  }

  sum(x: Tracked<T>, axes: number | readonly number[], keepDims = false): Tracked<T> {
    const dims = this.shape(x),
      ax = normAxes(axes, dims.length);
    return this.record(this.base.sum(x.value, ax, keepDims), [x], (dy) => [this.unreduce(dy, dims, ax, keepDims)]);
  }

  mean(x: Tracked<T>, axes: number | readonly number[], keepDims = false): Tracked<T> {
    const dims = this.shape(x),
      ax = normAxes(axes, dims.length);
    const count = numericDims(
      ax.map((a) => dims[a]),
      "the gradient of mean",
    ).reduce((p, d) => p * d, 1);
    return this.record(this.base.mean(x.value, ax, keepDims), [x], (dy) => [
      this.unreduce(this.base.div(dy, count), dims, ax, keepDims),
    ]);
  }

  // ---- last axis
  softmax(x: Tracked<T>): Tracked<T> {
    const o = this.base,
      y = o.softmax(x.value);
    // dx = y ⊙ (dy − Σ dy ⊙ y)
    return this.record(y, [x], (dy) => [o.mul(y, o.sub(dy, o.sum(o.mul(dy, y), -1, true)))]);
  }

  logSoftmax(x: Tracked<T>): Tracked<T> {
    const o = this.base,
      y = o.logSoftmax(x.value);
    // dx = dy − softmax ⊙ Σ dy
    return this.record(y, [x], (dy) => [o.sub(dy, o.mul(o.exp(y), o.sum(dy, -1, true)))]);
  }

  // ---- products and indexing
  matMul(a: Tracked<T>, b: Tracked<T>, opts: MatMulOptions = {}): Tracked<T> {
    const o = this.base;
    const tA = opts.transposeA ?? false,
      tB = opts.transposeB ?? false;
    const [da, db] = [this.shape(a), this.shape(b)];
    // y = op(a)·op(b): d op(a) = dy·op(b)ᵀ, d op(b) = op(a)ᵀ·dy, transposed back where op transposes.
    return this.record(o.matMul(a.value, b.value, opts), [a, b], (dy, n) => [
      n[0]
        ? sumToShape(
            o,
            tA
              ? o.matMul(b.value, dy, { transposeA: tB, transposeB: true })
              : o.matMul(dy, b.value, { transposeB: !tB }),
            da,
          )
        : undefined,
      n[1]
        ? sumToShape(
            o,
            tB
              ? o.matMul(dy, a.value, { transposeA: true, transposeB: tA })
              : o.matMul(a.value, dy, { transposeA: !tA }),
            db,
          )
        : undefined,
    ]);
  }

  gather(table: Tracked<T>, ids: Tracked<T>): Tracked<T> {
    const [numRows] = numericDims([this.shape(table)[0]], "the gradient of gather");
    // The table's gradient stays rows at ids (dense only when combined or asked for: see gradOrRows).
    return this.record(this.base.gather(table.value, ids.value), [table], (dy) => [
      { ids: ids.value, rows: dy, numRows },
    ]);
  }

  scatterAddRows(ids: Tracked<T>, rows: Tracked<T>, numRows: number): Tracked<T> {
    const o = this.base;
    return this.record(o.scatterAddRows(ids.value, rows.value, numRows), [undefined, rows], (dy) => [
      undefined,
      o.gather(dy, ids.value),
    ]);
  }

  // ---- shapes
  reshape(x: Tracked<T>, shape: readonly Dim[]): Tracked<T> {
    const dims = this.shape(x);
    return this.record(this.base.reshape(x.value, shape), [x], (dy) => [this.base.reshape(dy, dims)]);
  }

  transpose(x: Tracked<T>, perm: readonly number[]): Tracked<T> {
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return this.record(this.base.transpose(x.value, perm), [x], (dy) => [this.base.transpose(dy, inverse)]);
  }

  slice(x: Tracked<T>, axis: number, start: number, size: Dim): Tracked<T> {
    const dims = this.shape(x),
      a = axis < 0 ? axis + dims.length : axis;
    return this.record(this.base.slice(x.value, a, start, size), [x], (dy) => {
      const [total, n] = numericDims([dims[a], size], "the gradient of slice");
      const begin = start < 0 ? total + start : start;
      return [this.base.pad(dy, a, begin, total - begin - n)];
    });
  }

  pad(x: Tracked<T>, axis: number, before: number, after: number): Tracked<T> {
    const dims = this.shape(x),
      a = axis < 0 ? axis + dims.length : axis;
    return this.record(this.base.pad(x.value, a, before, after), [x], (dy) => [
      this.base.slice(dy, a, before, dims[a]),
    ]);
  }

  concat(xs: readonly Tracked<T>[], axis: number): Tracked<T> {
    const rank = this.shape(xs[0]).length,
      a = axis < 0 ? axis + rank : axis;
    const sizes = numericDims(
      xs.map((x) => this.shape(x)[a]),
      "the gradient of concat",
    );
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((p, s) => p + s, 0));
    return this.record(
      this.base.concat(
        xs.map((x) => x.value),
        a,
      ),
      xs,
      (dy, n) => xs.map((_, i) => (n[i] ? this.base.slice(dy, a, starts[i], sizes[i]) : undefined)),
    );
  }

  broadcastTo(x: Tracked<T>, shape: readonly Dim[]): Tracked<T> {
    const dims = this.shape(x);
    return this.record(this.base.broadcastTo(x.value, shape), [x], (dy) => [sumToShape(this.base, dy, dims)]);
  }

  /** A gradient as a dense value. */
  dense(g: Gradient<T>): T {
    return isRows(g) ? this.base.scatterAddRows(g.ids, g.rows, g.numRows) : g;
  }

  /**
   * Gradients of a scalar (or of a `seed`-weighted output) with respect to `wrt`: the tape walked in
   * reverse. A variable the output does not depend on gets zeros.
   * @param seed the output's cotangent (default 1)
   */
  grad(output: Tracked<T>, wrt: readonly Tracked<T>[], seed?: T): T[] {
    return this.gradOrRows(output, wrt, seed).map((g) => this.dense(g));
  }

  /**
   * Like `grad`, but a table read only by `gather` (an embedding) gets its gradient as rows at ids,
   * which is how an optimizer outside the graph can add it without a dense [V, E] tensor in the graph.
   */
  gradOrRows(output: Tracked<T>, wrt: readonly Tracked<T>[], seed?: T): Gradient<T>[] {
    const o = this.base;
    const zeros = (w: Tracked<T>) => o.mul(w.value, 0);
    if (!output.node) return wrt.map(zeros);
    const cot = new Map<number, Gradient<T>>();
    cot.set(output.node.id, seed ?? o.broadcastTo(o.constant(Float32Array.of(1), []), output.node.dims));
    // Nodes reachable from the output, in reverse creation order (ids grow along the forward pass).
    const nodes = new Map<number, TapeNode<T>>();
    const stack = [output.node];
    while (stack.length) {
      const node = stack.pop()!;
      if (nodes.has(node.id)) continue;
      nodes.set(node.id, node);
      for (const x of node.inputs) if (x?.node && !nodes.has(x.node.id)) stack.push(x.node);
    }
    for (const node of [...nodes.values()].sort((a, b) => b.id - a.id)) {
      const dy = cot.get(node.id);
      if (dy === undefined || !node.inputs.length) continue;
      const needs = node.inputs.map((x) => x?.node !== undefined);
      const dxs = node.vjp(this.dense(dy), needs);
      node.inputs.forEach((x, i) => {
        const dx = dxs[i];
        if (!x?.node || dx === undefined) return;
        const prev = cot.get(x.node.id);
        cot.set(x.node.id, prev === undefined ? dx : o.add(this.dense(prev), this.dense(dx)));
      });
    }
    return wrt.map((w) => (w.node && cot.get(w.node.id)) ?? zeros(w));
  }
}
