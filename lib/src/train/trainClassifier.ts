/**
 * Section 6.7: the book's training loop, `train_classifier_simple`, with its log lines.
 */
import type { DataLoader } from "../data/dataLoader";
import type { ClassifierRunner } from "./runner";
import { calcAccuracyLoader, evaluateModel } from "./evaluate";

export interface TrainOptions {
  numEpochs?: number;
  /** Evaluate every `evalFreq` steps (book: 50). */
  evalFreq?: number;
  /** Batches per evaluation (book: 5). */
  evalIter?: number;
  /** Stop after this many steps per epoch (smoke runs); default: every batch. */
  maxStepsPerEpoch?: number;
  /** Book-format log lines (`Ep 1 (Step 000050): Train loss 0.617, Val loss 0.637`). */
  log?: (line: string) => void;
  /** Progress: (epoch, stepInEpoch, stepsPerEpoch, lastLoss). */
  onStep?: (epoch: number, step: number, steps: number, loss: number) => void;
  /** Abort between steps (Ctrl-C, a notebook's stop button). */
  signal?: AbortSignal;
}

export interface TrainResult {
  trainLosses: number[];
  valLosses: number[];
  trainAccs: number[];
  valAccs: number[];
  examplesSeen: number;
  /** Global step after each evaluation (for plots). */
  evalSteps: number[];
  /** Log lines, as printed. */
  logLines: string[];
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
 * Fine-tunes with one optimizer step per batch; every `evalFreq` steps logs train/val loss over
 * `evalIter` batches; after each epoch logs train/val accuracy over `evalIter` batches.
 * Book: train_classifier_simple, 6.7.
 * @param runner how batches run (createRunner: the fast exact path or the plain one) with its AdamW.
 */
export async function trainClassifierSimple(runner: ClassifierRunner, trainLoader: DataLoader, valLoader: DataLoader, opts: TrainOptions = {}): Promise<TrainResult> {
  const numEpochs = opts.numEpochs ?? 5, evalFreq = opts.evalFreq ?? 50, evalIter = opts.evalIter ?? 5;
  const r: TrainResult = { trainLosses: [], valLosses: [], trainAccs: [], valAccs: [], examplesSeen: 0, evalSteps: [], logLines: [] };
  const log = (line: string) => { r.logLines.push(line); opts.log?.(line); };
  let globalStep = -1;
  const steps = Math.min(trainLoader.length, opts.maxStepsPerEpoch ?? Infinity);
  for (let epoch = 0; epoch < numEpochs; epoch++) {
    let i = 0;
    for (const batch of trainLoader) {
      if (i >= steps) break;
      if (opts.signal?.aborted) throw new Error("Training interrupted");
      const loss = await runner.trainStep(batch);
      r.examplesSeen += batch.batchSize;
      globalStep++;
      i++;
      opts.onStep?.(epoch + 1, i, steps, loss);
      if (globalStep % evalFreq === 0) {
        const { trainLoss, valLoss } = await evaluateModel(runner, trainLoader, valLoader, evalIter);
        r.trainLosses.push(trainLoss);
        r.valLosses.push(valLoss);
        r.evalSteps.push(globalStep);
        log(formatEvalLine(epoch + 1, globalStep, trainLoss, valLoss));
      }
    }
    const trainAcc = await calcAccuracyLoader(trainLoader, runner, { numBatches: evalIter });
    const valAcc = await calcAccuracyLoader(valLoader, runner, { numBatches: evalIter });
    log(formatAccuracyLine(trainAcc, valAcc));
    r.trainAccs.push(trainAcc);
    r.valAccs.push(valAcc);
  }
  return r;
}
