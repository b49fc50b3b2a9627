/**
 * The book's additional experiments (ch06/02_bonus_additional-experiments/README.md) as data: its 19 rows,
 * each with the book's flags, the book's accuracies and our fine-tuning options. No tfjs: the CLI's help and
 * row parsing read it without loading a model (experiments.ts runs the rows).
 */
import { ConfigError } from "../errors";
import type { FinetuneDataset, FinetuneOptions, FinetuneVariant } from "./finetune";
import type { LoraOptions } from "./lora";

/**
 * A row's fine-tuning options: the fields of FinetuneOptions the experiments set (FinetuneVariant documents
 * each with the book's flag of additional_experiments.py beside it). A row passes them to finetuneClassifier
 * unchanged.
 */
export type ExperimentOptions = Pick<FinetuneOptions, "weights" | "split" | "lora"> & FinetuneVariant;

/** Train / validation / test accuracy in percent, and minutes, as the book's README prints them (A100). */
export interface BookResult {
  train: number;
  val: number;
  test: number;
  minutes: number;
}

/** One row of the book's table. */
export interface ExperimentRow {
  row: number;
  /** The variant in a few words. */
  name: string;
  /** The flags of additional_experiments.py for this row ("" for the default). */
  bookFlags: string;
  book: BookResult;
  options: ExperimentOptions;
  /** Why this project cannot run the row at all (yet). */
  needs?: string;
}

/** The bonus script's LoRA (not appendix E's): `alpha · x A B`, lr 5e-5, the new head trainable and wrapped too. */
const bonusLora = (alpha: number): LoraOptions => ({ rank: 16, alpha, scaling: "alpha", head: "trainable", lr: 5e-5 });

/** The book's 19 rows (ch06/02_bonus_additional-experiments/README.md), in its order. */
export const EXPERIMENTS: readonly ExperimentRow[] = [
  {
    row: 1,
    name: "default (last block, last token)",
    bookFlags: "",
    book: { train: 96.63, val: 99.33, test: 95.0, minutes: 0.28 },
    options: {},
  },
  {
    row: 2,
    name: "first token",
    bookFlags: "--trainable_token_pos first",
    book: { train: 78.46, val: 80.54, test: 75.0, minutes: 0.28 },
    options: { readout: "first" },
  },
  {
    row: 3,
    name: "head only",
    bookFlags: "--trainable_layers last_layer",
    book: { train: 78.65, val: 79.87, test: 72.0, minutes: 0.25 },
    options: { trainable: "last-layer" },
  },
  {
    row: 4,
    name: "last two blocks",
    bookFlags: "--trainable_layers last_two_blocks",
    book: { train: 98.85, val: 98.66, test: 98.33, minutes: 0.33 },
    options: { trainable: "last-two-blocks" },
  },
  {
    row: 5,
    name: "all layers",
    bookFlags: "--trainable_layers all",
    book: { train: 99.62, val: 96.64, test: 96.67, minutes: 0.69 },
    options: { trainable: "all" },
  },
  {
    row: 6,
    name: "355M",
    bookFlags: '--model_size "gpt2-medium (355M)"',
    book: { train: 87.5, val: 91.28, test: 84.67, minutes: 0.75 },
    options: { weights: "355M" },
  },
  {
    row: 7,
    name: "774M",
    bookFlags: '--model_size "gpt2-large (774M)"',
    book: { train: 99.52, val: 98.66, test: 96.67, minutes: 1.5 },
    options: { weights: "774M" },
  },
  {
    row: 8,
    name: "1558M",
    bookFlags: '--model_size "gpt2-xl (1558M)"',
    book: { train: 99.81, val: 99.81, test: 98.33, minutes: 2.83 },
    options: { weights: "1558M" },
  },
  {
    row: 9,
    name: "1558M, all layers",
    bookFlags: '--model_size "gpt2-xl (1558M)" --trainable_layers all',
    book: { train: 100.0, val: 98.66, test: 98.67, minutes: 8.12 },
    options: { weights: "1558M", trainable: "all" },
  },
  {
    row: 10,
    name: "random weights, all layers",
    bookFlags: "--weights random --trainable_layers all",
    book: { train: 100.0, val: 96.64, test: 93.67, minutes: 0.69 },
    options: { initWeights: "random", trainable: "all" },
  },
  {
    row: 11,
    name: "LoRA r16 α16",
    bookFlags: "--trainable_layers lora --lora_rank 16 --lora_alpha 16",
    book: { train: 100.0, val: 97.32, test: 96.67, minutes: 0.75 },
    options: { lora: bonusLora(16) },
  },
  {
    row: 12,
    name: "1558M, LoRA r16 α8",
    bookFlags: '--trainable_layers lora --lora_rank 16 --lora_alpha 8 --model_size "gpt2-xl (1558M)"',
    book: { train: 100.0, val: 98.66, test: 98.33, minutes: 5.79 },
    options: { weights: "1558M", lora: bonusLora(8) },
  },
  {
    row: 13,
    name: "context 1024",
    bookFlags: '--context_length "model_context_length"',
    book: { train: 83.08, val: 87.92, test: 78.33, minutes: 2.46 },
    options: { contextLength: "model" },
  },
  {
    row: 14,
    name: "no padding, batch 1",
    bookFlags: "--no_padding --batch_size 1",
    book: { train: 100.0, val: 98.66, test: 98.0, minutes: 1.75 },
    options: { padding: false, batchSize: 1 },
  },
  {
    row: 15,
    name: "no padding, batch 1, accumulation 8",
    bookFlags: "--no_padding --batch_size 1 --accumulation_steps 8",
    book: { train: 99.33, val: 98.66, test: 98.33, minutes: 1.7 },
    options: { padding: false, batchSize: 1, accumulationSteps: 8 },
  },
  {
    row: 16,
    name: "last real token",
    bookFlags: '--trainable_token_pos "flexible"',
    book: { train: 99.42, val: 98.66, test: 98.33, minutes: 0.3 },
    options: { readout: "flexible" },
  },
  {
    row: 17,
    name: "no causal mask",
    bookFlags: "--disable_causal_mask",
    book: { train: 99.23, val: 98.66, test: 95.33, minutes: 0.29 },
    options: { causalMask: false },
  },
  {
    row: 18,
    name: "ignore_index 50256",
    bookFlags: "--ignore_index 50256",
    book: { train: 96.63, val: 99.33, test: 95.0, minutes: 0.28 },
    options: { ignoreIndex: 50256 },
  },
  {
    row: 19,
    name: "mean of the outputs",
    bookFlags: "--average_embeddings",
    book: { train: 97.79, val: 99.33, test: 96.33, minutes: 0.32 },
    options: { readout: "mean" },
  },
];

/** The three quick rows of smoke mode (tiny model, a few steps): the default, the head only, every layer. */
export const SMOKE_ROWS: readonly number[] = [1, 3, 5];

const NEEDS_BERT = "a BERT-family model (train_bert_hf.py); the experiments command fine-tunes GPT-2 rows only";

/**
 * The IMDb bonus's table (ch06/03_bonus_imdb-classification/README.md): accuracies from each run's own log (the
 * summary table swaps RoBERTa's and DeBERTa-v3's test accuracies), all 1 epoch on the 35,000 / 5,000 / 10,000 split.
 * Only the GPT-2 row is fine-tuned by this command; the others are listed for comparison.
 */
export const IMDB_EXPERIMENTS: readonly ExperimentRow[] = [
  {
    row: 1,
    name: "GPT-2 124M, every layer",
    bookFlags: '--trainable_layers "all" --num_epochs 1',
    book: { train: 95.64, val: 92.32, test: 91.88, minutes: 9.48 },
    options: { trainable: "all" },
  },
  {
    row: 2,
    name: "GPT-2 124M, last block (train_gpt.py's default)",
    bookFlags: "",
    book: { train: NaN, val: NaN, test: NaN, minutes: NaN },
    options: {},
  },
  ...(
    [
      [3, "BERT (bert-base-uncased)", '--model "bert"', 94.35, 90.74, 90.89, 7.65],
      [4, "DistilBERT", '--model "distilbert"', 95.3, 91.12, 91.4, 4.26],
      [
        5,
        "RoBERTa large (last block)",
        '--trainable_layers "last_block" --model "roberta"',
        96.23,
        94.52,
        94.69,
        11.22,
      ],
      [6, "DeBERTa-v3 base", '--model "deberta-v3-base"', 93.44, 93.02, 92.95, 7.2],
      [7, "ModernBERT base", '--model "modernbert-base"', 95.72, 94.0, 93.79, 10.27],
      [8, "ModernBERT large", '--model "modernbert-large"', 97.04, 95.3, 95.07, 27.69],
    ] as const
  ).map(([row, name, bookFlags, train, val, test, minutes]) => ({
    row,
    name,
    bookFlags,
    book: { train, val, test, minutes },
    options: {},
    needs: NEEDS_BERT,
  })),
  {
    row: 9,
    name: "logistic regression (bag of words)",
    bookFlags: "train_sklearn_logreg.py",
    book: { train: 99.8, val: 88.62, test: 88.85, minutes: NaN },
    options: {},
    needs: "scikit-learn's CountVectorizer + LogisticRegression (train_sklearn_logreg.py), not a GPT-2 run",
  },
];

/** Smoke mode's IMDb rows: GPT-2 with every layer and with the last block. */
export const IMDB_SMOKE_ROWS: readonly number[] = [1, 2];

/** The table of a data set: the SMS experiments (ch06/02) or the IMDb bonus's (ch06/03). */
export function experimentTable(dataset: FinetuneDataset = "sms"): readonly ExperimentRow[] {
  return dataset === "imdb" ? IMDB_EXPERIMENTS : EXPERIMENTS;
}

/** Looks a row up. @throws ConfigError for a number outside the table (1–19; 1–9 for IMDb) */
export function experimentRow(n: number, dataset: FinetuneDataset = "sms"): ExperimentRow {
  const table = experimentTable(dataset);
  const row = table.find((r) => r.row === n);
  if (!row)
    throw new ConfigError(
      `There is no experiment row ${n}; the ${dataset === "imdb" ? "IMDb bonus's" : "book's"} table has rows 1–${table.length}`,
    );
  return row;
}

/** Parses `--rows 1,2,4` (ranges too: `1-5,10`). @throws ConfigError for anything else */
export function parseRows(spec: string, dataset: FinetuneDataset = "sms"): number[] {
  const rows = new Set<number>();
  for (const part of spec.split(",").map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new ConfigError(`--rows takes row numbers like 1,2,4 or 1-5, got "${spec}"`);
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    for (let n = Math.min(a, b); n <= Math.max(a, b); n++) rows.add(experimentRow(n, dataset).row);
  }
  return [...rows].sort((x, y) => x - y);
}
