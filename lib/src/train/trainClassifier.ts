/**
 * Section 6.7: the book's training loop, `train_classifier_simple`, with its log lines.
 */
import type { DataLoader } from "../data/dataLoader";
import { ConfigError, UserError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import type { AdamW } from "./adamw";
import type { ClassifierRunner } from "../engine/trainers/runnerTypes";
import { PlainRunner } from "./runner";
import { calcAccuracyLoader, evaluateModel } from "./evaluate";
import { checkTrainingMemory } from "./memory";

/** Where training stands after a step (for progress bars). */
export interface TrainProgress {
  /** 1-based epoch and step within it. */
  epoch: number;
  numEpochs: number;
  step: number;
  stepsPerEpoch: number;
  globalStep: number;
  examplesSeen: number;
  /** Loss of the batch just trained on. */
  loss: number;
}

export interface TrainOptions {
  /** Book: 5. */
  numEpochs?: number;
  /** Evaluate every `evalFreq` steps (book: 50). */
  evalFreq?: number;
  /** Batches per evaluation and per epoch-end accuracy (book: 5). */
  evalIter?: number;
  /** Stop each epoch after this many steps (smoke runs); default: every batch. */
  maxStepsPerEpoch?: number;
  /**
   * Stop after this many optimizer steps in all (a quick check of a configuration): the epoch in progress
   * ends there with its accuracy line, and no further epoch starts. Default: no limit.
   */
  maxSteps?: number;
  /**
   * Gradient accumulation (the bonus experiments' `--accumulation_steps`, default 1): each batch's loss is
   * divided by it, and the optimizer steps every `accumulationSteps` batches and after an epoch's last batch.
   * Evaluations still come every `evalFreq` batches. Needs a runner that accumulates (the plain path).
   */
  accumulationSteps?: number;
  /** Book-format log lines (`Ep 1 (Step 000050): Train loss 0.617, Val loss 0.637`). */
  log?: (line: string) => void;
  /** Called after every step (see trainingProgress() for ready-made progress bars). */
  onProgress?: (p: TrainProgress) => void;
  /** Abort between steps (Ctrl-C, a notebook's stop flag): throws TrainingInterruptedError. */
  signal?: AbortSignal;
}

export interface TrainResult {
  /** Loss over `evalIter` batches at every evaluation. */
  trainLosses: number[];
  valLosses: number[];
  /** Accuracy (0–1) over `evalIter` batches after every epoch. */
  trainAccs: number[];
  valAccs: number[];
  examplesSeen: number;
  /** Optimizer steps taken (batches trained on, divided by the accumulation steps, rounded up per epoch). */
  steps: number;
  /** Batches trained on (the book's global_step + 1). */
  batches: number;
  /** Epochs begun (fewer than `numEpochs` when `maxSteps` stopped the run; the last one may be partial). */
  epochs: number;
  /** Global step of each evaluation. */
  evalSteps: number[];
  /** Wall-clock minutes of the loop (the book's `Training completed in 1.07 minutes.`). */
  minutes: number;
  /** Log lines, as printed. */
  logLines: string[];
}

/** Training stopped by its AbortSignal; nothing half-written is left behind. */
export class TrainingInterruptedError extends UserError {}

/** Checks an `accumulationSteps` setting. @throws ConfigError unless it is a positive integer. */
export function checkAccumulationSteps(n: number): number {
  if (!(Number.isSafeInteger(n) && n > 0))
    throw new ConfigError(`accumulationSteps must be a positive integer, got ${n}`);
  return n;
}

/** Checks a `maxSteps` setting. @throws ConfigError unless it is a positive integer. */
export function checkMaxSteps(maxSteps: number): number {
  if (!(Number.isSafeInteger(maxSteps) && maxSteps > 0))
    throw new ConfigError(`maxSteps must be a positive integer, got ${maxSteps}`);
  return maxSteps;
}

/** `Ep 1 (Step 000050): Train loss 0.617, Val loss 0.637` */
export function formatEvalLine(epoch: number, step: number, trainLoss: number, valLoss: number): string {
  return `Ep ${epoch} (Step ${String(step).padStart(6, "0")}): Train loss ${trainLoss.toFixed(3)}, Val loss ${valLoss.toFixed(3)}`;
}

/** `Training accuracy: 70.00% | Validation accuracy: 72.50%` */
export function formatAccuracyLine(trainAcc: number, valAcc: number): string {
  return `Training accuracy: ${(trainAcc * 100).toFixed(2)}% | Validation accuracy: ${(valAcc * 100).toFixed(2)}%`;
}

/**
 * Fine-tunes with one AdamW step per batch; every `evalFreq` steps logs the train/val loss over
 * `evalIter` batches, after each epoch the train/val accuracy over `evalIter` batches, at the end the
 * minutes taken; `maxSteps` ends the run early. Evaluations iterate the shuffled training loader, which (as in PyTorch) advances its
 * shuffle generator: a fresh loader with the same seed gives the same run and the same log.
 * Book: train_classifier_simple, 6.7.
 *
 * @param model the classifier (run by the plain runner with `optimizer`), or a runner from
 *   createRunner (which already holds its optimizer; then omit `optimizer`).
 * @returns losses, accuracies, examples seen, minutes and the log lines.
 * @throws TrainingInterruptedError when `opts.signal` aborts; ConfigError for a `maxSteps` that is not a positive
 *   integer; InsufficientMemoryError when the plain path's estimate (train/memory.ts) does not fit this machine.
 */
export async function trainClassifierSimple(
  model: GPTModel,
  trainLoader: DataLoader,
  valLoader: DataLoader,
  optimizer: AdamW,
  opts?: TrainOptions,
): Promise<TrainResult>;
export async function trainClassifierSimple(
  runner: ClassifierRunner,
  trainLoader: DataLoader,
  valLoader: DataLoader,
  opts?: TrainOptions,
): Promise<TrainResult>;
export async function trainClassifierSimple(
  model: GPTModel | ClassifierRunner,
  trainLoader: DataLoader,
  valLoader: DataLoader,
  optOrOpts?: AdamW | TrainOptions,
  maybeOpts?: TrainOptions,
): Promise<TrainResult> {
  const isRunner = "kind" in model;
  const optimizer = optOrOpts !== undefined && "step" in optOrOpts ? optOrOpts : undefined;
  const opts: TrainOptions = (optimizer ? maybeOpts : (optOrOpts as TrainOptions | undefined)) ?? {};
  if (!isRunner && !optimizer)
    throw new TypeError(
      "trainClassifierSimple(model, trainLoader, valLoader, optimizer, opts): the optimizer is missing",
    );
  const runner: ClassifierRunner = isRunner ? model : new PlainRunner(model, optimizer);
  // The plain path's tape and optimizer state grow with what trains: stop before a step the heap cannot hold.
  if (runner instanceof PlainRunner)
    checkTrainingMemory(runner.model, runner, {
      batchSize: trainLoader.batchSize,
      seqLen: trainLoader.dataset.maxLength,
      accumulation: (opts.accumulationSteps ?? 1) > 1,
    });
  const numEpochs = opts.numEpochs ?? 5,
    evalFreq = opts.evalFreq ?? 50,
    evalIter = opts.evalIter ?? 5,
    maxSteps = opts.maxSteps ?? Infinity,
    accumulation = checkAccumulationSteps(opts.accumulationSteps ?? 1);
  if (opts.maxSteps !== undefined) checkMaxSteps(opts.maxSteps);
  const r: TrainResult = {
    trainLosses: [],
    valLosses: [],
    trainAccs: [],
    valAccs: [],
    examplesSeen: 0,
    steps: 0,
    batches: 0,
    epochs: 0,
    evalSteps: [],
    minutes: 0,
    logLines: [],
  };
  const log = (line: string) => {
    r.logLines.push(line);
    opts.log?.(line);
  };
  const start = Date.now();
  let globalStep = -1;
  const steps = Math.min(trainLoader.length, opts.maxStepsPerEpoch ?? Infinity);
  for (let epoch = 1; epoch <= numEpochs && r.steps < maxSteps; epoch++) {
    r.epochs = epoch;
    let step = 0;
    for (const batch of trainLoader) {
      if (step >= steps || r.steps >= maxSteps) break;
      // Let the event loop run (signal handlers, timers, progress output): tfjs work resolves as microtasks only.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (opts.signal?.aborted)
        throw new TrainingInterruptedError(`Training interrupted in epoch ${epoch} after ${globalStep + 1} steps`);
      step++;
      let loss: number;
      if (accumulation === 1)
        loss = await runner.trainStep(batch); // zero_grad, calcLossBatch, backward, step
      else {
        // The bonus script: loss /= accumulation_steps; backward; step and zero_grad every N batches and at the epoch's end.
        const update = step % accumulation === 0 || step === steps;
        loss = await runner.trainStep(batch, { lossScale: 1 / accumulation, update });
        if (!update) r.steps--;
      }
      r.examplesSeen += batch.batchSize;
      r.steps++;
      r.batches++;
      globalStep++;
      opts.onProgress?.({
        epoch,
        numEpochs,
        step,
        stepsPerEpoch: steps,
        globalStep,
        examplesSeen: r.examplesSeen,
        loss,
      });
      if (globalStep % evalFreq === 0) {
        const { trainLoss, valLoss } = await evaluateModel(runner, trainLoader, valLoader, evalIter);
        r.trainLosses.push(trainLoss);
        r.valLosses.push(valLoss);
        r.evalSteps.push(globalStep);
        log(formatEvalLine(epoch, globalStep, trainLoss, valLoss));
      }
    }
    const trainAcc = await calcAccuracyLoader(trainLoader, runner, { numBatches: evalIter });
    const valAcc = await calcAccuracyLoader(valLoader, runner, { numBatches: evalIter });
    log(formatAccuracyLine(trainAcc, valAcc));
    r.trainAccs.push(trainAcc);
    r.valAccs.push(valAcc);
  }
  if (r.batches < numEpochs * steps) log(`Stopped after ${r.steps} optimizer steps (max steps ${maxSteps})`);
  r.minutes = (Date.now() - start) / 60000;
  log(`Training completed in ${r.minutes.toFixed(2)} minutes.`);
  return r;
}
