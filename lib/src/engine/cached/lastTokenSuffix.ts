/**
 * The classifier's trainable suffix in tfjs, from the frozen prefix's hidden states: the model definition
 * (lib/src/model/gpt.ts) from a block on, with a readout. `lastTokenLogits` is the book's case (last block +
 * final norm + head at the last position, whose `singleQueryBlock` computes the last query's attention
 * without forming the keys and values of every position); `suffixLogits` takes any start and readout.
 * Differentiable (tfjs autodiff) w.r.t. the suffix's parameters.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../../errors";
import { gptForward, readoutOf } from "../../model/gpt";
import { normalize } from "../../model/layers";
import { tensorOf } from "../../model/frozenParam";
import { TfjsOps } from "../../model/tfjsOps";
import type { GptLike } from "../onnx/onnxGpt";
import { resolveSuffixSpec, type SuffixSpec } from "../onnx/suffixGraph";

/** The primitives on tfjs (caches one causal mask per sequence length, for suffixes that need one). */
const ops = new TfjsOps();

/** (x - mean) / sqrt(var + 1e-5) over the last axis (biased variance), like the model's LayerNorm without scale/shift. */
export function normalizeLastAxis<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => normalize(ops, x) as T);
}

/**
 * Last-token logits of the model from the hidden states entering its last block.
 * @param model GPTModel (its current parameters are used, so gradients reach them)
 * @param hidden output of embeddings + blocks 0..nLayers-2, [batch, seq, embDim] (treated as a constant)
 * @returns logits of the last position, [batch, outDim] (caller disposes)
 */
export function lastTokenLogits(model: GptLike, hidden: tf.Tensor3D): tf.Tensor2D {
  return suffixLogits(model, hidden);
}

/**
 * The classifier's logits from the hidden states entering block `spec.fromBlock` (default the last), read out
 * as `spec.readout` says: the suffix of the fast path in tfjs, differentiable w.r.t. the model's parameters.
 * @param readoutWeights [batch, seq] for the flexible and mean readouts (see `readoutWeights`)
 * @returns [batch, outDim] (caller disposes)
 */
export function suffixLogits(
  model: GptLike,
  hidden: tf.Tensor3D,
  spec: SuffixSpec = {},
  readoutWeights?: tf.Tensor2D,
): tf.Tensor2D {
  const E = hidden.shape[2];
  if (E !== model.cfg.embDim) throw new ConfigError(`hidden states have width ${E}, the model ${model.cfg.embDim}`);
  const { fromBlock, readout, causal } = resolveSuffixSpec(model, spec);
  return tf.tidy(
    () =>
      gptForward(ops, (n) => tensorOf(model.params.get(n)), model.cfg, hidden, {
        fromBlock,
        embed: false,
        head: true,
        causal,
        readout: readoutOf(readout, () => {
          if (!readoutWeights) throw new ConfigError(`The ${readout} readout needs its weights [batch, seq]`);
          return readoutWeights;
        }),
      }) as tf.Tensor2D,
  );
}
