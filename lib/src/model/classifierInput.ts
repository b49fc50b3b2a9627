/**
 * Section 6.8: the classifier's input: a text as classifyReview feeds it to the model (tokens, truncated, then
 * right-padded). Shared by classifyReview (tfjs, lib/src/train/classify.ts) and OnnxClassifier (ONNX Runtime).
 */
import { ConfigError } from "../errors";
import { PAD_TOKEN_ID, getTokenizer, type Tokenizer } from "../tokenizer";
import type { ReadoutKind } from "./gpt";
import type { GPTModel } from "./gptModel";

export interface ClassifyOptions {
  /**
   * Pad/truncate length. Default: the length the classifier was trained with
   * (`model.trainedMaxLength`, saved with it), else the supported length; always capped at the
   * supported length (the position-embedding rows).
   */
  maxLength?: number;
  /** Default: the model's saved pad id, else 50256 (`<|endoftext|>`). */
  padTokenId?: number;
  /** Right-pad to maxLength (default: the model's `padding`, else true); false only truncates (`--no_padding`). */
  padding?: boolean;
  /** Which position(s) the classifier reads (default: the model's `readout`, else the last token). */
  readout?: ReadoutKind;
  /** Causal attention mask (default: the model's `causal`, else true). */
  causal?: boolean;
}

/**
 * What the classifier's input encoding reads of a model: a GPTModel, or its weights as arrays (ArrayGpt), with
 * how it was trained: the length and pad id, and a bonus-experiment variant's readout, causal mask and padding.
 */
export interface ClassifierInputModel {
  param(name: string): { readonly shape: readonly number[] };
  trainedMaxLength?: number;
  padTokenId?: number;
  readout?: ReadoutKind;
  causal?: boolean;
  padding?: boolean;
}

/**
 * A classifier model may carry how it was trained: the length and pad id, and a bonus-experiment variant's
 * readout, causal mask and padding (loadClassifier sets them from its config).
 */
export type ClassifierModel = GPTModel & {
  trainedMaxLength?: number;
  padTokenId?: number;
  readout?: ReadoutKind;
  causal?: boolean;
  padding?: boolean;
};

/** True when a classifier reads the last token under the causal mask of padded texts (the chapter's way). */
export function readsLastToken(model: ClassifierInputModel, opts: ClassifyOptions = {}): boolean {
  return (
    (opts.readout ?? model.readout ?? "last") === "last" &&
    (opts.causal ?? model.causal ?? true) &&
    (opts.padding ?? model.padding ?? true)
  );
}

/** The token ids classifyReview feeds the model: truncated, then right-padded to the effective max length. */
export function encodeForClassification(
  text: string,
  model: ClassifierInputModel,
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
  if (opts.padding ?? model.padding ?? true) while (ids.length < maxLength) ids.push(pad); // right-pad
  const vocab = model.param("tok_emb.weight").shape[0];
  const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < vocab));
  if (bad !== undefined)
    throw new ConfigError(
      `Token id ${bad} is outside the model's vocabulary of ${vocab}: this model was not trained with the GPT-2 tokenizer (or padTokenId is wrong)`,
    );
  return ids;
}

/**
 * Checks that token ids fit the model's vocabulary (tf.gather gives no error for ids out of range).
 * @throws ConfigError naming the first id that does not fit.
 */
export function checkTokenIds(model: { readonly cfg: { readonly vocabSize: number } }, ids: readonly number[]): void {
  const bad = ids.find((t) => !(Number.isInteger(t) && t >= 0 && t < model.cfg.vocabSize));
  if (bad !== undefined)
    throw new ConfigError(
      `Token id ${bad} is outside the model's vocabulary (${model.cfg.vocabSize} tokens); these weights do not use GPT-2's tokenizer`,
    );
  if (ids.length === 0) throw new ConfigError("The prompt is empty: nothing to continue");
}
