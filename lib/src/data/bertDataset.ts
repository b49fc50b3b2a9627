/**
 * Texts and labels tokenized once for BERT (the IMDb chapter's `dataset.map(tokenize)`): `[CLS] … [SEP]`,
 * truncated to `maxLength`, right-padded with [PAD] to one length for the whole set, so that the book's
 * DataLoader batches it as it batches a SpamDataset (same fields) and a BERT runner trains on it with one
 * compiled graph per batch size.
 */
import type { BertTokenizer } from "../bertTokenizer";
import { ConfigError } from "../errors";

/** Options of `BertDataset`. */
export interface BertDatasetOptions {
  /** Longest encoding, [CLS] and [SEP] included (default 512). */
  maxLength?: number;
  /**
   * "max_length" (default): every text padded to maxLength (the prompt-tuning chapter's); "longest": to the longest
   * encoding of this set (transformers' `padding=True` per batch, here per set: one length for every batch).
   */
  padding?: "max_length" | "longest";
}

/** A labelled text set for BERT, in the shape DataLoader reads (`encodedTexts`, `labels`, `length`). */
export class BertDataset {
  /** Token ids per text, each `maxLength` long. */
  readonly encodedTexts: Int32Array[];
  readonly labels: Int32Array;
  /** The padded length. */
  readonly maxLength: number;
  readonly padded = true;
  readonly texts: readonly string[];

  /** @throws ConfigError for texts and labels of different counts or a label that is not an integer */
  constructor(texts: readonly string[], labels: ArrayLike<number>, tokenizer: BertTokenizer, opts: BertDatasetOptions = {}) {
    if (texts.length !== labels.length)
      throw new ConfigError(`${texts.length} texts but ${labels.length} labels`);
    const bad = Array.from(labels).find((l) => !Number.isInteger(l));
    if (bad !== undefined) throw new ConfigError(`Label ${bad} is not an integer class id`);
    const enc = tokenizer.encodeBatch(texts, { maxLength: opts.maxLength ?? 512, padding: opts.padding ?? "max_length" });
    this.maxLength = enc.seqLen;
    this.encodedTexts = texts.map((_, i) => enc.inputIds.slice(i * enc.seqLen, (i + 1) * enc.seqLen));
    this.labels = Int32Array.from(labels);
    this.texts = texts;
  }

  get length(): number {
    return this.labels.length;
  }
}
