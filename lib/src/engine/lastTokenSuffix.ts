/**
 * The trainable suffix of the classifier (last transformer block + final norm + head) evaluated for the
 * LAST position only, from the frozen prefix's hidden states. Differentiable (tfjs) w.r.t. the block's,
 * final norm's and head's parameters.
 *
 * Keys and values depend on every position, but the last query only needs them through two reductions,
 * so we never materialise K and V ([B, T, E] each, 2 × B·T·E² multiply-adds). With h = x̂ ⊙ s + b
 * (LayerNorm 1: x̂ normalised, parameter-free and constant; s, b its scale and shift), per head:
 *   q·k_t   = x̂_t · (s ⊙ u) + b · u + b_k·q,   u = W_k,h q_h            (E × D per head instead of T × E × D)
 *   Σ_t a_t v_t = (Σ_t a_t x̂_t ⊙ s + b) W_v,h + b_v,h                  (since Σ_t a_t = 1)
 * The same numbers as the full block up to float32 rounding (test: test/engine/fastPath.test.ts).
 * Small 2-D matmuls per head / per sequence keep tfjs-wasm on its fast (XNNPACK) path.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import type { GptLike } from "./onnxGpt";

function param(model: GptLike, name: string): tf.Tensor {
  const t = model.params.get(name);
  if (!t) throw new ConfigError(`Model has no parameter "${name}"`);
  return t;
}

/** (x - mean) / sqrt(var + 1e-5) over the last axis (biased variance), like the model's LayerNorm without scale/shift. */
export function normalizeLastAxis<T extends tf.Tensor>(x: T): T {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.div<T>(centred, tf.sqrt(tf.add(variance, 1e-5)));
}

function layerNorm(model: GptLike, x: tf.Tensor, prefix: string): tf.Tensor {
  return tf.add(tf.mul(normalizeLastAxis(x), param(model, `${prefix}.scale`)), param(model, `${prefix}.shift`));
}

function linear(model: GptLike, x: tf.Tensor, prefix: string): tf.Tensor {
  const y = tf.matMul(x, param(model, `${prefix}.weight`));
  const b = model.params.get(`${prefix}.bias`);
  return b ? tf.add(y, b) : y;
}

/** GELU, tanh approximation (book ch. 4). */
function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/**
 * Last-token logits of the model from the hidden states entering its last block.
 * @param model GPTModel (its current parameters are used, so gradients reach them)
 * @param hidden output of embeddings + blocks 0..nLayers-2, [batch, seq, embDim] (treated as a constant)
 * @returns logits of the last position, [batch, outDim] (caller disposes)
 */
export function lastTokenLogits(model: GptLike, hidden: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T, E] = hidden.shape;
    const H = model.cfg.nHeads,
      D = E / H,
      L = model.cfg.nLayers;
    if (E !== model.cfg.embDim) throw new ConfigError(`hidden states have width ${E}, the model ${model.cfg.embDim}`);
    const p = `trf_blocks.${L - 1}`;
    const s1 = param(model, `${p}.norm1.scale`),
      b1 = param(model, `${p}.norm1.shift`);

    const xhat = normalizeLastAxis(hidden); // [B, T, E], constant
    const xLast = tf.reshape(tf.slice(hidden, [0, T - 1, 0], [B, 1, E]), [B, E]);
    const xhatLast = tf.reshape(tf.slice(xhat, [0, T - 1, 0], [B, 1, E]), [B, E]);
    const q = linear(model, tf.add(tf.mul(xhatLast, s1), b1), `${p}.att.W_query`); // [B, E]

    // u[b, h] = W_k,h q_h: per head [B, D] @ [D, E] (rows of W_kᵀ)
    const wkT = tf.transpose(param(model, `${p}.att.W_key.weight`)); // [E_out, E_in]
    const qHeads = tf.split(q, H, 1); // H × [B, D]
    const u = tf.stack(
      qHeads.map((qh, h) => tf.matMul(qh as tf.Tensor2D, tf.slice(wkT, [h * D, 0], [D, E]) as tf.Tensor2D)),
      1,
    ); // [B, H, E]
    let shift = tf.sum(tf.mul(u, b1), -1); // [B, H]: b · u
    const bk = model.params.get(`${p}.att.W_key.bias`);
    if (bk) shift = tf.add(shift, tf.sum(tf.reshape(tf.mul(q, bk), [B, H, D]), -1)); // b_k,h · q_h
    const w = tf.unstack(tf.mul(u, s1)); // B × [H, E]

    // scores[b, h, t] = (x̂_t · w[b, h] + shift[b, h]) / sqrt(D); the last query sees every position (no mask)
    const xhats = tf.unstack(xhat); // B × [T, E]
    const raw = tf.stack(xhats.map((xb, b) => tf.matMul(w[b] as tf.Tensor2D, tf.transpose(xb) as tf.Tensor2D))); // [B, H, T]
    const att = tf.softmax(tf.div(tf.add(raw, tf.expandDims(shift, -1)), Math.sqrt(D))); // [B, H, T]

    // context_h = (Σ_t a_t x̂_t ⊙ s + b) W_v,h + b_v,h
    const atts = tf.unstack(att); // B × [H, T]
    const zhat = tf.stack(atts.map((ab, b) => tf.matMul(ab as tf.Tensor2D, xhats[b] as tf.Tensor2D))); // [B, H, E]
    const z = tf.unstack(tf.add(tf.mul(zhat, s1), b1), 1); // H × [B, E]
    const wv = param(model, `${p}.att.W_value.weight`);
    let ctx = tf.concat(
      z.map((zh, h) => tf.matMul(zh as tf.Tensor2D, tf.slice(wv, [0, h * D], [E, D]) as tf.Tensor2D)),
      1,
    ); // [B, E]
    const bv = model.params.get(`${p}.att.W_value.bias`);
    if (bv) ctx = tf.add(ctx, bv);

    const x1 = tf.add(xLast, linear(model, ctx, `${p}.att.out_proj`)); // [B, E]
    const ff = linear(
      model,
      gelu(linear(model, layerNorm(model, x1, `${p}.norm2`), `${p}.ff.layers.0`)),
      `${p}.ff.layers.2`,
    );
    const x2 = tf.add(x1, ff);
    return linear(model, layerNorm(model, x2, "final_norm"), "out_head") as tf.Tensor2D; // [B, outDim]
  });
}
