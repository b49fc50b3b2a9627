/**
 * How a GPTModel is created (random weights, or straight from loaded values) and the tensor that is filled in
 * place: kept apart from gptModel.ts, whose forward pass is another matter.
 */
import * as tf from "@tensorflow/tfjs";

/** Writes parameters' values into memory the model provides (see `GPTModelOptions.fill`). */
export interface WeightFill {
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  fill(name: string, values: Float32Array): void;
}

/**
 * A float32 tensor whose values `fill` writes in place: in the WASM heap itself with the wasm backend (one write,
 * no JS copy first), else in a JS array then uploaded.
 */
export function filledTensor(shape: number[], fill: (values: Float32Array) => void): tf.Tensor {
  const backend = tf.backend() as unknown as {
    makeOutput?(shape: number[], dtype: "float32"): tf.TensorInfo;
    typedArrayFromHeap?(info: tf.TensorInfo): Float32Array;
  };
  if (tf.getBackend() === "wasm" && backend.makeOutput && backend.typedArrayFromHeap) {
    const info = backend.makeOutput(shape, "float32");
    fill(backend.typedArrayFromHeap(info));
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const values = new Float32Array(shape.reduce((a, d) => a * d, 1));
  fill(values);
  return tf.tensor(values, shape);
}

/** How a GPTModel is created: random or zero weights, or from loaded arrays. */
export interface GPTModelOptions {
  seed?: number;
  init?: "random" | "zeros" | "pytorch";
  /** Parameter values by name, in our layout (Linear weights `[in, out]`, row-major). */
  weights?: ReadonlyMap<string, Float32Array>;
  /**
   * Parameter values written straight into the backend's memory (e.g. read from a file into the WASM heap, no
   * copy in between): for each name in `shapes`, `fill(name, values)` writes the values (our layout) into `values`.
   */
  fill?: WeightFill;
  /** Output size of the head (default `vocabSize`; 2 for the spam classifier). */
  outDim?: number;
  /**
   * Build every parameter frozen, its values kept once as a Float32Array outside tfjs (FrozenParam) until a
   * tfjs computation asks for them; `setTrainable` makes the trainable ones tf.Variables. For training part of
   * a model whose frozen weights ONNX Runtime runs (the cached fast path, the native trainer). Default false.
   */
  frozen?: boolean;
  /** Whether the head has a bias (default false, like GPT-2's tied head; the classifier's has one). */
  headBias?: boolean;
}
