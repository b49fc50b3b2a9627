/** The three datasets of the chapter (subsets for the quick plan), tokenized like the book (max length 120). */
import { readSplitCsv, SpamDataset } from "llm-spam-classifier";
import { splitPaths } from "llm-spam-classifier/data";
import type { ChapterPlan } from "./plan";

export interface Splits {
  train: SpamDataset;
  validation: SpamDataset;
  test: SpamDataset;
}

/** Reads train/validation/test CSVs from `dataDir`; val/test use the full training set's max length. */
export function loadSplits(dataDir: string, plan: ChapterPlan): Splits {
  const paths = splitPaths(dataDir);
  const rows = {
    train: readSplitCsv(paths.train),
    validation: readSplitCsv(paths.validation),
    test: readSplitCsv(paths.test),
  };
  const maxLength = new SpamDataset(rows.train).maxLength;
  const take = <T>(xs: T[], n?: number) => (n === undefined ? xs : xs.slice(0, n));
  return {
    train: new SpamDataset(take(rows.train, plan.trainRows), undefined, { maxLength }),
    validation: new SpamDataset(take(rows.validation, plan.valRows), undefined, { maxLength }),
    test: new SpamDataset(take(rows.test, plan.testRows), undefined, { maxLength }),
  };
}
