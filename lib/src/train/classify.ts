/**
 * Section 6.8: classifying a text with the fine-tuned model.
 */
import * as tf from "@tensorflow/tfjs";
import { encodeForClassification, type ClassifierModel, type ClassifyOptions } from "../model/classifierInput";
import { getTokenizer, type Tokenizer } from "../tokenizer";
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

/** Like classifyReview, also returning the spam probability (softmax of the two logits). */
export function classifyWithProbability(
  text: string,
  model: ClassifierModel,
  tokenizer: Tokenizer = getTokenizer(),
  opts: ClassifyOptions = {},
): { label: "spam" | "not spam"; spamProbability: number } {
  const ids = encodeForClassification(text, model, tokenizer, opts);
  const probs = tf.tidy(() =>
    tf.softmax(lastTokenLogitsOf(model, tf.tensor2d([ids], [1, ids.length], "int32"))).dataSync(),
  );
  return { label: probs[1] > probs[0] ? "spam" : "not spam", spamProbability: probs[1] };
}
