/**
 * Section 6.6: accuracy and loss on the last token's logits, with the book's `num_batches` semantics
 * (the first min(numBatches, len(loader)) batches; NaN loss for an empty loader). The loss of one batch,
 * calcLossBatch (the book's calc_loss_batch), is in runner.ts, beside the training step that also calls it.
 */
import type { DataLoader, Batch } from "../data/dataLoader";
import type { ClassifierRunner } from "../engine/trainers/runnerTypes";
import type { GPTModel } from "../model/gptModel";
import { calcLossBatch, PlainRunner } from "./runner";

/** A model, or a runner that already wraps one (e.g. the fast path). */
export type ModelOrRunner = GPTModel | ClassifierRunner;

function runnerOf(m: ModelOrRunner): ClassifierRunner {
  return "kind" in m ? m : new PlainRunner(m);
}

function* firstBatches(loader: DataLoader, numBatches?: number): Generator<Batch> {
  const n = numBatches === undefined ? loader.length : Math.min(numBatches, loader.length);
  let i = 0;
  for (const batch of loader) {
    // iterating a shuffled loader draws a new order, as in PyTorch
    if (i++ >= n) break;
    yield batch;
  }
}

/** Average batch loss over the first `numBatches` batches (all by default). Book: calc_loss_loader, 6.6. */
export async function calcLossLoader(
  loader: DataLoader,
  model: ModelOrRunner,
  opts: { numBatches?: number } = {},
): Promise<number> {
  if (loader.length === 0) return NaN;
  const runner = runnerOf(model);
  let total = 0,
    n = 0;
  for (const batch of firstBatches(loader, opts.numBatches)) {
    total += await calcLossBatch(batch, runner);
    n++;
  }
  return total / n;
}

/** Share of correct argmax predictions over the first `numBatches` batches. Book: calc_accuracy_loader, 6.6. */
export async function calcAccuracyLoader(
  loader: DataLoader,
  model: ModelOrRunner,
  opts: { numBatches?: number } = {},
): Promise<number> {
  const runner = runnerOf(model);
  let correct = 0,
    examples = 0;
  for (const batch of firstBatches(loader, opts.numBatches)) {
    const logits = await runner.logits(batch);
    const C = logits.length / batch.batchSize;
    for (let b = 0; b < batch.batchSize; b++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[b * C + c] > logits[b * C + best]) best = c;
      if (best === batch.labels[b]) correct++;
    }
    examples += batch.batchSize;
  }
  return examples ? correct / examples : NaN;
}

/** Train and validation loss over `evalIter` batches each. Book: evaluate_model, 6.7. */
export async function evaluateModel(
  model: ModelOrRunner,
  trainLoader: DataLoader,
  valLoader: DataLoader,
  evalIter: number,
): Promise<{ trainLoss: number; valLoss: number }> {
  const trainLoss = await calcLossLoader(trainLoader, model, { numBatches: evalIter });
  const valLoss = await calcLossLoader(valLoader, model, { numBatches: evalIter });
  return { trainLoss, valLoss };
}
