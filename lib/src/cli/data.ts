import * as path from "node:path";
import type { CliCommand, CliContext } from "./command";
import { checkDataSplit } from "../data/balance";
import { prepareSpamData, SPLIT_NAMES } from "../data/prepare";
import { IMDB_HF_FILES, prepareImdbData, type ImdbCsvFile } from "../data/imdb";
import { ConfigError } from "../errors";

/** The data sets `--dataset` names. */
export const DATASETS = ["sms", "imdb"] as const;
export type DatasetName = (typeof DATASETS)[number];

/** Checks `--dataset`. @throws ConfigError for anything else */
export function checkDataset(v: string | undefined): DatasetName {
  const d = v ?? "sms";
  if (!(DATASETS as readonly string[]).includes(d))
    throw new ConfigError(`--dataset must be ${DATASETS.join(" or ")}, got "${d}"`);
  return d as DatasetName;
}

async function prepareImdb(dir: string, force: boolean, ctx: CliContext, json: boolean): Promise<void> {
  const prepared = await prepareImdbData(dir, {
    urls: ctx.settings.imdbUrls,
    log: ctx.log,
    force,
    // The synthetic archive of smoke mode has 20 reviews per split: subsets of 8 stand for the chapter's 5,000.
    subsetSize: ctx.settings.smoke ? 8 : 5000,
  });
  const files: Array<[string, ImdbCsvFile]> = [
    ...SPLIT_NAMES.map((n) => [n, prepared.bonus[n]] as [string, ImdbCsvFile]),
    ...IMDB_HF_FILES.map((n) => [`hf/${n}`, prepared.hf![n]] as [string, ImdbCsvFile]),
  ];
  if (json) {
    ctx.out(
      JSON.stringify({ extracted: prepared.extractedPath, files: files.map(([name, f]) => ({ name, ...f })) }, null, 2),
    );
    return;
  }
  for (const [name, f] of files)
    ctx.log(
      `${name.padEnd(16)} ${String(f.rows).padStart(6)} rows (neg ${f.labelCounts[0]}, pos ${f.labelCounts[1]})  sha256 ${f.sha256}  ${f.path}`,
    );
}

/** `npm start -- data`: section 6.2 end to end (or the IMDb bonus's download_prepare_dataset.py). */
export const dataCommand: CliCommand = {
  name: "data",
  summary: "Download the SMS Spam Collection (or the IMDb reviews) and write train/validation/test CSVs",
  usage: "[--dataset sms|imdb] [--split chapter|bonus] [--out DIR] [--force]",
  help: `Downloads the UCI zip (the book's backup URL as fallback; skipped when already extracted),
reads it like pandas (5,572 rows), balances ham/spam (747 each, seed 123) and writes the book's
70/10/20 split as train.csv, validation.csv and test.csv, then prints their row and label counts
and sha256.

With --split bonus it writes the split of the book's bonus experiments script
(ch06/02_bonus_additional-experiments: one more shuffle with seed 123 before the same 70/10/20
split, pandas' bytes too) in a folder of its own, <out>/bonus-split/, beside the chapter's.

With --dataset imdb it does what the IMDb bonus's download_prepare_dataset.py does
(ch06/03_bonus_imdb-classification): downloads aclImdb_v1.tar.gz (80 MB; progress, resume, atomic;
IMDB_URL / --imdb-url to use a copy), extracts aclImdb/, reads {test,train}/{pos,neg} in sorted order
(pos 1, neg 0), shuffles twice with seed 123 and writes 35,000 / 5,000 / 10,000 reviews as
<out>/imdb/train.csv, validation.csv, test.csv (text,label; pandas' bytes). It also writes Hugging
Face's layout to <out>/imdb/hf/: train.csv and test.csv (25,000 each, the imdb script's order) and
train-subset.csv / test-subset.csv (5,000 each: np.random.seed(42), choice(25000, 5000, replace=False)).
In smoke mode it uses the synthetic 40-review archive that ships with the package.

Options:
  --dataset NAME  sms (default, the chapter's) or imdb (the bonus's movie reviews)
  --split NAME    chapter (default, section 6.2) or bonus (the additional experiments' split; sms only)
  --out DIR       where the download and the CSVs go (default: the data folder)
  --force         rewrite the CSVs even if they exist`,
  options: {
    out: { type: "string" },
    force: { type: "boolean" },
    split: { type: "string" },
    dataset: { type: "string" },
  },
  async run(values, positionals, ctx) {
    if (positionals.length > 0)
      throw new ConfigError(
        `data takes no arguments, got "${positionals.join(" ")}" (use --out DIR). See: npm start -- data --help`,
      );
    if (values.out === "") throw new ConfigError("--out needs a folder name");
    const dir = path.resolve(typeof values.out === "string" ? values.out : ctx.settings.dataDir);
    const dataset = checkDataset(typeof values.dataset === "string" ? values.dataset : undefined);
    if (dataset === "imdb") {
      if (values.split !== undefined) throw new ConfigError("--split is for the SMS data; the IMDb data has one split");
      return prepareImdb(dir, values.force === true, ctx, values.json === true);
    }
    const prepared = await prepareSpamData(dir, {
      urls: ctx.settings.smsSpamUrls,
      log: ctx.log,
      force: values.force === true,
      split: checkDataSplit(typeof values.split === "string" ? values.split : "chapter"),
    });
    const files = SPLIT_NAMES.map((n) => prepared.files[n]);
    if (values.json) {
      ctx.out(JSON.stringify({ dataFile: prepared.dataFilePath, files }, null, 2));
      return;
    }
    for (const f of files) {
      ctx.log(
        `${f.name.padEnd(10)} ${String(f.rows).padStart(5)} rows (ham ${f.labelCounts[0]}, spam ${f.labelCounts[1]})  sha256 ${f.sha256}  ${f.path}`,
      );
    }
  },
};
