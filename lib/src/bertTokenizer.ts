/**
 * BERT's WordPiece tokenizer (uncased: lower case, accents stripped, punctuation and CJK characters split,
 * `##` continuations, [UNK] for words it cannot spell) through Hugging Face's own JavaScript tokenizers
 * (`@huggingface/tokenizers`, reading tokenizer.json offline; a vocab.txt alone becomes the tokenizer.json
 * that BertTokenizerFast builds from it). Encoding follows transformers' `tokenizer(texts, truncation=True,
 * max_length=…, padding=…)`: `[CLS] … [SEP]`, truncation of the text to `maxLength − 2` tokens, right padding
 * with [PAD] and an attention mask of 1s and 0s.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { ConfigError, DataFormatError } from "./errors";

const SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

/** tokenizer.json for a WordPiece vocabulary, as BertTokenizerFast builds it (uncased by default). */
export function bertTokenizerJson(
  vocab: readonly string[],
  opts: { lowercase?: boolean } = {},
): Record<string, unknown> {
  const ids = new Map(vocab.map((w, i) => [w, i]));
  for (const s of SPECIALS) if (!ids.has(s)) throw new DataFormatError(`The vocabulary has no ${s} token`);
  const lowercase = opts.lowercase ?? true;
  const special = (t: string) => ({ id: t, type_id: 0 });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content) => ({
      id: ids.get(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: special("[CLS]") },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: special("[SEP]") },
      ],
      pair: [
        { SpecialToken: special("[CLS]") },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: special("[SEP]") },
        { Sequence: { id: "B", type_id: 1 } },
        { SpecialToken: { id: "[SEP]", type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(["[CLS]", "[SEP]"].map((t) => [t, { id: t, ids: [ids.get(t)], tokens: [t] }])),
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(ids),
    },
  };
}

/** Options of `encodeBatch`, transformers' keyword arguments. */
export interface BertEncodeOptions {
  /** Longest encoding, [CLS] and [SEP] included (default 512, bert-base-uncased's `model_max_length`). */
  maxLength?: number;
  /** Cut texts to fit maxLength (default true). */
  truncation?: boolean;
  /** "longest" (transformers' `padding=True`), "max_length" (default, the prompt-tuning chapter's) or false. */
  padding?: "longest" | "max_length" | false;
}

/** A padded batch: ids and attention mask, row-major [batchSize, seqLen]. */
export interface BertEncodedBatch {
  readonly inputIds: Int32Array;
  readonly attentionMask: Float32Array;
  readonly batchSize: number;
  readonly seqLen: number;
}

/** BERT's tokenizer. Create with `BertTokenizer.fromVocab`, `fromTokenizerJson` or `fromDir`. */
export class BertTokenizer {
  readonly padId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly unkId: number;

  private constructor(
    private readonly tok: Tokenizer,
    readonly vocabSize: number,
  ) {
    const id = (t: string) => {
      const v = tok.token_to_id(t);
      if (v === undefined) throw new DataFormatError(`The tokenizer has no ${t} token`);
      return v;
    };
    [this.padId, this.clsId, this.sepId, this.unkId] = [id("[PAD]"), id("[CLS]"), id("[SEP]"), id("[UNK]")];
  }

  /** From vocab.txt's lines (one token per line, the id is the line number). */
  static fromVocab(vocab: readonly string[], opts: { lowercase?: boolean } = {}): BertTokenizer {
    const words = vocab.length && vocab[vocab.length - 1] === "" ? vocab.slice(0, -1) : vocab;
    return new BertTokenizer(
      new Tokenizer(bertTokenizerJson(words, opts), { do_lower_case: opts.lowercase ?? true }),
      words.length,
    );
  }

  /** From a parsed tokenizer.json (and tokenizer_config.json, if any). */
  static fromTokenizerJson(json: Record<string, unknown>, config: Record<string, unknown> = {}): BertTokenizer {
    const model = json.model as { vocab?: Record<string, number> } | undefined;
    if (!model?.vocab || typeof model.vocab !== "object")
      throw new DataFormatError("tokenizer.json has no model.vocab");
    return new BertTokenizer(new Tokenizer(json, config), Object.keys(model.vocab).length);
  }

  /**
   * From a model folder: tokenizer.json when present, else vocab.txt.
   * @throws ConfigError when the folder has neither; DataFormatError for a malformed file
   */
  static fromDir(dir: string): BertTokenizer {
    const json = path.join(dir, "tokenizer.json"),
      vocab = path.join(dir, "vocab.txt");
    if (fs.existsSync(json)) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(fs.readFileSync(json, "utf8")) as Record<string, unknown>;
      } catch (err) {
        throw new DataFormatError(`${json} is not valid JSON`, { cause: err });
      }
      return BertTokenizer.fromTokenizerJson(parsed);
    }
    if (fs.existsSync(vocab)) return BertTokenizer.fromVocab(fs.readFileSync(vocab, "utf8").split(/\r?\n/));
    throw new ConfigError(`${dir} has neither tokenizer.json nor vocab.txt`);
  }

  /** WordPiece tokens of a text (no [CLS]/[SEP]). */
  tokenize(text: string): string[] {
    return this.tok.tokenize(text);
  }

  /**
   * The ids of one text: `[CLS] … [SEP]`, cut to `maxLength` (default 512) with truncation, no padding.
   * @throws ConfigError for a maxLength below 2
   */
  encode(text: string, opts: Omit<BertEncodeOptions, "padding"> = {}): number[] {
    const maxLength = opts.maxLength ?? 512;
    if (!(Number.isInteger(maxLength) && maxLength >= 2))
      throw new ConfigError(`maxLength must be an integer of at least 2 ([CLS] and [SEP]), got ${maxLength}`);
    let ids = this.tok.encode(text, { add_special_tokens: false }).ids;
    if (opts.truncation ?? true) ids = ids.slice(0, maxLength - 2);
    return [this.clsId, ...ids, this.sepId];
  }

  /** A batch of texts, padded on the right with [PAD] (see BertEncodeOptions), with its attention mask. */
  encodeBatch(texts: readonly string[], opts: BertEncodeOptions = {}): BertEncodedBatch {
    const rows = texts.map((t) => this.encode(t, opts));
    const padding = opts.padding ?? "max_length";
    const longest = Math.max(0, ...rows.map((r) => r.length));
    const T = padding === "max_length" ? Math.max(opts.maxLength ?? 512, longest) : longest;
    if (padding === false && rows.some((r) => r.length !== T))
      throw new ConfigError("Texts of different lengths need padding to form one batch");
    const inputIds = new Int32Array(rows.length * T).fill(this.padId);
    const attentionMask = new Float32Array(rows.length * T);
    rows.forEach((r, b) => {
      inputIds.set(r, b * T);
      attentionMask.fill(1, b * T, b * T + r.length);
    });
    return { inputIds, attentionMask, batchSize: rows.length, seqLen: T };
  }

  /** Text of ids ([CLS], [SEP] and [PAD] left out unless `skipSpecialTokens` is false). */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.tok.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }
}
