import * as path from "node:path";
import type { CliCommand } from "./command";
import { optionalIntOption } from "./command";
import { ConfigError } from "../errors";
import { checkDataSplit } from "../data/balance";
import { EXPERIMENTS, IMDB_EXPERIMENTS, IMDB_SMOKE_ROWS, parseRows, SMOKE_ROWS } from "../train/experimentTable";
import { checkDataset } from "./data";

/** `npm start -- experiments`: the book's additional experiments, row by row. */
export const experimentsCommand: CliCommand = {
  name: "experiments",
  summary: "Run rows of the book's additional-experiments table (ch06/02) and write experiments.md/.json",
  usage:
    "[--dataset sms|imdb] [--rows 1,2,4] [--epochs N] [--max-steps N] [--split bonus|chapter] [--out DIR] [--weights PATH] [--keep-models] [--smoke]",
  help: `Runs the chosen rows of the 19-row table of the book's bonus material
(ch06/02_bonus_additional-experiments) through the same fine-tuning as \`finetune\`, one after the
other, and writes experiments.json and experiments.md: the book's flags and accuracies (A100) with
ours beside them (train / validation / test accuracy, minutes, the training path, the trainable
parameter count). Each row's metrics, log and plots go to <out>/row-NN/.

The file is rewritten after every row, so an interrupted run keeps the finished rows; running the
command again skips them (when split, epochs, max steps and smoke mode are the same).

Rows that cannot run here are listed with the reason: GPT-2 sizes above 124M whose weights are not
on disk (they are not downloaded by this command), and configurations whose memory estimate exceeds
this machine's limits. The LoRA rows (11, 12) train as the bonus script does: alpha · x A B, lr 5e-5,
the new head trainable and wrapped too.

Rows: ${EXPERIMENTS.map((r) => `${r.row} ${r.name}`).join("; ")}.

With --dataset imdb it runs the IMDb bonus's table instead (ch06/03_bonus_imdb-classification: 1 epoch
on the 35,000 / 5,000 / 10,000 reviews, 256 tokens; files in <data>/experiments-imdb). Its GPT-2 rows
run here; the BERT-family models and the logistic regression are listed with the book's numbers.
IMDb rows: ${IMDB_EXPERIMENTS.map((r) => `${r.row} ${r.name}`).join("; ")}.

Options:
  --rows LIST        row numbers, e.g. 1,2,4 or 1-5,10 (default: every row that can run here;
                     ${SMOKE_ROWS.join(", ")} with --smoke; ${IMDB_SMOKE_ROWS.join(", ")} for imdb)
  --dataset NAME     sms (default, the book's 19 rows) or imdb (the IMDb bonus's table)
  --epochs N         epochs per row (default 5, the book's; 2 short ones with --smoke)
  --max-steps N      stop each row after N optimizer steps (a quick look at every row)
  --split NAME       bonus (default: the split the book's table was measured on) or chapter
  --out DIR          where the files go (default <data>/experiments)
  --weights PATH     GPT-2 124M on disk for the 124M rows (an OpenAI checkpoint folder, a Hugging Face
                     folder or a safetensors file; default: 124M, downloaded)
  --keep-models      keep each row's model.safetensors (default: removed, 0.5 GB each for 124M)`,
  options: {
    rows: { type: "string" },
    epochs: { type: "string" },
    "max-steps": { type: "string" },
    split: { type: "string" },
    dataset: { type: "string" },
    out: { type: "string" },
    weights: { type: "string" },
    "keep-models": { type: "boolean" },
  },
  async run(values, positionals, ctx) {
    if (positionals.length > 0)
      throw new ConfigError(
        `experiments takes no arguments, got "${positionals.join(" ")}" (use --rows 1,2,4). See: npm start -- experiments --help`,
      );
    const dataset = checkDataset(typeof values.dataset === "string" ? values.dataset : undefined);
    if (dataset === "imdb" && values.split !== undefined)
      throw new ConfigError("--split is for the SMS data; the IMDb data has one split");
    const rows = typeof values.rows === "string" ? parseRows(values.rows, dataset) : undefined;
    const epochs = optionalIntOption(values, "epochs", 1, 1000);
    const maxSteps = optionalIntOption(values, "max-steps", 1);
    const split = checkDataSplit(typeof values.split === "string" ? values.split : "bonus");
    if (values.out === "") throw new ConfigError("--out needs a folder name");
    await ctx.backend();
    const { runExperiments } = await import("../train/experiments");
    const report = await runExperiments(ctx.settings, {
      rows,
      epochs,
      maxSteps,
      split,
      dataset,
      outDir: typeof values.out === "string" ? path.resolve(values.out) : undefined,
      keepModels: values["keep-models"] === true,
      weights: typeof values.weights === "string" && values.weights !== "" ? values.weights : undefined,
      log: ctx.log,
    });
    if (values.json) ctx.out(JSON.stringify({ outDir: report.outDir, ran: report.ran, rows: report.records }));
    else
      for (const r of report.records.filter((x) => x.status !== "not-run"))
        ctx.log(
          `Row ${String(r.row).padStart(2)} ${r.status.padEnd(10)} ${r.ours ? `test ${(r.ours.testAcc * 100).toFixed(2)}% (book ${Number.isFinite(r.book.test) ? `${r.book.test.toFixed(2)}%` : "–"})` : (r.reason ?? "")}`,
        );
  },
};
