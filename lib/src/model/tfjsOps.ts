/**
 * The primitives on tfjs tensors (every backend; tfjs's autodiff records them, so `tf.variableGrads` of
 * a layer written with these works). Choices made for speed on the WASM backend live here, once:
 * transposed matmul operands are transposed explicitly (WASM multiplies transposed operands on a slow
 * loop) and broadcast batch axes expanded (WASM's BatchMatMul gets them wrong), the causal mask is built once per length and cached.
 */
import * as tf from "@tensorflow/tfjs";
import { broadcastDims, type Dim, type MatMulOptions, type Ops, numericDims, normAxes } from "./ops";

/** Swaps the last two axes. */
function swapLast(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  return tf.transpose(x, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
}

/** `Ops` on tfjs tensors. Holds cached constants (causal masks): `dispose()` frees them. */
export class TfjsOps implements Ops<tf.Tensor> {
  private readonly masks = new Map<number, tf.Tensor2D>();

  shape(x: tf.Tensor): readonly Dim[] {
    return x.shape;
  }

  constant(values: Float32Array, shape: readonly number[]): tf.Tensor {
    return tf.tensor(values, [...shape], "float32");
  }

  causalMask(n: Dim): tf.Tensor {
    const [size] = numericDims([n], "causalMask");
    let m = this.masks.get(size);
    if (!m) {
      m = tf.tidy(() =>
        tf.keep(
          tf.where<tf.Tensor2D>(
            tf.linalg.bandPart(tf.ones([size, size]), -1, 0).cast("bool"),
            tf.zeros([size, size]),
            tf.fill([size, size], -Infinity),
          ),
        ),
      );
      this.masks.set(size, m);
    }
    return m;
  }

  add(a: tf.Tensor | number, b: tf.Tensor | number): tf.Tensor {
    return tf.add(a, b);
  }
  sub(a: tf.Tensor | number, b: tf.Tensor | number): tf.Tensor {
    return tf.sub(a, b);
  }
  mul(a: tf.Tensor | number, b: tf.Tensor | number): tf.Tensor {
    return tf.mul(a, b);
  }
  div(a: tf.Tensor | number, b: tf.Tensor | number): tf.Tensor {
    return tf.div(a, b);
  }
  neg(x: tf.Tensor): tf.Tensor {
    return tf.neg(x);
  }
  exp(x: tf.Tensor): tf.Tensor {
    return tf.exp(x);
  }
  log(x: tf.Tensor): tf.Tensor {
    return tf.log(x);
  }
  sqrt(x: tf.Tensor): tf.Tensor {
    return tf.sqrt(x);
  }
  tanh(x: tf.Tensor): tf.Tensor {
    return tf.tanh(x);
  }
  erf(x: tf.Tensor): tf.Tensor {
    return tf.erf(x);
  }

  sum(x: tf.Tensor, axes: number | readonly number[], keepDims = false): tf.Tensor {
    return tf.sum(x, normAxes(axes, x.rank), keepDims);
  }
  mean(x: tf.Tensor, axes: number | readonly number[], keepDims = false): tf.Tensor {
    return tf.mean(x, normAxes(axes, x.rank), keepDims);
  }

  softmax(x: tf.Tensor): tf.Tensor {
    return tf.softmax(x, -1);
  }
  logSoftmax(x: tf.Tensor): tf.Tensor {
    return tf.logSoftmax(x, -1);
  }

  matMul(a: tf.Tensor, b: tf.Tensor, opts: MatMulOptions = {}): tf.Tensor {
    let x = opts.transposeA ? swapLast(a) : a,
      y = opts.transposeB ? swapLast(b) : b;
    // Batch axes broadcast explicitly: tfjs-wasm's BatchMatMul gives wrong values when they differ.
    const batch = broadcastDims(x.shape.slice(0, -2), y.shape.slice(0, -2)) as number[];
    if (x.rank > 2 || y.rank > 2) {
      const full = (t: tf.Tensor) => {
        const want = [...batch, ...t.shape.slice(-2)];
        return t.shape.length === want.length && t.shape.every((d, i) => d === want[i]) ? t : tf.broadcastTo(t, want);
      };
      x = full(x);
      y = full(y);
    }
    return tf.matMul(x, y);
  }
  gather(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
    return tf.gather(table, ids.dtype === "int32" ? ids : tf.cast(ids, "int32"));
  }
  scatterAddRows(ids: tf.Tensor, rows: tf.Tensor, numRows: number): tf.Tensor {
    const inner = rows.shape.slice(ids.rank);
    const flatIds = tf.reshape<tf.Rank.R1>(ids.dtype === "int32" ? ids : tf.cast(ids, "int32"), [-1]);
    return tf.unsortedSegmentSum(tf.reshape(rows, [flatIds.shape[0], ...inner]), flatIds, numRows);
  }

  reshape(x: tf.Tensor, shape: readonly Dim[]): tf.Tensor {
    return tf.reshape(x, numericDims(shape, "reshape"));
  }
  transpose(x: tf.Tensor, perm: readonly number[]): tf.Tensor {
    return tf.transpose(x, [...perm]);
  }
  slice(x: tf.Tensor, axis: number, start: number, size: Dim): tf.Tensor {
    const begin = x.shape.map(() => 0),
      sizes = x.shape.map(() => -1);
    const a = axis < 0 ? axis + x.rank : axis;
    begin[a] = start < 0 ? x.shape[a] + start : start;
    sizes[a] = numericDims([size], "slice")[0];
    return tf.slice(x, begin, sizes);
  }
  pad(x: tf.Tensor, axis: number, before: number, after: number): tf.Tensor {
    const a = axis < 0 ? axis + x.rank : axis;
    return tf.pad(
      x,
      x.shape.map((_, i): [number, number] => (i === a ? [before, after] : [0, 0])),
    );
  }
  concat(xs: readonly tf.Tensor[], axis: number): tf.Tensor {
    return tf.concat([...xs], axis);
  }
  broadcastTo(x: tf.Tensor, shape: readonly Dim[]): tf.Tensor {
    return tf.broadcastTo(x, numericDims(shape, "broadcastTo"));
  }

  dropout(x: tf.Tensor, rate: number): tf.Tensor {
    return tf.dropout(x, rate);
  }

  /** Frees the cached constants. */
  dispose(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}
