/**
 * The chapter's fine-tuning run in one call (like the book's gpt_class_finetune.py, plus the
 * notebook's initial and final evaluations): data → GPT-2 → head swap → train → evaluate → save the
 * classifier, metrics.json, log.txt and the plots. Used by the CLI (`finetune`, `chapter`) and by
 * notebook 06 when no classifier exists yet.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Settings } from "../config";
import { prepareSpamData } from "../data/prepare";
import type { DataSplit } from "../data/balance";
import { SpamDataset } from "../data/spamDataset";
import { DataLoader } from "../data/dataLoader";
import { ConfigError } from "../errors";
import { loadPretrainedGpt2 } from "../weights/pretrained";
import { createProgress, type Progress } from "../util/progress";
import { prepareClassifier, type TrainableLayers } from "./classifier";
import { AdamW } from "./adamw";
import { createRunner } from "./createRunner";
import { checkTrainingMemory } from "./memory";
import { calcAccuracyLoader, calcLossLoader } from "./evaluate";
import { checkMaxSteps, trainClassifierSimple, type TrainOptions, type TrainResult } from "./trainClassifier";
import { trainingProgress } from "./progress";
import { loadClassifier, saveClassifier } from "./checkpoint";
import { saveTrainingReport, type Evaluation } from "./report";

/** The book's schedule (5 epochs, eval every 50 steps over 5 batches), or a few steps in smoke mode. */
export function trainingSchedule(
  smoke: boolean,
): Required<Pick<TrainOptions, "numEpochs" | "evalFreq" | "evalIter">> & Pick<TrainOptions, "maxStepsPerEpoch"> {
  return smoke
    ? { numEpochs: 2, evalFreq: 3, evalIter: 2, maxStepsPerEpoch: 6 }
    : { numEpochs: 5, evalFreq: 50, evalIter: 5 };
}

/** The three loaders of section 6.3 (batch 8; training shuffled with seed 123 and drop_last). */
export function createSpamLoaders(files: { train: string; validation: string; test: string }): {
  trainDataset: SpamDataset;
  valDataset: SpamDataset;
  testDataset: SpamDataset;
  trainLoader: DataLoader;
  valLoader: DataLoader;
  testLoader: DataLoader;
} {
  const trainDataset = new SpamDataset(files.train);
  const valDataset = new SpamDataset(files.validation, undefined, { maxLength: trainDataset.maxLength });
  const testDataset = new SpamDataset(files.test, undefined, { maxLength: trainDataset.maxLength });
  return {
    trainDataset,
    valDataset,
    testDataset,
    trainLoader: new DataLoader(trainDataset, { batchSize: 8, shuffle: true, dropLast: true, seed: 123 }),
    valLoader: new DataLoader(valDataset, { batchSize: 8 }),
    testLoader: new DataLoader(testDataset, { batchSize: 8 }),
  };
}

export interface FinetuneOptions {
  /** GPT-2 size or path (default "124M"). */
  weights?: string;
  /** Default: the schedule's (5, or 2 in smoke mode). */
  epochs?: number;
  /** Stop after this many optimizer steps (then evaluate and save as usual): a quick check of a configuration. */
  maxSteps?: number;
  trainable?: TrainableLayers;
  /** The data split: the chapter's (default) or the bonus experiments script's (book: create_dataset_csvs in ch06/02). */
  split?: DataSplit;
  /** Output folder (default <dataDir>/review-classifier). */
  outDir?: string;
  /** "auto" uses the exact fast path when available, else the native one (ONNX Runtime), else plain. */
  path?: "auto" | "plain" | "fast" | "native";
  /** Default: settings.smoke. */
  smoke?: boolean;
  log?: (line: string) => void;
  /** Progress bars (text on stderr, or inline in a notebook); default true. */
  progress?: boolean;
  signal?: AbortSignal;
}

export interface FinetuneResult {
  outDir: string;
  initial: Evaluation & { trainLoss: number; valLoss: number; testLoss: number };
  final: Evaluation;
  train: TrainResult;
  runner: string;
  /** PNG files written (none without Chromium). */
  pngs: string[];
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/**
 * Runs sections 6.2–6.8 and saves the classifier with metrics, log and plots in `outDir`.
 * Nothing is written before training has finished (an interrupted run leaves no partial model).
 * @throws ConfigError, DownloadError, DataFormatError for user-fixable problems; TrainingInterruptedError on abort.
 */
export async function finetuneClassifier(settings: Settings, o: FinetuneOptions = {}): Promise<FinetuneResult> {
  const log = o.log ?? (() => {});
  const smoke = o.smoke ?? settings.smoke;
  const schedule = {
    ...trainingSchedule(smoke),
    ...(o.epochs !== undefined ? { numEpochs: o.epochs } : {}),
    ...(o.maxSteps !== undefined ? { maxSteps: checkMaxSteps(o.maxSteps) } : {}), // checked before any work
  };
  const trainable = o.trainable ?? "last-block";
  const outDir = path.resolve(o.outDir ?? path.join(settings.dataDir, "review-classifier"));
  const showProgress = o.progress ?? true;

  // 6.2–6.3: data and loaders
  const prepared = await prepareSpamData(settings.dataDir, { urls: settings.smsSpamUrls, log, split: o.split });
  const d = createSpamLoaders({
    train: prepared.files.train.path,
    validation: prepared.files.validation.path,
    test: prepared.files.test.path,
  });
  log(
    `${d.trainLoader.length} training batches, ${d.valLoader.length} validation batches, ${d.testLoader.length} test batches (max length ${d.trainDataset.maxLength})`,
  );

  // 6.4–6.5: pretrained GPT-2 with a new 2-class head
  const { model, source } = await loadPretrainedGpt2({
    weights: o.weights ?? "124M",
    dataDir: settings.dataDir,
    baseUrls: settings.gpt2BaseUrls,
    log,
  });
  try {
    if (d.trainDataset.maxLength > model.cfg.contextLength) {
      throw new ConfigError(
        `The longest training text has ${d.trainDataset.maxLength} tokens, more than the model's context length ${model.cfg.contextLength}`,
      );
    }
    const counts = prepareClassifier(model, { numClasses: 2, trainable, seed: 123 });
    log(
      `Total parameters: ${counts.total.toLocaleString("en-US")}; trainable (${trainable}): ${counts.trainable.toLocaleString("en-US")}`,
    );
    const optimizer = new AdamW(model.trainableParams(), { lr: 5e-5, weightDecay: 0.1 });
    let prefixBar: Progress | undefined;
    const sequences = [d.trainDataset, d.valDataset, d.testDataset].flatMap((x) => x.encodedTexts);
    const runner = await createRunner(model, optimizer, {
      path: o.path ?? "auto",
      sequences,
      cacheDir: path.join(settings.dataDir, "cache"),
      log,
      onPrefixProgress: (done, total) => {
        if (!showProgress) return;
        prefixBar ??= createProgress({ label: "Frozen layers (once per text)", total, unit: "items" });
        prefixBar.update(done);
      },
    });
    prefixBar?.finish();
    log(
      `Training path: ${runner.kind === "fast" ? "fast exact (frozen prefix cached, last-position suffix)" : runner.kind === "native" ? "native (every layer on ONNX Runtime, forward and backward)" : "plain (every layer, every step)"}`,
    );
    try {
      // Before any evaluation or step: a configuration this machine cannot hold ends here, with one clear error.
      checkTrainingMemory(model, runner, {
        batchSize: d.trainLoader.batchSize,
        seqLen: d.trainDataset.maxLength,
        cachedTokens: sequences.reduce((a, s) => a + s.length, 0),
        trainable,
        log,
      });
      // 6.6: before fine-tuning (book: 46.25% / 45.00% / 48.75%, losses 2.453 / 2.583 / 2.322)
      const initial = {
        trainAcc: await calcAccuracyLoader(d.trainLoader, runner, { numBatches: 10 }),
        valAcc: await calcAccuracyLoader(d.valLoader, runner, { numBatches: 10 }),
        testAcc: await calcAccuracyLoader(d.testLoader, runner, { numBatches: 10 }),
        trainLoss: await calcLossLoader(d.trainLoader, runner, { numBatches: 5 }),
        valLoss: await calcLossLoader(d.valLoader, runner, { numBatches: 5 }),
        testLoss: await calcLossLoader(d.testLoader, runner, { numBatches: 5 }),
      };
      log(
        `Training accuracy: ${pct(initial.trainAcc)}\nValidation accuracy: ${pct(initial.valAcc)}\nTest accuracy: ${pct(initial.testAcc)}`,
      );
      log(
        `Training loss: ${initial.trainLoss.toFixed(3)}\nValidation loss: ${initial.valLoss.toFixed(3)}\nTest loss: ${initial.testLoss.toFixed(3)}`,
      );

      // 6.7: training
      const train = await trainClassifierSimple(runner, d.trainLoader, d.valLoader, {
        ...schedule,
        log,
        signal: o.signal,
        onProgress: showProgress ? trainingProgress() : undefined,
      });

      // Full-set accuracies (the training loader drops its last incomplete batch, as in the book: 1040 of 1045)
      const final = {
        trainAcc: await calcAccuracyLoader(d.trainLoader, runner),
        valAcc: await calcAccuracyLoader(d.valLoader, runner),
        testAcc: await calcAccuracyLoader(d.testLoader, runner),
      };
      log(
        `Training accuracy: ${pct(final.trainAcc)}\nValidation accuracy: ${pct(final.valAcc)}\nTest accuracy: ${pct(final.testAcc)}`,
      );
      await runner.finish(); // the fast path writes its trained values back into the model here

      // 6.8: save the model, metrics, log and plots
      saveClassifier(outDir, model, {
        maxLength: d.trainDataset.maxLength,
        info: { baseWeights: source, trainable, epochs: train.epochs, steps: train.steps, smoke, runner: runner.kind },
      });
      const pngs = await saveTrainingReport(outDir, {
        initial,
        final,
        train,
        numEpochs: train.epochs,
        runner: runner.kind,
        log,
      });
      log(`Saved the classifier, metrics, log and plots in ${outDir}`);
      return { outDir, initial, final, train, runner: runner.kind, pngs };
    } catch (err) {
      await runner.finish().catch(() => {});
      throw err;
    }
  } finally {
    model.dispose();
  }
}

/**
 * Loads the classifier in `outDir` (default <dataDir>/review-classifier), fine-tuning it first with
 * finetuneClassifier when there is none yet (so notebook 06 runs on its own).
 */
export async function loadOrTrainClassifier(
  settings: Settings,
  o: FinetuneOptions = {},
): Promise<ReturnType<typeof loadClassifier> & { dir: string }> {
  const dir = path.resolve(o.outDir ?? path.join(settings.dataDir, "review-classifier"));
  if (!fs.existsSync(path.join(dir, "model.safetensors"))) {
    o.log?.(
      `No classifier in ${dir} yet: fine-tuning one first${(o.smoke ?? settings.smoke) ? " (smoke mode: a few steps)" : " (the full chapter run)"}`,
    );
    await finetuneClassifier(settings, { ...o, outDir: dir });
  }
  return { ...loadClassifier(dir), dir };
}
