/**
 * Greedy text generation (the book's `generate_text_simple`, chapter 4, used in 6.4).
 */
import * as tf from "@tensorflow/tfjs";
import { getTokenizer, textToTokenIds, tokenIdsToText, type Tokenizer } from "../tokenizer";
import type { GPTModel } from "./gptModel";
import { checkTokenIds } from "./classifierInput";

export { checkTokenIds };

/**
 * Appends `maxNewTokens` tokens to `idx`, each the most likely next token given at most the last
 * `contextSize` tokens. Book: generate_text_simple, 4.7 (used in 5.1 and 6.4).
 * @param idx int32 [B, T] token ids (not disposed).
 * @returns int32 [B, T + maxNewTokens]; the caller disposes it.
 */
export function generateTextSimple(
  model: GPTModel,
  idx: tf.Tensor2D,
  maxNewTokens: number,
  contextSize: number,
): tf.Tensor2D {
  let out = tf.clone(idx);
  for (let step = 0; step < maxNewTokens; step++) {
    const next = tf.tidy(() => {
      const T = out.shape[1];
      const cond = T > contextSize ? out.slice([0, T - contextSize], [-1, contextSize]) : out;
      const logits = model.forward(cond); // [B, T, V]
      const last = logits.slice([0, logits.shape[1] - 1, 0], [-1, 1, -1]).squeeze([1]); // [B, V]
      return tf.concat([out, last.argMax(-1).cast("int32").expandDims(1)], 1) as tf.Tensor2D;
    });
    out.dispose();
    out = next;
  }
  return out;
}

/**
 * Text in, text out: encodes `prompt`, generates greedily, decodes prompt and continuation. Asynchronous, so
 * that it runs on every backend (tfjs-webgpu in Node has no synchronous read): `await generateText(...)`.
 * Book: text_to_token_ids + generate_text_simple + token_ids_to_text, 4.7/5.1.
 * @param opts `maxNewTokens` (default 15), `contextSize` (default the model's context length), `tokenizer`.
 * @throws ConfigError for an empty prompt or token ids outside the model's vocabulary.
 */
export async function generateText(
  model: GPTModel,
  prompt: string,
  opts: { maxNewTokens?: number; contextSize?: number; tokenizer?: Tokenizer } = {},
): Promise<string> {
  const tokenizer = opts.tokenizer ?? getTokenizer();
  const ids = textToTokenIds(prompt, tokenizer);
  checkTokenIds(model, ids);
  const idx = tf.tensor2d([ids], [1, ids.length], "int32");
  const out = generateTextSimple(model, idx, opts.maxNewTokens ?? 15, opts.contextSize ?? model.cfg.contextLength);
  try {
    return tokenIdsToText(await out.data(), tokenizer);
  } finally {
    tf.dispose([idx, out]);
  }
}
