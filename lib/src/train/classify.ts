/**
 * Section 6.8: classifying a text with the fine-tuned model.
 */
import * as tf from "@tensorflow/tfjs";
import {
  encodeForClassification,
  readsLastToken,
  type ClassifierModel,
  type ClassifyOptions,
} from "../model/classifierInput";
import { readoutOf, readoutWeights } from "../model/gpt";
import { getTokenizer, PAD_TOKEN_ID, type Tokenizer } from "../tokenizer";
import { lastTokenLogitsOf } from "./runner";

/**
 * Predicts "spam" or "not spam" from the last token's logits of the right-padded text.
 * Book: classify_review(text, model, tokenizer, device, max_length, pad_token_id), 6.8 — except that a
 * missing maxLength means the trained length (the book raises a TypeError there).
 * @throws ConfigError for an empty or untokenizable text or a bad maxLength.
 */
export function classifyReview(
  text: string,
  model: ClassifierModel,
  tokenizer: Tokenizer = getTokenizer(),
  opts: ClassifyOptions = {},
): "spam" | "not spam" {
  return classifyWithProbability(text, model, tokenizer, opts).label;
}

/** classifyReview with an asynchronous read: the same label, on every backend (WebGPU in Node included). */
export async function classifyReviewAsync(
  text: string,
  model: ClassifierModel,
  tokenizer: Tokenizer = getTokenizer(),
  opts: ClassifyOptions = {},
): Promise<"spam" | "not spam"> {
  return (await classifyWithProbabilityAsync(text, model, tokenizer, opts)).label;
}

/** Like classifyReview, also returning the spam probability (softmax of the two logits). */
export function classifyWithProbability(
  text: string,
  model: ClassifierModel,
  tokenizer: Tokenizer = getTokenizer(),
  opts: ClassifyOptions = {},
): { label: "spam" | "not spam"; spamProbability: number } {
  return classifyEncoded(encodeForClassification(text, model, tokenizer, opts), model, opts);
}

/**
 * classifyWithProbability with an asynchronous read: the same answer, on every backend (WebGPU in Node has no
 * synchronous read).
 */
export async function classifyWithProbabilityAsync(
  text: string,
  model: ClassifierModel,
  tokenizer: Tokenizer = getTokenizer(),
  opts: ClassifyOptions = {},
): Promise<{ label: "spam" | "not spam"; spamProbability: number }> {
  const t = probabilities(encodeForClassification(text, model, tokenizer, opts), model, opts);
  const probs = await t.data();
  t.dispose();
  return { label: probs[1] > probs[0] ? "spam" : "not spam", spamProbability: probs[1] };
}

/**
 * Classifies token ids as `encodeForClassification` makes them (truncated, padded): what classifyWithProbability
 * runs after encoding. The occlusion explanation (explain.ts) feeds it texts with one token taken out.
 */
export function classifyEncoded(
  ids: readonly number[],
  model: ClassifierModel,
  opts: ClassifyOptions = {},
): { label: "spam" | "not spam"; spamProbability: number } {
  const t = probabilities(ids, model, opts);
  const probs = t.dataSync();
  t.dispose();
  return { label: probs[1] > probs[0] ? "spam" : "not spam", spamProbability: probs[1] };
}

/** The softmax of the encoded text's logits [1, 2] (the caller disposes it). */
function probabilities(ids: readonly number[], model: ClassifierModel, opts: ClassifyOptions): tf.Tensor {
  const kind = opts.readout ?? model.readout ?? "last";
  return tf.tidy(() => {
    const x = tf.tensor2d([[...ids]], [1, ids.length], "int32");
    // A bonus-experiment variant reads as it was trained: its readout and causal mask (model.readout/causal).
    const logits = readsLastToken(model, { ...opts, padding: true })
      ? lastTokenLogitsOf(model, x)
      : model.classifierLogits(x, {
          readout: readoutOf(kind, () => {
            const pad = opts.padTokenId ?? model.padTokenId ?? PAD_TOKEN_ID;
            return tf.tensor2d(readoutWeights(kind, [...ids], 1, { padTokenId: pad })!, [1, ids.length]);
          }),
          causal: opts.causal ?? model.causal ?? true,
        });
    return tf.softmax(logits);
  });
}
