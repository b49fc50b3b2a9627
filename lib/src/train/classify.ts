/**
 * Section 6.8: classifying a text with the fine-tuned model.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import { getTokenizer, PAD_TOKEN_ID, type Tokenizer } from "../tokenizer";
import type { GPTModel } from "../model/gptModel";
import { lastTokenLogitsOf } from "./runner";

export interface ClassifyOptions {
  /**
   * Pad/truncate length. Default: the length the classifier was trained with
   * (`model.trainedMaxLength`, saved with it), else the supported length; always capped at the
   * supported length (the position-embedding rows).
   */
  maxLength?: number;
  /** Default: the model's saved pad id, else 50256 (`<|endoftext|>`). */
  padTokenId?: number;
}

/** A classifier model may carry the length and pad id it was trained with (loadClassifier sets them from its config). */
export type ClassifierModel = GPTModel & { trainedMaxLength?: number; padTokenId?: number };

/** The token ids classifyReview feeds the model: truncated, then right-padded to the effective max length. */
export function encodeForClassification(
  text: string,
  model: ClassifierModel,
  tokenizer: Tokenizer = getTokenizer(),
  opts: ClassifyOptions = {},
): number[] {
  if (text.trim() === "") throw new ConfigError("Cannot classify an empty text");
  if (opts.maxLength !== undefined && !(Number.isInteger(opts.maxLength) && opts.maxLength > 0)) {
    throw new ConfigError(`maxLength must be a positive integer, got ${opts.maxLength}`);
  }
  // The supported length is the number of position-embedding rows, pos_emb.weight.shape[0] (1024 for
  // GPT-2). The book's printed classify_review reads shape[1], the embedding width (768), which
  // truncates long texts for no reason; the book's repository (rasbt/LLMs-from-scratch) corrected it.
  const supported = model.param("pos_emb.weight").shape[0];
  const maxLength = Math.min(opts.maxLength ?? model.trainedMaxLength ?? supported, supported);
  let ids: number[];
  try {
    ids = tokenizer.encode(text);
  } catch (err) {
    throw new ConfigError(`Cannot tokenize the text: ${(err as Error).message}`, { cause: err });
  }
  ids = ids.slice(0, maxLength); // truncate
  const pad = opts.padTokenId ?? model.padTokenId ?? PAD_TOKEN_ID;
  while (ids.length < maxLength) ids.push(pad); // right-pad
  const vocab = model.param("tok_emb.weight").shape[0];
  const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < vocab));
  if (bad !== undefined)
    throw new ConfigError(
      `Token id ${bad} is outside the model's vocabulary of ${vocab}: this model was not trained with the GPT-2 tokenizer (or padTokenId is wrong)`,
    );
  return ids;
}

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
