/**
 * The IMDb movie reviews (Large Movie Review Dataset v1.0, 50,000 reviews) in the two layouts the material uses:
 * - the chapter's IMDb bonus (ch06/03_bonus_imdb-classification, `download_prepare_dataset.py`): every review of
 *   `{test,train}/{pos,neg}` in sorted file order (pos 1, neg 0), shuffled twice with `random_state=123` and split
 *   35,000 / 5,000 / 10,000 into `train.csv`, `validation.csv`, `test.csv` (`text,label`), byte for byte what
 *   pandas writes;
 * - Hugging Face's `imdb` dataset (the BERT fine-tuning chapter): 25,000 train / 25,000 test in the order of the
 *   `imdb` script (the archive's entry order, bytes decoded as UTF-8), and the 5,000 + 5,000 subsets of
 *   `np.random.seed(42); np.random.choice(len, 5000, replace=False)` (train first, then test).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError } from "../errors";
import { writeFileAtomic } from "../util/atomic";
import { downloadFile } from "../util/download";
import { ensureDataDir, type DownloadSpamOptions } from "./download";
import { extractTarGz, listTarGz } from "./tarGz";
import { formatTextLabelCsv, parseTextLabelCsv, type TextLabel } from "./csv";
import { RandomState } from "./random";
import { shuffleRows, type Splits } from "./balance";
import { SPLIT_NAMES, type SplitName } from "./prepare";

/** The bonus's label mapping: `{"pos": 1, "neg": 0}`. */
export const IMDB_LABELS = { pos: 1, neg: 0 } as const;
/** Class names by label: 0 → "negative", 1 → "positive". */
export const IMDB_CLASS_NAMES = ["negative", "positive"] as const;

export interface ImdbDataPaths {
  /** `<dataDir>/aclImdb_v1.tar.gz` */
  tarPath: string;
  /** `<dataDir>/aclImdb/` (the extracted archive) */
  extractedPath: string;
  /** `<dataDir>/imdb/`: the bonus's train.csv, validation.csv, test.csv */
  bonusDir: string;
  /** `<dataDir>/imdb/hf/`: Hugging Face's train.csv, test.csv, train-subset.csv, test-subset.csv */
  hfDir: string;
}

/** The archive, the extracted folder and the CSV folders under `dataDir`. */
export function imdbDataPaths(dataDir: string): ImdbDataPaths {
  const bonusDir = path.join(dataDir, "imdb");
  return {
    tarPath: path.join(dataDir, "aclImdb_v1.tar.gz"),
    extractedPath: path.join(dataDir, "aclImdb"),
    bonusDir,
    hfDir: path.join(bonusDir, "hf"),
  };
}

/** Download settings: the URLs (settings.imdbUrls), progress bar, retries, log. */
export type DownloadImdbOptions = DownloadSpamOptions;

const HINT = (p: ImdbDataPaths) =>
  `Without internet, point IMDB_URL (or --imdb-url) at a copy of aclImdb_v1.tar.gz (a local file or URL), or put the archive at ${p.tarPath}.`;

/** Downloads the archive unless it is there (progress, resume of a partial download, atomic rename). */
async function ensureImdbArchive(dataDir: string, opts: DownloadImdbOptions): Promise<string> {
  const p = imdbDataPaths(dataDir);
  if (fs.existsSync(p.tarPath)) return p.tarPath;
  ensureDataDir(dataDir);
  await downloadFile(opts.urls, p.tarPath, { ...opts, label: path.basename(p.tarPath), hint: HINT(p) });
  return p.tarPath;
}

/** Runs `fn` on the archive; a bad archive is removed (the next run downloads it again) and reported once. */
async function withArchive<T>(tarPath: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof DataFormatError)) throw err;
    fs.rmSync(tarPath, { force: true });
    throw new DataFormatError(`${err.message}; the archive was removed (the next run downloads it again); check IMDB_URL / --imdb-url`, {
      cause: err,
    });
  }
}

/**
 * Downloads `aclImdb_v1.tar.gz` (unless `aclImdb/` exists) and extracts it with the npm `tar` library.
 * Book: download_and_extract_dataset (ch06/03 bonus).
 * @returns the `aclImdb` folder.
 * @throws DownloadError when every URL fails; DataFormatError for a truncated or corrupt archive, one without an
 *   `aclImdb` folder, or an entry whose path leaves the data folder (the archive is then removed).
 */
export async function downloadAndExtractImdb(dataDir: string, opts: DownloadImdbOptions): Promise<string> {
  const p = imdbDataPaths(dataDir);
  const log = opts.log ?? (() => {});
  if (fs.existsSync(p.extractedPath)) {
    log(`Directory ${p.extractedPath} already exists. Skipping download.`);
    return p.extractedPath;
  }
  const tarPath = await ensureImdbArchive(dataDir, opts);
  log("Extracting dataset ...");
  await withArchive(tarPath, () => extractTarGz(tarPath, dataDir, ["aclImdb"]));
  return p.extractedPath;
}

/** UTF-8 as Python's `open(..., encoding="utf-8")` / `bytes.decode("utf-8")`: strict, a byte-order mark kept. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return UTF8.decode(bytes);
  } catch (err) {
    throw new DataFormatError(`${where} is not valid UTF-8`, { cause: err });
  }
}

/** Python's text mode (universal newlines): `\r\n` and a lone `\r` read as `\n`. */
const universalNewlines = (s: string) => s.replace(/\r\n?/g, "\n");

/** Python's `sorted(os.listdir(path))` for ASCII names: code-unit order. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Reads every review of an extracted `aclImdb` folder as the bonus does: `{test,train}` × `{pos,neg}`, files in
 * sorted order, read in Python's text mode, then `df.sample(frac=1, random_state=123)`.
 * Book: load_dataset_to_dataframe (ch06/03 bonus).
 * @returns 50,000 rows for the real data set, shuffled.
 * @throws DataFormatError when a folder is missing or a file is not UTF-8.
 */
export function loadImdbFolder(aclImdbDir: string, seed = 123): TextLabel[] {
  const rows: TextLabel[] = [];
  for (const subset of ["test", "train"]) {
    for (const label of ["pos", "neg"] as const) {
      const dir = path.join(aclImdbDir, subset, label);
      if (!fs.existsSync(dir))
        throw new DataFormatError(
          `${dir} does not exist: the aclImdb folder is incomplete; delete ${aclImdbDir} and run \`npm start -- data --dataset imdb\` again`,
        );
      for (const file of fs.readdirSync(dir).sort(byCodeUnit)) {
        const f = path.join(dir, file);
        rows.push({ text: universalNewlines(decodeUtf8(fs.readFileSync(f), f)), label: IMDB_LABELS[label] });
      }
    }
  }
  return shuffleRows(rows, seed);
}

/**
 * The bonus's partition: shuffled once more (`sample(frac=1, random_state=123)`), then the first 70 % for
 * training, the next 10 % for validation and the rest for testing (35,000 / 5,000 / 10,000 of 50,000).
 * Book: partition_and_save (ch06/03 bonus).
 */
export function partitionImdb<T>(rows: readonly T[], seed = 123): Splits<T> {
  const shuffled = shuffleRows(rows, seed);
  const trainEnd = Math.floor((rows.length * 7) / 10);
  const valEnd = trainEnd + Math.floor(rows.length / 10);
  return { train: shuffled.slice(0, trainEnd), validation: shuffled.slice(trainEnd, valEnd), test: shuffled.slice(valEnd) };
}

/** Hugging Face's two labelled splits. */
export interface ImdbHfSplits {
  train: TextLabel[];
  test: TextLabel[];
}

const HF_REVIEW = /^aclImdb\/(train|test)\/(pos|neg)\/[^/]+$/;

/**
 * Reads the labelled reviews straight from the archive as Hugging Face's `imdb` script does (`iter_archive`):
 * archive order, the label from the folder, the bytes decoded as UTF-8 (no newline translation).
 * @throws DataFormatError for a bad archive, a file that is not UTF-8, or an archive without reviews.
 */
export async function readImdbArchive(tarPath: string): Promise<ImdbHfSplits> {
  const files = await listTarGz(tarPath, { readContent: (p) => HF_REVIEW.test(p) });
  const out: ImdbHfSplits = { train: [], test: [] };
  for (const f of files) {
    const m = HF_REVIEW.exec(f.path);
    if (!m || !f.data) continue;
    out[m[1] as "train" | "test"].push({ text: decodeUtf8(f.data, f.path), label: IMDB_LABELS[m[2] as "pos" | "neg"] });
  }
  if (out.train.length === 0 || out.test.length === 0)
    throw new DataFormatError(`${path.basename(tarPath)} has no aclImdb/train and aclImdb/test reviews`);
  return out;
}

/**
 * The fine-tuning chapter's subsets: `np.random.seed(42)`, then `np.random.choice(len(train), size,
 * replace=False)` and the same for test (one generator, train drawn first), rows in the drawn order.
 * @throws RangeError when a split has fewer than `size` rows.
 */
export function imdbHfSubsets(splits: ImdbHfSplits, size = 5000, seed = 42): ImdbHfSplits {
  const rng = new RandomState(seed);
  const pick = (rows: TextLabel[]) => rng.choiceWithoutReplacement(rows.length, size).map((i) => rows[i]);
  const train = pick(splits.train);
  return { train, test: pick(splits.test) };
}

/** One written CSV: rows, label counts, sha256. */
export interface ImdbCsvFile {
  path: string;
  rows: number;
  /** Rows per label: `{0: negative, 1: positive}`. */
  labelCounts: { 0: number; 1: number };
  sha256: string;
}

export const IMDB_HF_FILES = ["train", "test", "train-subset", "test-subset"] as const;
export type ImdbHfFileName = (typeof IMDB_HF_FILES)[number];

export interface PreparedImdbData {
  /** The extracted `aclImdb` folder. */
  extractedPath: string;
  /** The bonus's three splits. */
  bonus: Record<SplitName, ImdbCsvFile>;
  /** Hugging Face's layout (absent with `layouts: ["bonus"]`). */
  hf?: Record<ImdbHfFileName, ImdbCsvFile>;
}

function describeCsv(file: string): ImdbCsvFile {
  const bytes = fs.readFileSync(file);
  const rows = parseTextLabelCsv(bytes.toString("utf8"), path.basename(file));
  const pos = rows.filter((r) => r.label === 1).length;
  return {
    path: file,
    rows: rows.length,
    labelCounts: { 0: rows.length - pos, 1: pos },
    sha256: crypto.createHash("sha256").update(bytes).digest("hex"),
  };
}

function writeCsvs<K extends string>(dir: string, names: readonly K[], rows?: Record<K, readonly TextLabel[]>): Record<K, ImdbCsvFile> {
  const file = (n: K) => path.join(dir, `${n}.csv`);
  if (rows) for (const n of names) writeFileAtomic(file(n), formatTextLabelCsv(rows[n]));
  return Object.fromEntries(names.map((n) => [n, describeCsv(file(n))])) as Record<K, ImdbCsvFile>;
}

export interface PrepareImdbOptions extends DownloadImdbOptions {
  /** Rewrite the CSVs even if they exist. */
  force?: boolean;
  /** Which layouts to write (default both). */
  layouts?: ReadonlyArray<"bonus" | "hf">;
  /** Size of each Hugging Face subset (default 5,000, the chapter's). */
  subsetSize?: number;
}

/**
 * Downloads and extracts the archive (if needed) and writes the CSVs that are missing (`force`: all): the bonus's
 * `<dataDir>/imdb/{train,validation,test}.csv` and Hugging Face's `<dataDir>/imdb/hf/{train,test,train-subset,
 * test-subset}.csv`, each atomically, `text,label` as pandas writes them.
 * Book: download_prepare_dataset.py (ch06/03 bonus); the fine-tuning chapter's `load_dataset("imdb")` and subsets.
 * @returns each file with its row and label counts and sha256.
 * @throws ConfigError when `dataDir` cannot be used; DownloadError / DataFormatError from the download, the archive
 *   or the folder; RangeError when a split is smaller than `subsetSize`.
 */
export async function prepareImdbData(dataDir: string, opts: PrepareImdbOptions): Promise<PreparedImdbData> {
  const p = imdbDataPaths(dataDir);
  const layouts = opts.layouts ?? ["bonus", "hf"];
  const log = opts.log ?? (() => {});
  ensureDataDir(dataDir);
  const extractedPath = await downloadAndExtractImdb(dataDir, opts);
  const missing = (dir: string, names: readonly string[]) =>
    opts.force || names.some((n) => !fs.existsSync(path.join(dir, `${n}.csv`)));

  let bonusRows: Splits<TextLabel> | undefined;
  if (missing(p.bonusDir, SPLIT_NAMES)) {
    log("Creating data frames ...");
    const rows = loadImdbFolder(extractedPath);
    log("Partitioning and saving data frames ...");
    bonusRows = partitionImdb(rows);
  }
  const bonus = writeCsvs(p.bonusDir, SPLIT_NAMES, bonusRows);
  if (!layouts.includes("hf")) return { extractedPath, bonus };

  let hfRows: Record<ImdbHfFileName, TextLabel[]> | undefined;
  if (missing(p.hfDir, IMDB_HF_FILES)) {
    const tarPath = await ensureImdbArchive(dataDir, opts); // the archive's order is Hugging Face's order
    log("Reading the archive in Hugging Face's order ...");
    const full = await withArchive(tarPath, () => readImdbArchive(tarPath));
    const sub = imdbHfSubsets(full, opts.subsetSize ?? 5000);
    hfRows = { train: full.train, test: full.test, "train-subset": sub.train, "test-subset": sub.test };
  }
  return { extractedPath, bonus, hf: writeCsvs(p.hfDir, IMDB_HF_FILES, hfRows) };
}

/**
 * Reads an IMDb CSV (or any `text,label` CSV) as `{ text, label }` rows, like `pd.read_csv(path)`.
 * @throws DataFormatError when the file is missing or malformed.
 */
export function readImdbCsv(file: string): TextLabel[] {
  if (!fs.existsSync(file))
    throw new DataFormatError(`${file} does not exist; run \`npm start -- data --dataset imdb\` (or prepareImdbData) first`);
  return parseTextLabelCsv(fs.readFileSync(file, "utf8"), path.basename(file));
}

/** The bonus's three splits under `dataDir` as `{ text, label }` rows (after prepareImdbData). */
export function loadImdbSplits(dataDir: string): Splits<TextLabel> {
  const dir = imdbDataPaths(dataDir).bonusDir;
  const [train, validation, test] = SPLIT_NAMES.map((n) => readImdbCsv(path.join(dir, `${n}.csv`)));
  return { train, validation, test };
}

/**
 * Hugging Face's layout under `dataDir` as `{ text, label }` rows (after prepareImdbData): the 25,000 + 25,000
 * reviews, or with `subset: true` the chapter's 5,000 + 5,000.
 */
export function loadImdbHf(dataDir: string, opts: { subset?: boolean } = {}): ImdbHfSplits {
  const dir = imdbDataPaths(dataDir).hfDir;
  const suffix = opts.subset ? "-subset" : "";
  return { train: readImdbCsv(path.join(dir, `train${suffix}.csv`)), test: readImdbCsv(path.join(dir, `test${suffix}.csv`)) };
}
