/**
 * Section 6.2: balance the classes and split the data, exactly as the book's pandas code does.
 */
import { ConfigError } from "../errors";
import { RandomState } from "./random";
import type { SmsRow } from "./tsv";
import type { LabeledText } from "./csv";

/**
 * Undersamples "ham" to the number of "spam" messages: `df[df.Label == "ham"].sample(num_spam,
 * random_state=123)` followed by all spam rows in file order. Rows keep their original index.
 * Book: create_balanced_dataset, 6.2.
 */
export function createBalancedDataset(rows: readonly SmsRow[], seed = 123): SmsRow[] {
  const ham = rows.filter((r) => r.Label === "ham");
  const spam = rows.filter((r) => r.Label === "spam");
  const picked = new RandomState(seed).choiceWithoutReplacement(ham.length, spam.length);
  return [...picked.map((i) => ham[i]), ...spam];
}

/** The book's label mapping: `{"ham": 0, "spam": 1}`. */
export const LABEL_MAP: Readonly<Record<string, number>> = { ham: 0, spam: 1 };
/** The book's class names for predictions: 1 → "spam", 0 → "not spam". */
export const CLASS_NAMES = ["not spam", "spam"] as const;

/** Maps "ham"/"spam" to 0/1 (`df["Label"].map({"ham": 0, "spam": 1})`). */
export function mapLabels(rows: readonly SmsRow[]): LabeledText[] {
  return rows.map((r) => {
    const label = LABEL_MAP[r.Label];
    if (label === undefined) throw new RangeError(`Unknown label "${r.Label}" in row ${r.index}`);
    return { Label: label, Text: r.Text };
  });
}

export interface Splits<T> { train: T[]; validation: T[]; test: T[] }

/** `df.sample(frac=1, random_state=seed).reset_index(drop=True)`: every row once, in NumPy's permutation order. */
export function shuffleRows<T>(rows: readonly T[], seed = 123): T[] {
  return new RandomState(seed).permutation(rows.length).map((i) => rows[i]);
}

/**
 * Shuffles (`df.sample(frac=1, random_state=123).reset_index(drop=True)`) and splits into
 * train/validation/test with `int(len * trainFrac)` and `int(len * validationFrac)` rows.
 * Book: random_split, 6.2 (1,494 rows → 1045 / 149 / 300).
 */
export function randomSplit<T>(rows: readonly T[], trainFrac = 0.7, validationFrac = 0.1, seed = 123): Splits<T> {
  const shuffled = shuffleRows(rows, seed);
  const trainEnd = Math.floor(rows.length * trainFrac);
  const validationEnd = trainEnd + Math.floor(rows.length * validationFrac);
  return { train: shuffled.slice(0, trainEnd), validation: shuffled.slice(trainEnd, validationEnd), test: shuffled.slice(validationEnd) };
}

/**
 * Which split of the balanced data: the chapter's (section 6.2), or the one the bonus experiments script
 * makes (ch06/02_bonus_additional-experiments, whose 19-row table was measured on it).
 */
export const DATA_SPLITS = ["chapter", "bonus"] as const;
export type DataSplit = (typeof DATA_SPLITS)[number];

/** Checks a split name (the CLI's `--split`). @throws ConfigError for anything else */
export function checkDataSplit(v: string): DataSplit {
  if (!(DATA_SPLITS as readonly string[]).includes(v))
    throw new ConfigError(`--split must be ${DATA_SPLITS.join(" or ")}, got "${v}"`);
  return v as DataSplit;
}

/**
 * Splits the balanced, label-mapped rows the chapter's way (random_split), or the bonus script's way: its
 * create_dataset_csvs shuffles the balanced frame once more (`sample(frac=1, random_state=123)
 * .reset_index(drop=True)`) before the same random_split shuffles it again.
 */
export function splitDataset<T>(balanced: readonly T[], split: DataSplit = "chapter"): Splits<T> {
  return randomSplit(split === "bonus" ? shuffleRows(balanced, 123) : balanced, 0.7, 0.1);
}
