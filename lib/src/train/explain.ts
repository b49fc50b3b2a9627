/**
 * Why a text was classified as it was, by occlusion: take each token out of the text in turn, classify what is
 * left, and report how much the spam probability drops (or rises). A token whose removal lowers the spam
 * probability pushed the text toward spam. It needs no gradients and runs on any engine (ONNX Runtime or tfjs):
 * n + 1 forward passes for a text of n tokens.
 *
 * Only the tokens the classifier reads are scored: the text is truncated to the trained length first, exactly
 * as `classifyReview` truncates it, and each occluded copy is padded back to that length.
 */
import { ConfigError } from "../errors";
import { encodeForClassification, type ClassifierInputModel, type ClassifyOptions } from "../model/classifierInput";
import { getTokenizer, PAD_TOKEN_ID, type Tokenizer } from "../tokenizer";

/** A label and spam probability (the shape of `classifyWithProbability`'s and `OnnxClassifier`'s results). */
export interface ScoredText {
  label: "spam" | "not spam";
  spamProbability: number;
}

/** One token of the explained text. */
export interface TokenInfluence {
  id: number;
  /** The token decoded on its own (a character split over two tokens shows as U+FFFD in each). */
  text: string;
  /** Spam probability with the token minus without it: > 0 pushed toward spam, < 0 toward not spam. */
  influence: number;
}

/** Result of `explainByOcclusion`. */
export interface Explanation extends ScoredText {
  method: "occlusion";
  tokens: TokenInfluence[];
  /** Tokens past the trained length: the classifier never reads them, so they get no score. */
  truncatedTokens: number;
}

/**
 * Explains a classification by occlusion (see the file comment).
 * @param classifyRows classifies rows of token ids, each as `encodeForClassification` makes them (one batch)
 * @param model the classifier's input settings: trained length, pad id, padding
 * @param opts as for classifyReview, and `maxTokens`: the most tokens to explain (the work grows with their number)
 * @throws ConfigError for an empty or untokenizable text, or more tokens than `maxTokens`
 */
export async function explainByOcclusion(
  text: string,
  model: ClassifierInputModel,
  classifyRows: (rows: number[][]) => Promise<ScoredText[]>,
  tokenizer: Tokenizer = getTokenizer(),
  opts: ClassifyOptions & { maxTokens?: number } = {},
): Promise<Explanation> {
  const full = encodeForClassification(text, model, tokenizer, opts); // truncated and padded
  const all = tokenizer.encode(text);
  const n = Math.min(all.length, full.length);
  if (n === 0) throw new ConfigError("Cannot explain an empty text");
  if (opts.maxTokens !== undefined && n > opts.maxTokens)
    throw new ConfigError(
      `Explaining takes one forward pass per token: at most ${opts.maxTokens} tokens, and this text has ${n}. Explain a shorter part of it.`,
    );
  const ids = full.slice(0, n);
  const pad = opts.padTokenId ?? model.padTokenId ?? PAD_TOKEN_ID;
  const padded = opts.padding ?? model.padding ?? true;
  // Row 0: the text itself; row i + 1: the text without token i (padded back to the same length).
  const rows = [full];
  for (let i = 0; i < n; i++) {
    const row = [...ids.slice(0, i), ...ids.slice(i + 1)];
    if (padded) while (row.length < full.length) row.push(pad);
    else if (row.length === 0) row.push(pad); // the only token taken out: nothing but padding is left
    rows.push(row);
  }
  const scores = await classifyRows(rows);
  const base = scores[0];
  return {
    method: "occlusion",
    label: base.label,
    spamProbability: base.spamProbability,
    tokens: ids.map((id, i) => ({
      id,
      text: tokenizer.decode([id]),
      influence: base.spamProbability - scores[i + 1].spamProbability,
    })),
    truncatedTokens: all.length - n,
  };
}
