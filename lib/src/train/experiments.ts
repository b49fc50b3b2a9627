/**
 * The book's additional experiments (ch06/02_bonus_additional-experiments): its 19-row table as data, each
 * row as fine-tuning options, and a runner that trains the chosen rows one after the other with
 * finetuneClassifier, keeps every finished row in `experiments.json` (rewritten atomically after each row,
 * so an interrupted run loses only the row in progress and the next run skips the finished ones) and
 * renders `experiments.md`: the book's columns with ours beside them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Settings } from "../config";
import type { DataSplit } from "../data/balance";
import { ConfigError, UserError } from "../errors";
import { configFromHparams, modelConfig, type GPTConfig } from "../model/config";
import { TINY_GPT2_DIR } from "../assets";
import { GPT2_FILES } from "../weights/downloadGpt2";
import { writeFileAtomic } from "../util/atomic";
import { checkTrainable, classifierParamCount } from "./classifier";
import {
  estimateTrainingMemory,
  exceededLimit,
  formatGB,
  machineMemoryLimits,
  type MemoryLimits,
  type TrainingPathMemory,
} from "./memory";
import { fastCacheLimitBytes } from "./createRunner";
import { finetuneClassifier, IMDB_CONTEXT_LENGTH, type FinetuneDataset } from "./finetune";
import { loraParamCount } from "../model/lora";
import { resolveLoraOptions } from "./lora";
import { TrainingInterruptedError } from "./trainClassifier";
import {
  IMDB_SMOKE_ROWS,
  SMOKE_ROWS,
  experimentRow,
  experimentTable,
  type BookResult,
  type ExperimentOptions,
  type ExperimentRow,
} from "./experimentTable";

export {
  EXPERIMENTS,
  IMDB_EXPERIMENTS,
  SMOKE_ROWS,
  IMDB_SMOKE_ROWS,
  experimentRow,
  experimentTable,
  parseRows,
  type BookResult,
  type ExperimentOptions,
  type ExperimentRow,
} from "./experimentTable";

/** Our result of a row. Accuracies are fractions (0–1), as finetuneClassifier reports them. */
export interface ExperimentOutcome {
  trainAcc: number;
  valAcc: number;
  testAcc: number;
  /** Training loop minutes (the book's "Training completed in … minutes"). */
  minutes: number;
  /** Wall seconds of the whole row (data, model, prefix cache, training, evaluations, saving). */
  seconds: number;
  /** The training path finetuneClassifier took (fast, native, plain). */
  path: string;
  trainableParams: number;
  steps: number;
  epochs: number;
}

/** The settings a finished row was run with; a row is skipped on the next run only when they match. */
export interface ExperimentRun {
  split: DataSplit;
  /** The data set (absent: the SMS messages). */
  dataset?: FinetuneDataset;
  /** The weights given for the 124M rows (RunExperimentsOptions.weights), when not the downloaded 124M. */
  weights?: string;
  smoke: boolean;
  epochs?: number;
  maxSteps?: number;
}

export interface ExperimentRecord {
  row: number;
  name: string;
  bookFlags: string;
  book: BookResult;
  options: ExperimentOptions;
  /** done: trained; failed: it started and ended with an error; cannot-run: not tried here (see reason); not-run: not chosen yet. */
  status: "done" | "failed" | "cannot-run" | "not-run";
  reason?: string;
  run?: ExperimentRun;
  ours?: ExperimentOutcome;
  /** ISO time the row ended. */
  finishedAt?: string;
}

export interface ExperimentsReport {
  outDir: string;
  json: string;
  markdown: string;
  records: ExperimentRecord[];
  /** Rows trained by this call (the others were done before, cannot run or were not chosen). */
  ran: number[];
}

export interface RunExperimentsOptions {
  /** Row numbers (1–19); default: every row this machine can run (SMOKE_ROWS in smoke mode). */
  rows?: readonly number[];
  /** Epochs per row (default: the schedule's, 5, or 2 short ones in smoke mode). */
  epochs?: number;
  /** Stop each row after this many optimizer steps. */
  maxSteps?: number;
  /** Where experiments.json, experiments.md and one folder per row go (default <dataDir>/experiments). */
  outDir?: string;
  /** Default: settings.smoke. */
  smoke?: boolean;
  /**
   * GPT-2 124M weights on disk (an OpenAI checkpoint folder, a Hugging Face folder or a safetensors file) for the
   * rows of the 124M model, e.g. a local copy or random weights for a benchmark; default: 124M, downloaded.
   */
  weights?: string;
  /** Default: the bonus script's split, on which the book measured the table. */
  split?: DataSplit;
  /**
   * "sms" (default): the book's 19-row table (ch06/02); "imdb": the IMDb bonus's table (ch06/03), whose GPT-2 rows
   * run (default folder <dataDir>/experiments-imdb).
   */
  dataset?: FinetuneDataset;
  /** Keep each row's model.safetensors (default false: a 124M row's is 0.5 GB; its metrics, log and plots stay). */
  keepModels?: boolean;
  log?: (line: string) => void;
  progress?: boolean;
  signal?: AbortSignal;
  /** Memory limits to plan with (default: this machine's). */
  limits?: MemoryLimits;
}

function isModelSize(weights: string): boolean {
  return ["124M", "355M", "774M", "1558M"].includes(weights);
}

/** The GPT-2 config a row trains: the size's, or the tiny model's in smoke mode. */
function rowConfig(row: ExperimentRow, smoke: boolean): GPTConfig {
  if (smoke) {
    const hparams = JSON.parse(fs.readFileSync(path.join(TINY_GPT2_DIR, "124M", "hparams.json"), "utf8")) as Record<
      string,
      unknown
    >;
    return configFromHparams(hparams);
  }
  return modelConfig(row.options.weights ?? "124M");
}

/** Tokens of the longest training text (the book's 120; IMDb's 256 by default), when a row does not set a context length. */
const LONGEST_TRAINING_TEXT = { sms: 120, imdb: IMDB_CONTEXT_LENGTH } as const;
/** Texts in the three splits (1,494 balanced messages; 50,000 reviews), each cached once by the fast path. */
const DATASET_TEXTS = { sms: 1494, imdb: 50_000 } as const;

/** The row's trainable parameter count, or why this build cannot train its layers. */
function trainableCount(row: ExperimentRow, cfg: GPTConfig): number | string {
  const lora = row.options.lora;
  if (lora) {
    const r = resolveLoraOptions(lora);
    return loraParamCount(cfg, r.rank, 2) + (r.head === "trainable" ? cfg.embDim * 2 + 2 : 0);
  }
  try {
    return classifierParamCount(cfg, 2, checkTrainable(row.options.trainable ?? "last-block")).trainable;
  } catch (err) {
    if (err instanceof ConfigError) return `this build cannot train ${row.options.trainable}: ${err.message}`;
    throw err;
  }
}

/**
 * Why a row cannot run on this machine and in this mode, or undefined when it can: weights that are not on disk (sizes above 124M are not fetched by the experiments:
 * 1.4–6.4 GB, and this machine may be offline), or a memory estimate (train/memory.ts) above its limits.
 */
export function experimentBlocker(
  row: ExperimentRow,
  settings: Settings,
  o: { smoke?: boolean; limits?: MemoryLimits; dataset?: FinetuneDataset } = {},
): string | undefined {
  if (row.needs) return row.needs;
  const dataset = o.dataset ?? "sms";
  const smoke = o.smoke ?? settings.smoke;
  const weights = row.options.weights ?? "124M";
  if (smoke && weights !== "124M") return `smoke mode has only the tiny model (in place of 124M), not ${weights}`;
  if (!smoke && isModelSize(weights) && weights !== "124M") {
    const dir = path.join(settings.dataDir, "gpt2", weights);
    const missing = GPT2_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
    if (missing.length > 0)
      return `GPT-2 ${weights}'s weights are not in ${dir} (the experiments do not download models above 124M; run \`npm start -- weights download --size ${weights}\` where the internet is reachable)`;
  }
  const cfg = rowConfig(row, smoke);
  const trainable = trainableCount(row, cfg);
  if (typeof trainable === "string") return trainable;
  const seqLen =
    row.options.contextLength === "model"
      ? cfg.contextLength
      : typeof row.options.contextLength === "number"
        ? row.options.contextLength
        : LONGEST_TRAINING_TEXT[dataset];
  const frozenPrefix =
    (row.options.trainable ?? "last-block") !== "all" &&
    (row.options.initWeights ?? "pretrained") === "pretrained" &&
    !row.options.lora; // LoRA trains adapters in every block: the native path
  const cachedTokens = DATASET_TEXTS[dataset] * seqLen;
  // createRunner leaves the fast path when its cache would take over half the memory (IMDb at 124M: 39 GB).
  const memoryPath: TrainingPathMemory =
    frozenPrefix && cachedTokens * cfg.embDim * 4 <= fastCacheLimitBytes()
      ? { kind: "fast", cachedTokens }
      : { kind: "native" };
  const totalParams = classifierParamCount(cfg, 2).total;
  const estimate = estimateTrainingMemory({
    cfg,
    trainableParams: trainable,
    totalParams,
    frozenOutsideTfjs: totalParams - trainable, // finetune builds the model frozen: GPTModelOptions.frozen
    batchSize: row.options.batchSize ?? 8,
    seqLen,
    path: memoryPath,
  });
  const limits = o.limits ?? machineMemoryLimits();
  const exceeded = exceededLimit(estimate, limits);
  if (exceeded === "wasmHeap")
    return `needs about ${formatGB(estimate.tfjs)} of tfjs tensors, more than the WASM heap's ${formatGB(limits.wasmHeap!)} (a native tfjs backend has no such limit)`;
  if (exceeded === "memory")
    return `needs about ${formatGB(estimate.tfjs + estimate.native)} of memory, more than the ${formatGB(limits.available)} available here`;
  return undefined;
}

/**
 * The depth of a row's frozen prefix on the fast path (last_layer: every block; last_block: all but one;
 * last_two_blocks: all but two), with what the prefix depends on besides the weights' depth (the texts, their
 * padding, the mask, the weights); undefined for rows that train every block.
 */
function frozenPrefixOf(row: ExperimentRow, cfg: GPTConfig): { depth: number; key: string } | undefined {
  const o = row.options;
  if (o.lora) return undefined;
  const L = cfg.nLayers;
  const depths: Partial<Record<string, number>> = { "last-layer": L, "last-block": L - 1, "last-two-blocks": L - 2 };
  const depth = depths[o.trainable ?? "last-block"];
  if (depth === undefined) return undefined;
  const key = JSON.stringify([o.weights ?? "124M", o.initWeights, o.contextLength, o.padding, o.causalMask]);
  return { depth, key };
}

/**
 * For each row to run: the shallower frozen-prefix depths that rows after it need on the same texts and weights.
 * The row computing a deeper prefix saves those too (one pass, an extra output): the table's last_two_blocks row
 * then starts from what its last_block rows computed.
 */
export function prefixDepthsToKeep(rows: readonly ExperimentRow[], smoke: boolean): Map<number, number[]> {
  const prefixes = rows.map((r) => frozenPrefixOf(r, rowConfig(r, smoke)));
  const out = new Map<number, number[]>();
  rows.forEach((r, i) => {
    const p = prefixes[i];
    if (!p) return;
    const later = prefixes.slice(i + 1).filter((q) => q && q.key === p.key && q.depth < p.depth);
    // Rows of the same depth find the file the first one wrote (the fast path skips depths already on disk).
    if (later.length) out.set(r.row, [...new Set(later.map((q) => q!.depth))]);
  });
  return out;
}

function sameRun(a: ExperimentRun | undefined, b: ExperimentRun): boolean {
  return (
    a !== undefined &&
    a.split === b.split &&
    (a.dataset ?? "sms") === (b.dataset ?? "sms") &&
    a.smoke === b.smoke &&
    a.epochs === b.epochs &&
    a.maxSteps === b.maxSteps &&
    a.weights === b.weights
  );
}

function readRecords(file: string): Map<number, ExperimentRecord> {
  if (!fs.existsSync(file)) return new Map();
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as { rows?: ExperimentRecord[] };
    return new Map((parsed.rows ?? []).map((r) => [r.row, r]));
  } catch (err) {
    throw new ConfigError(`${file} is not an experiments file (invalid JSON); move it away or choose another --out`, {
      cause: err,
    });
  }
}

const pct = (x: number) => `${(x * 100).toFixed(2)}`;
const bookPct = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");

/** experiments.md: the book's columns and ours, one line per row, with the reason for rows that did not run. */
export function experimentsMarkdown(records: readonly ExperimentRecord[], dataset: FinetuneDataset = "sms"): string {
  const lines = [
    dataset === "imdb"
      ? "# The IMDb bonus's models (ch06/03), ours beside the book's"
      : "# The book's additional experiments (ch06/02), ours beside the book's",
    "",
    "Accuracies in percent (train / validation / test). Book: the README's table (A100). Ours: this machine; minutes of",
    'the training loop (the book\'s "Training completed in"), in brackets the whole row with data, model and evaluations.',
    "",
    "| # | variant | book flags | book accuracy | book min | our accuracy | our min (whole row) | path | trainable params | status |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of records) {
    const b = `${bookPct(r.book.train)} / ${bookPct(r.book.val)} / ${bookPct(r.book.test)}`;
    const o = r.ours;
    const ours = o ? `${pct(o.trainAcc)} / ${pct(o.valAcc)} / ${pct(o.testAcc)}` : "–";
    const status =
      r.status === "done"
        ? `done${r.run?.smoke ? " (smoke)" : ""}${r.run?.maxSteps !== undefined ? ` (${o?.steps} steps)` : ""}`
        : `${r.status}${r.reason ? `: ${r.reason.replace(/\|/g, "\\|").replace(/\n/g, " ")}` : ""}`;
    lines.push(
      `| ${r.row} | ${r.name} | ${r.bookFlags ? `\`${r.bookFlags}\`` : "–"} | ${b} | ${bookPct(r.book.minutes)} | ${ours} | ${o ? `${o.minutes.toFixed(2)} (row ${o.seconds.toFixed(0)} s)` : "–"} | ${o?.path ?? "–"} | ${o ? o.trainableParams.toLocaleString("en-US") : "–"} | ${status} |`,
    );
  }
  return lines.join("\n") + "\n";
}

function writeReport(
  outDir: string,
  records: Map<number, ExperimentRecord>,
  dataset: FinetuneDataset = "sms",
): ExperimentRecord[] {
  const sorted = [...records.values()].sort((a, b) => a.row - b.row);
  writeFileAtomic(path.join(outDir, "experiments.json"), JSON.stringify({ rows: sorted }, null, 2) + "\n");
  writeFileAtomic(path.join(outDir, "experiments.md"), experimentsMarkdown(sorted, dataset));
  return sorted;
}

const base = (row: ExperimentRow) => ({
  row: row.row,
  name: row.name,
  bookFlags: row.bookFlags,
  book: row.book,
  options: row.options,
});

/**
 * Runs the chosen rows of the book's table with finetuneClassifier, one folder per row under `outDir`
 * (metrics, log, plots), and writes experiments.json and experiments.md after every row (atomically). Rows
 * finished before with the same settings (split, smoke, epochs, max steps) are skipped; rows that cannot
 * run here are listed with the reason (experimentBlocker), as are rows that fail.
 * @throws ConfigError for a bad row number or an unreadable experiments.json; TrainingInterruptedError on abort
 *   (the rows finished until then are kept).
 */
export async function runExperiments(settings: Settings, o: RunExperimentsOptions = {}): Promise<ExperimentsReport> {
  const log = o.log ?? (() => {});
  const smoke = o.smoke ?? settings.smoke;
  const dataset = o.dataset ?? "sms";
  const imdb = dataset === "imdb";
  const table = experimentTable(dataset);
  const split = o.split ?? "bonus";
  const run: ExperimentRun = {
    split,
    ...(imdb ? { dataset } : {}),
    smoke,
    ...(o.weights !== undefined ? { weights: path.resolve(o.weights) } : {}),
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
  };
  const outDir = path.resolve(o.outDir ?? path.join(settings.dataDir, imdb ? "experiments-imdb" : "experiments"));
  const jsonPath = path.join(outDir, "experiments.json");
  const records = readRecords(jsonPath);
  const blockers = new Map(
    table.map((r) => [r.row, experimentBlocker(r, settings, { smoke, limits: o.limits, dataset })]),
  );
  const chosen = o.rows
    ? o.rows.map((n) => experimentRow(n, dataset).row)
    : smoke
      ? [...(imdb ? IMDB_SMOKE_ROWS : SMOKE_ROWS)]
      : table.filter((r) => blockers.get(r.row) === undefined).map((r) => r.row);

  // Every row is listed: the ones that cannot run with their reason, the others as they were or "not-run".
  for (const row of table) {
    const prev = records.get(row.row);
    const reason = blockers.get(row.row);
    if (reason !== undefined) records.set(row.row, { ...base(row), status: "cannot-run", reason });
    else if (!prev || prev.status === "cannot-run") records.set(row.row, { ...base(row), status: "not-run" });
  }
  writeReport(outDir, records, dataset);

  const pending = chosen.filter(
    (n) => blockers.get(n) === undefined && !(records.get(n)?.status === "done" && sameRun(records.get(n)!.run, run)),
  );
  const keepDepths = prefixDepthsToKeep(
    pending.map((n) => experimentRow(n, dataset)),
    smoke,
  );
  const ran: number[] = [];
  for (const n of chosen) {
    const row = experimentRow(n, dataset);
    const prev = records.get(n);
    if (blockers.get(n) !== undefined) {
      log(`Row ${n} (${row.name}) cannot run here: ${blockers.get(n)}`);
      continue;
    }
    if (prev?.status === "done" && sameRun(prev.run, run)) {
      log(`Row ${n} (${row.name}) is done already (${jsonPath}); skipped`);
      continue;
    }
    log(`\nRow ${n}: ${row.name}${row.bookFlags ? ` (book: ${row.bookFlags})` : ""}`);
    const t0 = Date.now();
    const cfg = rowConfig(row, smoke);
    const rowDir = path.join(outDir, `row-${String(n).padStart(2, "0")}`);
    try {
      const r = await finetuneClassifier(settings, {
        ...row.options,
        ...(run.weights !== undefined && (row.options.weights ?? "124M") === "124M" ? { weights: run.weights } : {}),
        trainable: checkTrainable(row.options.trainable ?? "last-block"),
        ...(imdb ? { dataset } : { split }),
        smoke,
        epochs: o.epochs,
        maxSteps: o.maxSteps,
        outDir: rowDir,
        keepPrefixDepths: keepDepths.get(n),
        log,
        progress: o.progress,
        signal: o.signal,
      });
      if (!o.keepModels) fs.rmSync(path.join(rowDir, "model.safetensors"), { force: true });
      const trainable = trainableCount(row, cfg);
      records.set(n, {
        ...base(row),
        status: "done",
        run,
        ours: {
          trainAcc: r.final.trainAcc,
          valAcc: r.final.valAcc,
          testAcc: r.final.testAcc,
          minutes: r.train.minutes,
          seconds: (Date.now() - t0) / 1000,
          path: r.runner,
          trainableParams: typeof trainable === "number" ? trainable : NaN,
          steps: r.train.steps,
          epochs: r.train.epochs,
        },
        finishedAt: new Date().toISOString(),
      });
      ran.push(n);
    } catch (err) {
      if (err instanceof TrainingInterruptedError || !(err instanceof UserError)) throw err;
      // A user-level problem of this row (memory, download, an option this build lacks): listed, the others go on.
      log(`Row ${n} failed: ${err.message}`);
      records.set(n, {
        ...base(row),
        status: "failed",
        reason: err.message,
        run,
        finishedAt: new Date().toISOString(),
      });
    }
    writeReport(outDir, records, dataset);
  }
  const sorted = writeReport(outDir, records, dataset);
  log(`Wrote ${jsonPath} and ${path.join(outDir, "experiments.md")}`);
  return { outDir, json: jsonPath, markdown: path.join(outDir, "experiments.md"), records: sorted, ran };
}
