/**
 * Section 6.2: balance the classes and split the data, exactly as the book's pandas code does.
 */
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

/**
 * Shuffles (`df.sample(frac=1, random_state=123).reset_index(drop=True)`) and splits into
 * train/validation/test with `int(len * trainFrac)` and `int(len * validationFrac)` rows.
 * Book: random_split, 6.2 (1,494 rows → 1045 / 149 / 300).
 */
export function randomSplit<T>(rows: readonly T[], trainFrac = 0.7, validationFrac = 0.1, seed = 123): Splits<T> {
  const order = new RandomState(seed).permutation(rows.length);
  const shuffled = order.map((i) => rows[i]);
  const trainEnd = Math.floor(rows.length * trainFrac);
  const validationEnd = trainEnd + Math.floor(rows.length * validationFrac);
  return { train: shuffled.slice(0, trainEnd), validation: shuffled.slice(trainEnd, validationEnd), test: shuffled.slice(validationEnd) };
}
