/**
 * Section 6.3: the book's `SpamDataset` — every text tokenized once, truncated to `maxLength`
 * and right-padded with `<|endoftext|>` (50256).
 */
import { getTokenizer, PAD_TOKEN_ID, type Tokenizer } from "../tokenizer";
import type { LabeledText } from "./csv";
import { readSplitCsv } from "./prepare";

export interface SpamDatasetOptions {
  /** Pad/truncate length; default: the longest encoded text of this dataset (120 for the book's train split). */
  maxLength?: number;
  padTokenId?: number;
  /**
   * Right-pad every text to `maxLength` (default true). false keeps each text at its own length (truncated to
   * `maxLength` when given): the bonus experiments' `--no_padding`, which needs batches of one text.
   */
  padding?: boolean;
}

/** Tokenized texts of one split. Book: SpamDataset, 6.3. */
export class SpamDataset {
  /** Token ids per text, each exactly `maxLength` long (at most `maxLength` without padding). */
  readonly encodedTexts: Int32Array[];
  readonly labels: Int32Array;
  readonly maxLength: number;
  /** False for `padding: false` (texts of different lengths). */
  readonly padded: boolean;
  readonly texts: readonly string[];

  /**
   * @param source a split CSV path (`train.csv`) or rows already read.
   * @throws RangeError when `maxLength` is not a positive integer.
   */
  constructor(source: string | readonly LabeledText[], tokenizer: Tokenizer = getTokenizer(), opts: SpamDatasetOptions = {}) {
    const rows = typeof source === "string" ? readSplitCsv(source) : source;
    const padTokenId = opts.padTokenId ?? PAD_TOKEN_ID;
    // Like tiktoken's encode(text): special-token text in a message is an error, not a token.
    const encoded = rows.map((r) => tokenizer.encode(r.Text));
    if (opts.maxLength !== undefined && !(Number.isInteger(opts.maxLength) && opts.maxLength > 0)) {
      throw new RangeError(`maxLength must be a positive integer, got ${opts.maxLength}`);
    }
    this.maxLength = opts.maxLength ?? Math.max(0, ...encoded.map((e) => e.length));
    this.padded = opts.padding ?? true;
    this.encodedTexts = encoded.map((ids) => {
      if (!this.padded) return Int32Array.from(ids.slice(0, this.maxLength));
      const out = new Int32Array(this.maxLength).fill(padTokenId); // right padding
      out.set(ids.slice(0, this.maxLength)); // truncation
      return out;
    });
    this.labels = Int32Array.from(rows, (r) => r.Label);
    this.texts = rows.map((r) => r.Text);
  }

  get length(): number {
    return this.labels.length;
  }

  /** The longest encoded text (before padding). Book: _longest_encoded_length. */
  static longestEncodedLength(rows: readonly LabeledText[], tokenizer: Tokenizer = getTokenizer()): number {
    return Math.max(0, ...rows.map((r) => tokenizer.encode(r.Text).length));
  }
}
