/**
 * The chapter's fine-tuning run as the CLI does it (like the book's gpt_class_finetune.py, plus the
 * notebook's initial and final evaluations): data → GPT-2 → head swap → train → evaluate → save.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Settings } from "../config";
import { writeFileAtomic } from "../util/atomic";
import { createProgress } from "../util/progress";
import { prepareSpamData } from "../data/prepare";
import { SpamDataset } from "../data/spamDataset";
import { DataLoader } from "../data/dataLoader";
import { loadPretrainedGpt2 } from "../weights/pretrained";
import { prepareClassifier, type TrainableLayers } from "../train/classifier";
import { AdamW } from "../train/adamw";
import { createRunner } from "../train/runner";
import { calcAccuracyLoader, calcLossLoader } from "../train/evaluate";
import { trainClassifierSimple, type TrainResult } from "../train/trainClassifier";
import { saveClassifier } from "../train/checkpoint";
import * as plot from "../plot";

export interface FinetuneFlowOptions {
  weights: string;
  epochs: number;
  trainable: TrainableLayers;
  outDir: string;
  /** "auto" uses the fast exact path when possible. */
  path: "auto" | "plain" | "fast";
  smoke: boolean;
  log: (line: string) => void;
}

export interface FinetuneFlowResult {
  outDir: string;
  initial: { trainAcc: number; valAcc: number; testAcc: number; trainLoss: number; valLoss: number; testLoss: number };
  final: { trainAcc: number; valAcc: number; testAcc: number };
  train: TrainResult;
  minutes: number;
  runner: string;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** Evenly spaced values from 0 to `end` (torch.linspace). */
function linspace(end: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : (end * i) / (n - 1)));
}

export async function runFinetune(settings: Settings, o: FinetuneFlowOptions): Promise<FinetuneFlowResult> {
  const log = o.log;
  // 6.2–6.3: data and loaders
  const prepared = await prepareSpamData(settings.dataDir, { urls: settings.smsSpamUrls, log });
  const trainDataset = new SpamDataset(prepared.files.train.path);
  const valDataset = new SpamDataset(prepared.files.validation.path, undefined, { maxLength: trainDataset.maxLength });
  const testDataset = new SpamDataset(prepared.files.test.path, undefined, { maxLength: trainDataset.maxLength });
  const trainLoader = new DataLoader(trainDataset, { batchSize: 8, shuffle: true, dropLast: true, seed: 123 });
  const valLoader = new DataLoader(valDataset, { batchSize: 8 });
  const testLoader = new DataLoader(testDataset, { batchSize: 8 });
  log(`${trainLoader.length} training batches, ${valLoader.length} validation batches, ${testLoader.length} test batches (max length ${trainDataset.maxLength})`);

  // 6.4–6.5: pretrained GPT-2 with a new 2-class head
  const { model, source } = await loadPretrainedGpt2({ weights: o.weights, dataDir: settings.dataDir, baseUrls: settings.gpt2BaseUrls, log });
  try {
    if (trainDataset.maxLength > model.cfg.contextLength) throw new Error(`Dataset length ${trainDataset.maxLength} exceeds the model's context length ${model.cfg.contextLength}`);
    const counts = prepareClassifier(model, { numClasses: 2, trainable: o.trainable, seed: 123 });
    log(`Total parameters: ${counts.total.toLocaleString("en-US")}; trainable (${o.trainable}): ${counts.trainable.toLocaleString("en-US")}`);
    const optimizer = new AdamW(model.trainableParams(), { lr: 5e-5, weightDecay: 0.1 });

    const sequences = [trainDataset, valDataset, testDataset].flatMap((d) => d.encodedTexts);
    const prefixBar = createProgress({ label: "Frozen layers (once per text)", total: sequences.length, unit: "items" });
    const runner = await createRunner(model, optimizer, {
      path: o.path, sequences, cacheDir: path.join(settings.dataDir, "cache"), log,
      onPrefixProgress: (done) => prefixBar.update(done),
    });
    prefixBar.finish();
    log(`Training path: ${runner.kind === "fast" ? "fast exact (frozen prefix cached, last-position suffix)" : "plain (every layer, every step)"}`);

    // 6.6: before fine-tuning (book: 46.25% / 45.00% / 48.75%, losses 2.453 / 2.583 / 2.322)
    const initial = {
      trainAcc: await calcAccuracyLoader(trainLoader, runner, { numBatches: 10 }),
      valAcc: await calcAccuracyLoader(valLoader, runner, { numBatches: 10 }),
      testAcc: await calcAccuracyLoader(testLoader, runner, { numBatches: 10 }),
      trainLoss: await calcLossLoader(trainLoader, runner, { numBatches: 5 }),
      valLoss: await calcLossLoader(valLoader, runner, { numBatches: 5 }),
      testLoss: await calcLossLoader(testLoader, runner, { numBatches: 5 }),
    };
    log(`Training accuracy: ${pct(initial.trainAcc)}\nValidation accuracy: ${pct(initial.valAcc)}\nTest accuracy: ${pct(initial.testAcc)}`);
    log(`Training loss: ${initial.trainLoss.toFixed(3)}\nValidation loss: ${initial.valLoss.toFixed(3)}\nTest loss: ${initial.testLoss.toFixed(3)}`);

    // 6.7: training (book: 5 epochs, eval_freq 50, eval_iter 5)
    const start = Date.now();
    let bar = createProgress({ label: "Epoch 1", total: trainLoader.length, unit: "items", stream: process.stderr.isTTY ? process.stderr : null });
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once("SIGINT", onSigint);
    let train: TrainResult;
    try {
      train = await trainClassifierSimple(runner, trainLoader, valLoader, {
        numEpochs: o.epochs, evalFreq: o.smoke ? 3 : 50, evalIter: o.smoke ? 2 : 5, maxStepsPerEpoch: o.smoke ? 6 : undefined,
        log, signal: controller.signal,
        onStep: (epoch, step, steps, loss) => {
          if (step === 1 && epoch > 1) { bar.finish(); bar = createProgress({ label: `Epoch ${epoch}`, total: steps, unit: "items", stream: process.stderr.isTTY ? process.stderr : null }); }
          bar.status(`loss ${loss.toFixed(3)}`);
          bar.update(step);
        },
      });
    } finally {
      bar.finish();
      process.removeListener("SIGINT", onSigint);
    }
    const minutes = (Date.now() - start) / 60000;
    log(`Training completed in ${minutes.toFixed(2)} minutes.`);

    // Full-set accuracies (the training loader drops its last 5 examples, as in the book: 1040 of 1045)
    const final = {
      trainAcc: await calcAccuracyLoader(trainLoader, runner),
      valAcc: await calcAccuracyLoader(valLoader, runner),
      testAcc: await calcAccuracyLoader(testLoader, runner),
    };
    log(`Training accuracy: ${pct(final.trainAcc)}\nValidation accuracy: ${pct(final.valAcc)}\nTest accuracy: ${pct(final.testAcc)}`);
    await runner.finish();

    // 6.8: save model, metrics, log and plots
    fs.mkdirSync(o.outDir, { recursive: true });
    saveClassifier(o.outDir, model, { maxLength: trainDataset.maxLength, info: { baseWeights: source, trainable: o.trainable, epochs: o.epochs, smoke: o.smoke } });
    writeFileAtomic(path.join(o.outDir, "metrics.json"), JSON.stringify({ initial, final, minutes, runner: runner.kind, ...train, logLines: undefined }, null, 2) + "\n");
    writeFileAtomic(path.join(o.outDir, "log.txt"), train.logLines.join("\n") + "\n");
    const epochsSeen = linspace(o.epochs, train.trainLosses.length), examplesSeen = linspace(train.examplesSeen, train.trainLosses.length);
    const figs = {
      "loss-plot": plot.plotValues(epochsSeen, examplesSeen, train.trainLosses, train.valLosses, "loss"),
      "accuracy-plot": plot.plotValues(linspace(o.epochs, train.trainAccs.length), linspace(train.examplesSeen, train.trainAccs.length), train.trainAccs, train.valAccs, "accuracy"),
    };
    for (const [name, fig] of Object.entries(figs)) {
      plot.writePlotHtml(path.join(o.outDir, `${name}.html`), fig, name);
      if (await plot.writePlotPng(path.join(o.outDir, `${name}.png`), fig)) log(`Wrote ${path.join(o.outDir, `${name}.png`)}`);
    }
    log(`Saved the classifier, metrics, log and plots in ${o.outDir}`);
    return { outDir: o.outDir, initial, final, train, minutes, runner: runner.kind };
  } finally {
    model.dispose();
  }
}
