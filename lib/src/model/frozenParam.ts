/**
 * A frozen parameter kept once, as a Float32Array outside tfjs (issue 12: "weights live once, outside the WASM
 * heap when frozen"). ONNX Runtime and the JS optimizers read its values (`dataSync()`, no copy); a tfjs
 * computation that asks for it (`tensor()`: the plain path, evaluation on tfjs, dropout) gets a tfjs tensor made
 * once, and the array is released then, so the values still live once.
 */
import * as tf from "@tensorflow/tfjs";
import { ShapeMismatchError } from "../errors";

export class FrozenParam {
  /** Never trains (PyTorch's `requires_grad = False`); GPTModel.setTrainable turns it into a tf.Variable. */
  readonly trainable = false as const;
  readonly dtype = "float32" as const;
  readonly shape: number[];
  private values: Float32Array | undefined;
  private made: tf.Tensor | undefined;

  /** Keeps `values` (row-major, our layout) without copying them. @throws ShapeMismatchError when they do not fit. */
  constructor(values: Float32Array, shape: readonly number[]) {
    this.shape = [...shape];
    const size = this.shape.reduce((a, d) => a * d, 1);
    if (values.length !== size)
      throw new ShapeMismatchError(`${values.length} values do not fit shape [${this.shape.join(",")}] (${size})`);
    this.values = values;
  }

  get size(): number {
    return this.shape.reduce((a, d) => a * d, 1);
  }

  /** Where the values live: "array" (outside tfjs) until a tfjs computation asked for them, then "tfjs". */
  get storage(): "array" | "tfjs" {
    return this.made ? "tfjs" : "array";
  }

  /** The values (the array itself while outside tfjs: do not write into it; a copy from tfjs afterwards). */
  dataSync(): Float32Array {
    return this.values ?? (this.made!.dataSync() as Float32Array);
  }

  /** The values as a tfjs tensor, made on the first call (kept outside any tf.tidy) and the same one after. */
  tensor(): tf.Tensor {
    if (!this.made) {
      this.made = tf.keep(tf.tensor(this.values!, this.shape));
      this.values = undefined; // tfjs holds the only copy from here on
    }
    return this.made;
  }

  /** Replaces the values (copied); a tensor made before is freed and made again when asked for. */
  set(values: Float32Array): void {
    if (values.length !== this.size)
      throw new ShapeMismatchError(`${values.length} values do not fit shape [${this.shape.join(",")}]`);
    this.values = Float32Array.from(values); // a new array: the old one may be the caller's
    this.made?.dispose();
    this.made = undefined;
  }

  dispose(): void {
    this.made?.dispose();
    this.made = undefined;
    this.values = undefined;
  }
}

/** A GPTModel parameter: a tf.Variable (trainable, or frozen on a model built in tfjs) or a FrozenParam. */
export type ModelParam = tf.Variable | FrozenParam;

/** A parameter as tfjs computations need it: the tensor itself, or a frozen one's tensor (made once). */
export function tensorOf<T extends tf.Tensor | FrozenParam | undefined>(
  p: T,
): T extends undefined ? tf.Tensor | undefined : tf.Tensor {
  return (p instanceof FrozenParam ? p.tensor() : p) as T extends undefined ? tf.Tensor | undefined : tf.Tensor;
}
