/**
 * Section 6.8: classifying a text with the fine-tuned model.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import { getTokenizer, PAD_TOKEN_ID, type Tokenizer } from "../tokenizer";
import type { GPTModel } from "../model/gptModel";
import { lastTokenLogitsOf } from "./runner";

export interface ClassifyOptions {
  /** Pad/truncate length; default: the length the classifier was trained with (`model.trainedMaxLength`), capped at the supported length. */
  maxLength?: number;
  padTokenId?: number;
}

/** A classifier model may carry the length it was trained with (saved in its config.json). */
export type ClassifierModel = GPTModel & { trainedMaxLength?: number };

/**
 * Predicts "spam" or "not spam" from the last token's logits of the right-padded text.
 * The supported context length is the position-embedding table's row count (the book's first
 * version read the wrong dimension, its issue #371).
 * Book: classify_review, 6.8. @throws ConfigError for an empty text or a bad maxLength.
 */
export function classifyReview(text: string, model: ClassifierModel, tokenizer: Tokenizer = getTokenizer(), opts: ClassifyOptions = {}): "spam" | "not spam" {
  return classifyWithProbability(text, model, tokenizer, opts).label;
}

/** Like classifyReview, also returning the spam probability (softmax of the two logits). */
export function classifyWithProbability(text: string, model: ClassifierModel, tokenizer: Tokenizer = getTokenizer(), opts: ClassifyOptions = {}): { label: "spam" | "not spam"; spamProbability: number } {
  if (text.trim() === "") throw new ConfigError("Cannot classify an empty text");
  const supported = model.param("pos_emb.weight").shape[0]!;
  const maxLength = Math.min(opts.maxLength ?? model.trainedMaxLength ?? supported, supported);
  if (!(Number.isInteger(maxLength) && maxLength > 0)) throw new ConfigError(`maxLength must be a positive integer, got ${opts.maxLength}`);
  const ids = tokenizer.encode(text).slice(0, maxLength); // truncate
  while (ids.length < maxLength) ids.push(opts.padTokenId ?? PAD_TOKEN_ID); // right-pad
  const probs = tf.tidy(() => tf.softmax(lastTokenLogitsOf(model, tf.tensor2d([ids], [1, maxLength], "int32"))).dataSync());
  const spamProbability = probs[1];
  return { label: probs[1] > probs[0] ? "spam" : "not spam", spamProbability };
}
