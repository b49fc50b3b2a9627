/**
 * A GPT model's weights as plain arrays, without tfjs: what ONNX Runtime needs to run the model (classify,
 * generate) straight from loaded (or cached) weights, without building tfjs variables first. Same names,
 * layout and shapes as GPTModel's parameters, and the same `cfg` / `param` / `outDim`, so the ONNX engine
 * and the classifier's input encoding take either.
 */
import { ConfigError, ShapeMismatchError } from "../errors";
import { validateConfig, type GPTConfig } from "./config";

/** One parameter's values (row-major) and shape; `dataSync()` as on a tfjs tensor. */
export class ArrayParam {
  constructor(
    readonly data: Float32Array,
    readonly shape: number[],
  ) {
    const size = shape.reduce((a, d) => a * d, 1);
    if (data.length !== size)
      throw new ShapeMismatchError(`${data.length} values do not fit shape [${shape.join(",")}] (${size} values)`);
  }

  get size(): number {
    return this.data.length;
  }

  dataSync(): Float32Array {
    return this.data;
  }
}

/** GPT weights held as arrays (our names and layout: Linear weights `[in, out]`). */
export class ArrayGpt {
  readonly cfg: GPTConfig;
  readonly params = new Map<string, ArrayParam>();
  /** The length the classifier was trained with and its pad id (set by the classifier loader). */
  trainedMaxLength?: number;
  padTokenId?: number;

  /** @throws ConfigError for an invalid config; ShapeMismatchError for values that do not fit their shape. */
  constructor(cfg: GPTConfig, weights: ReadonlyMap<string, { data: Float32Array; shape: number[] }>) {
    this.cfg = validateConfig({ ...cfg });
    for (const [name, t] of weights) this.params.set(name, new ArrayParam(t.data, t.shape));
  }

  /** The parameter `name`. @throws ConfigError when it does not exist. */
  param(name: string): ArrayParam {
    const p = this.params.get(name);
    if (!p) throw new ConfigError(`The model has no parameter "${name}"`);
    return p;
  }

  /** Output size of the head (vocabulary for language modelling, 2 for the classifier). */
  get outDim(): number {
    return this.param("out_head.weight").shape[1];
  }
}
