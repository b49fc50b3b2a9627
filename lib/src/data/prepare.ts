/**
 * Section 6.2 in one idempotent call: download (if needed), read like pandas, balance, map labels,
 * split and write `train.csv`, `validation.csv`, `test.csv` (byte-identical to the book's).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError } from "../errors";
import { writeFileAtomic } from "../util/atomic";
import { downloadAndUnzipSpamData, ensureDataDir, type DownloadSpamOptions } from "./download";
import { readSmsSpamFile } from "./tsv";
import { createBalancedDataset, mapLabels, splitDataset, type DataSplit, type Splits } from "./balance";
import { formatCsv, parseCsv, type LabeledText } from "./csv";

export const SPLIT_NAMES = ["train", "validation", "test"] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

export interface SplitFile {
  name: SplitName;
  path: string;
  rows: number;
  /** Rows per label: `{0: ham, 1: spam}`. */
  labelCounts: { 0: number; 1: number };
  sha256: string;
}

export interface PreparedSpamData {
  /** The extracted `SMSSpamCollection.tsv`. */
  dataFilePath: string;
  split: DataSplit;
  files: Record<SplitName, SplitFile>;
}

/**
 * The folder of a split's CSVs: `dataDir` itself for the chapter's, `<dataDir>/bonus-split` for the bonus
 * script's, so that neither overwrites the other.
 */
export function splitDir(dataDir: string, split: DataSplit = "chapter"): string {
  return split === "chapter" ? dataDir : path.join(dataDir, `${split}-split`);
}

/** Paths of the three CSV files under `dataDir` (the chapter's split; `splitPaths(splitDir(dataDir, split))` for another). */
export function splitPaths(dataDir: string): Record<SplitName, string> {
  return { train: path.join(dataDir, "train.csv"), validation: path.join(dataDir, "validation.csv"), test: path.join(dataDir, "test.csv") };
}

/**
 * Reads one split CSV (`pd.read_csv`).
 * @throws DataFormatError when the file is missing or is not a `Label,Text` CSV.
 */
export function readSplitCsv(file: string): LabeledText[] {
  if (!fs.existsSync(file)) throw new DataFormatError(`${file} does not exist; run \`npm start -- data\` (or prepareSpamData) first`);
  return parseCsv(fs.readFileSync(file, "utf8"), path.basename(file));
}

function describeFile(name: SplitName, file: string): SplitFile {
  const bytes = fs.readFileSync(file);
  const rows = parseCsv(bytes.toString("utf8"), path.basename(file));
  const spam = rows.filter((r) => r.Label === 1).length;
  return { name, path: file, rows: rows.length, labelCounts: { 0: rows.length - spam, 1: spam }, sha256: crypto.createHash("sha256").update(bytes).digest("hex") };
}

/**
 * Writes the three splits as `train.csv`, `validation.csv`, `test.csv` under `dataDir`, each
 * atomically and byte-identical to pandas' `to_csv(index=None)`.
 * @returns each file with its row count, label counts and sha256.
 */
export function writeSplitCsvs(dataDir: string, splits: Splits<LabeledText>): Record<SplitName, SplitFile> {
  const paths = splitPaths(dataDir);
  for (const n of SPLIT_NAMES) writeFileAtomic(paths[n], formatCsv(splits[n]));
  return describeFiles(paths);
}

function describeFiles(paths: Record<SplitName, string>): Record<SplitName, SplitFile> {
  return Object.fromEntries(SPLIT_NAMES.map((n) => [n, describeFile(n, paths[n])])) as Record<SplitName, SplitFile>;
}

/**
 * Downloads (if needed) and writes the three split CSVs (if missing; `force` rewrites them).
 * Book: the code of section 6.2 (download_and_unzip_spam_data → read_csv → create_balanced_dataset →
 * map → random_split(0.7, 0.1) → to_csv); with `split: "bonus"` the bonus script's create_dataset_csvs
 * (one more shuffle before random_split), written to `<dataDir>/bonus-split/`.
 * @param dataDir the data folder (settings.dataDir); the download always lands here.
 * @returns the files with row counts, label counts and sha256.
 * @throws ConfigError when `dataDir` cannot be created; DownloadError / DataFormatError from the download.
 */
export async function prepareSpamData(
  dataDir: string,
  opts: DownloadSpamOptions & { force?: boolean; split?: DataSplit },
): Promise<PreparedSpamData> {
  const split = opts.split ?? "chapter";
  ensureDataDir(dataDir);
  const dataFilePath = await downloadAndUnzipSpamData(dataDir, opts);
  const dir = splitDir(dataDir, split);
  const paths = splitPaths(dir);
  if (opts.force || SPLIT_NAMES.some((n) => !fs.existsSync(paths[n]))) {
    const rows = readSmsSpamFile(dataFilePath);
    ensureDataDir(dir);
    return { dataFilePath, split, files: writeSplitCsvs(dir, splitDataset(mapLabels(createBalancedDataset(rows)), split)) };
  }
  return { dataFilePath, split, files: describeFiles(paths) };
}
