import * as path from "node:path";
import type { CliCommand } from "./command";
import { checkDataSplit } from "../data/balance";
import { prepareSpamData, SPLIT_NAMES } from "../data/prepare";
import { ConfigError } from "../errors";

/** `npm start -- data`: section 6.2 end to end. */
export const dataCommand: CliCommand = {
  name: "data",
  summary: "Download the SMS Spam Collection, balance it and write train/validation/test CSVs",
  usage: "[--split chapter|bonus] [--out DIR] [--force]",
  help: `Downloads the UCI zip (the book's backup URL as fallback; skipped when already extracted),
reads it like pandas (5,572 rows), balances ham/spam (747 each, seed 123) and writes the book's
70/10/20 split as train.csv, validation.csv and test.csv, then prints their row and label counts
and sha256.

With --split bonus it writes the split of the book's bonus experiments script
(ch06/02_bonus_additional-experiments: one more shuffle with seed 123 before the same 70/10/20
split, pandas' bytes too) in a folder of its own, <out>/bonus-split/, beside the chapter's.

Options:
  --split NAME  chapter (default, section 6.2) or bonus (the additional experiments' split)
  --out DIR     where the download and the CSVs go (default: the data folder)
  --force       rewrite the CSVs even if they exist`,
  options: { out: { type: "string" }, force: { type: "boolean" }, split: { type: "string" } },
  async run(values, positionals, ctx) {
    if (positionals.length > 0)
      throw new ConfigError(
        `data takes no arguments, got "${positionals.join(" ")}" (use --out DIR). See: npm start -- data --help`,
      );
    if (values.out === "") throw new ConfigError("--out needs a folder name");
    const dir = path.resolve(typeof values.out === "string" ? values.out : ctx.settings.dataDir);
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
