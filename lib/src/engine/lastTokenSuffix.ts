/**
 * The trainable suffix of the classifier (last transformer block + final norm + head) evaluated for the
 * LAST position only, from the frozen prefix's hidden states, in tfjs: the model definition
 * (lib/src/model/gpt.ts) from the last block on with the last-token readout, whose `singleQueryBlock`
 * computes the last query's attention without forming the keys and values of every position.
 * Differentiable (tfjs autodiff) w.r.t. the block's, final norm's and head's parameters.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import { gptForward, type Readout } from "../model/gpt";
import { normalize } from "../model/layers";
import { TfjsOps } from "../model/tfjsOps";
import type { GptLike } from "./onnxGpt";

/** The primitives on tfjs (the single-query path uses no cached constant). */
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
 * The classifier's logits at any readout (the bonus experiments' first token, last real token, mean) from
 * the hidden states entering the last block, with or without the causal mask. Differentiable like
 * `lastTokenLogits` (caller disposes).
 */
export function suffixLogits(
  model: GptLike,
  hidden: tf.Tensor3D,
  readout: Readout<tf.Tensor> = { kind: "last" },
  causal = true,
): tf.Tensor2D {
  const E = hidden.shape[2];
  if (E !== model.cfg.embDim) throw new ConfigError(`hidden states have width ${E}, the model ${model.cfg.embDim}`);
  return tf.tidy(
    () =>
      gptForward(ops, (n) => model.params.get(n), model.cfg, hidden, {
        fromBlock: model.cfg.nLayers - 1,
        embed: false,
        head: true,
        readout,
        causal,
      }) as tf.Tensor2D,
  );
}
