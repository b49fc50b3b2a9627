/**
 * `npm run bench -- --experiments`: the book's additional-experiments rows of the 124M model without LoRA (1–5, 10,
 * 13, 14, 16–19), ours end to end (bench/experimentsRun.ts) against a PyTorch estimate per row: that row's
 * configuration's step and forward times, measured by scripts/bench/torch_reference.py, times the steps and
 * forwards the row's schedule makes (counted as in plan.ts). Prints one line per row and
 * `ratio experiments_124m = X.XXX` (sum of ours / sum of PyTorch's).
 */
import { EXPERIMENTS, type ExperimentRow } from "llm-spam-classifier";
import type { ChapterPlan } from "./plan";

/** The 124M rows without LoRA (the list). */
export const BENCH_EXPERIMENT_ROWS = [1, 2, 3, 4, 5, 10, 13, 14, 16, 17, 18, 19] as const;

/** What PyTorch computes per step and forward for a row: the readout, mask and ignore_index cost nothing extra. */
export interface TorchExperimentConfig {
  key: string;
  trainable: "last-layer" | "last-block" | "last-two-blocks" | "all";
  /** Padded length, or null: no padding (each text at its own length, batch size 1). */
  seq_len: number | null;
  batch_size: number;
  reps: number;
}

export interface TorchExperimentTimes {
  step_median_s: number;
  step_mean_s: number;
  forward_median_s: number;
  forward_mean_s: number;
}

/** The configuration PyTorch times for a row; `longest` is the padded length of the training texts (120). */
export function torchConfigOf(row: ExperimentRow, longest: number, quick: boolean): TorchExperimentConfig {
  const o = row.options;
  const trainable = o.trainable ?? "last-block";
  const seqLen =
    o.padding === false
      ? null
      : o.contextLength === "model"
        ? 1024
        : typeof o.contextLength === "number"
          ? o.contextLength
          : longest;
  const batchSize = o.batchSize ?? 8;
  // Unpadded texts differ in length: average over many; padded batches cost the same each time.
  const reps = seqLen === null ? (quick ? 10 : 40) : seqLen > 512 ? 2 : quick ? 2 : 3;
  return {
    key: `${trainable}/${seqLen ?? "unpadded"}/${batchSize}`,
    trainable,
    seq_len: seqLen,
    batch_size: batchSize,
    reps,
  };
}

/** Training steps and forward batches of one row: the chapter's schedule with the row's batch size, cut at maxSteps. */
export function experimentUnits(
  batchSize: number,
  plan: Pick<ChapterPlan, "epochs" | "evalFreq" | "evalIter" | "initAccBatches" | "initLossBatches">,
  sizes: { train: number; validation: number; test: number },
  maxSteps?: number,
): { steps: number; forwards: number } {
  const trainBatches = Math.floor(sizes.train / batchSize);
  const valBatches = Math.ceil(sizes.validation / batchSize),
    testBatches = Math.ceil(sizes.test / batchSize);
  const steps = Math.min(maxSteps ?? Infinity, plan.epochs * trainBatches);
  const epochsRun = Math.max(1, Math.ceil(steps / trainBatches));
  const evalPair = Math.min(plan.evalIter, trainBatches) + Math.min(plan.evalIter, valBatches);
  const each = (n: number) => Math.min(n, trainBatches) + Math.min(n, valBatches) + Math.min(n, testBatches);
  const forwards =
    each(plan.initAccBatches) + // initial accuracies
    each(plan.initLossBatches) + // initial losses
    Math.ceil(steps / plan.evalFreq) * evalPair + // the loop's evaluations (steps 0, 50, …)
    epochsRun * evalPair + // accuracy after each epoch
    trainBatches +
    valBatches +
    testBatches; // final full-set accuracies
  return { steps, forwards };
}

export interface ExperimentBenchRow {
  row: number;
  name: string;
  oursSeconds: number;
  path: string;
  testAcc: number;
  torchKey: string;
  steps: number;
  forwards: number;
  torchStepSeconds: number;
  torchForwardSeconds: number;
  torchSeconds: number;
  ratio: number;
}

/** The rows of the bench as ExperimentRow values. */
export function benchExperimentRows(only?: string): ExperimentRow[] {
  const all: readonly number[] = BENCH_EXPERIMENT_ROWS;
  if (only === undefined) return all.map((n) => EXPERIMENTS.find((r) => r.row === n)!);
  const chosen = only.split(",").map((x) => Number(x.trim()));
  const bad = chosen.filter((n) => !all.includes(n));
  if (!chosen.length || bad.length)
    throw new Error(`--rows: choose among the bench's rows ${all.join(", ")} (got "${only}")`);
  return all.filter((n) => chosen.includes(n)).map((n) => EXPERIMENTS.find((r) => r.row === n)!);
}
