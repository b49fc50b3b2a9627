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
import { IMDB_CLASS_NAMES, prepareImdbData } from "../data/imdb";
import type { DataSplit } from "../data/balance";
import { SpamDataset } from "../data/spamDataset";
import { DataLoader } from "../data/dataLoader";
import { ConfigError } from "../errors";
import { TINY_GPT2_DIR } from "../assets";
import { GPTModel } from "../model/gptModel";
import { modelConfig } from "../model/config";
import { READOUT_CHOICES, type ReadoutKind } from "../model/gpt";
import { isModelSize, loadPretrainedGpt2, openWeights } from "../weights/pretrained";
import { createProgress, type Progress } from "../util/progress";
import { checkTrainable, prepareClassifier, type TrainableLayers } from "./classifier";
import { AdamW } from "./adamw";
import { createRunner } from "./createRunner";
import { checkTrainableSetFits, checkTrainingMemory } from "./memory";
import { calcAccuracyLoader, calcLossLoader } from "./evaluate";
import {
  checkAccumulationSteps,
  checkMaxSteps,
  trainClassifierSimple,
  type TrainOptions,
  type TrainResult,
} from "./trainClassifier";
import { trainingProgress } from "./progress";
import { loadClassifier, saveClassifier } from "./checkpoint";
import { saveTrainingReport, type Evaluation } from "./report";
import { mergeLora } from "../model/lora";
import { readableOnHost } from "../webgpuAdapter";
import { prepareLoraClassifier, resolveLoraOptions, saveLoraAdapter, type LoraOptions } from "./lora";
import {
  preparePromptTuningClassifier,
  resolvePromptTuningOptions,
  saveSoftPrompt,
  type PromptTuningOptions,
} from "./promptTuning";

/** The book's schedule (5 epochs, eval every 50 steps over 5 batches), or a few steps in smoke mode. */
export function trainingSchedule(
  smoke: boolean,
): Required<Pick<TrainOptions, "numEpochs" | "evalFreq" | "evalIter">> & Pick<TrainOptions, "maxStepsPerEpoch"> {
  return smoke
    ? { numEpochs: 2, evalFreq: 3, evalIter: 2, maxStepsPerEpoch: 6 }
    : { numEpochs: 5, evalFreq: 50, evalIter: 5 };
}

/**
 * The IMDb bonus's schedule (train_gpt.py: 1 epoch, eval every 50 steps over 20 batches, and the epoch's
 * accuracy over 20 batches), or a few steps in smoke mode.
 */
export function imdbTrainingSchedule(
  smoke: boolean,
): Required<Pick<TrainOptions, "numEpochs" | "evalFreq" | "evalIter">> & Pick<TrainOptions, "maxStepsPerEpoch"> {
  return smoke
    ? { numEpochs: 1, evalFreq: 2, evalIter: 2, maxStepsPerEpoch: 3 }
    : { numEpochs: 1, evalFreq: 50, evalIter: 20 };
}

/** The data sets fine-tuning reads: the chapter's SMS messages, or the IMDb bonus's movie reviews. */
export type FinetuneDataset = "sms" | "imdb";

/** The IMDb bonus's default context length (train_gpt.py's `--context_length 256`). */
export const IMDB_CONTEXT_LENGTH = 256;

/** How the loaders batch and pad (the bonus experiments' `--batch_size`, `--no_padding`, `--context_length`). */
export interface SpamLoaderOptions {
  /** Texts per batch (default 8, the book's). */
  batchSize?: number;
  /** Right-pad the texts (default true); false keeps each text at its length (needs batchSize 1). */
  padding?: boolean;
  /** Pad and truncate every split to this length (default: the longest training text; not without padding). */
  maxLength?: number;
}

/**
 * The three loaders of section 6.3 (batch 8; training shuffled with seed 123 and drop_last). Validation and
 * test are padded (and truncated) to the training set's length, or all three to `maxLength`; without padding
 * each text keeps its length.
 */
export function createSpamLoaders(
  files: { train: string; validation: string; test: string },
  opts: SpamLoaderOptions = {},
): {
  trainDataset: SpamDataset;
  valDataset: SpamDataset;
  testDataset: SpamDataset;
  trainLoader: DataLoader;
  valLoader: DataLoader;
  testLoader: DataLoader;
} {
  const padding = opts.padding ?? true,
    batchSize = opts.batchSize ?? 8;
  const trainDataset = new SpamDataset(files.train, undefined, { maxLength: opts.maxLength, padding });
  const maxLength = padding ? trainDataset.maxLength : undefined;
  const valDataset = new SpamDataset(files.validation, undefined, { maxLength, padding });
  const testDataset = new SpamDataset(files.test, undefined, { maxLength, padding });
  return {
    trainDataset,
    valDataset,
    testDataset,
    trainLoader: new DataLoader(trainDataset, { batchSize, shuffle: true, dropLast: true, seed: 123 }),
    valLoader: new DataLoader(valDataset, { batchSize }),
    testLoader: new DataLoader(testDataset, { batchSize }),
  };
}

/**
 * The bonus experiments' variants (ch06/02_bonus_additional-experiments/additional_experiments.py), each an
 * option with the book's flag beside it; the defaults are the chapter's run.
 */
export interface FinetuneVariant {
  /** `--trainable_layers`: last-block (default), all, last-layer (the head only), last-two-blocks. */
  trainable?: TrainableLayers;
  /** `--trainable_token_pos` last (default) / first / flexible (the last real token); `--average_embeddings` = mean. */
  readout?: ReadoutKind;
  /**
   * `--context_length`: "longest" (default: the longest training text; validation and test padded or
   * truncated to it), "model" (the model's context, 1024) or a number of tokens.
   */
  contextLength?: "longest" | "model" | number;
  /** false = `--no_padding` (each text at its own length; needs batchSize 1). Default true. */
  padding?: boolean;
  /** `--batch_size` (default 8). */
  batchSize?: number;
  /**
   * `--accumulation_steps` (default 1): the loss is divided by it and the optimizer steps every N batches
   * and after each epoch's last batch.
   */
  accumulationSteps?: number;
  /** false = `--disable_causal_mask` (every position attends to every other). Default true. */
  causalMask?: boolean;
  /**
   * `--ignore_index` of the cross-entropy (default -100): rows with this label leave the loss's mean, as in
   * PyTorch's cross_entropy. With 0/1 labels only 0 or 1 change anything (the book's row 18, 50256, cannot);
   * the book's script parses the flag but never passes it to its training loop.
   */
  ignoreIndex?: number;
  /**
   * `--weights`: "pretrained" (default) or "random" (PyTorch's default initialisation, seeded; `weights` then
   * only names the size, the book's `--model_size`).
   */
  initWeights?: "pretrained" | "random";
  /** AdamW learning rate (default 5e-5, the book's). */
  lr?: number;
  /** AdamW weight decay (default 0.1, the book's). */
  weightDecay?: number;
}

/** A variant with every default filled in (what the run used; saved with the classifier). */
export type ResolvedFinetuneVariant = Required<FinetuneVariant>;

/**
 * Checks a variant and fills in the defaults (the chapter's run).
 * @throws ConfigError for a value out of range or a combination that makes no sense (no padding with batches
 *   of more than one text, or with a context length).
 */
export function resolveFinetuneVariant(v: FinetuneVariant = {}): ResolvedFinetuneVariant {
  const r: ResolvedFinetuneVariant = {
    trainable: v.trainable !== undefined ? checkTrainable(v.trainable) : "last-block",
    readout: v.readout ?? "last",
    contextLength: v.contextLength ?? "longest",
    padding: v.padding ?? true,
    batchSize: v.batchSize ?? 8,
    accumulationSteps: v.accumulationSteps ?? 1,
    causalMask: v.causalMask ?? true,
    ignoreIndex: v.ignoreIndex ?? -100,
    initWeights: v.initWeights ?? "pretrained",
    lr: v.lr ?? 5e-5,
    weightDecay: v.weightDecay ?? 0.1,
  };
  if (!READOUT_CHOICES.includes(r.readout))
    throw new ConfigError(`readout must be one of ${READOUT_CHOICES.join(", ")}, got "${String(r.readout)}"`);
  const c = r.contextLength;
  if (!(c === "longest" || c === "model" || (Number.isSafeInteger(c) && c > 0)))
    throw new ConfigError(`contextLength must be "longest", "model" or a positive integer, got ${String(c)}`);
  if (!(Number.isSafeInteger(r.batchSize) && r.batchSize > 0))
    throw new ConfigError(`batchSize must be a positive integer, got ${r.batchSize}`);
  checkAccumulationSteps(r.accumulationSteps);
  if (!Number.isSafeInteger(r.ignoreIndex))
    throw new ConfigError(`ignoreIndex must be an integer, got ${r.ignoreIndex}`);
  if (r.initWeights !== "pretrained" && r.initWeights !== "random")
    throw new ConfigError(`initWeights must be "pretrained" or "random", got "${String(r.initWeights)}"`);
  if (!(Number.isFinite(r.lr) && r.lr > 0)) throw new ConfigError(`lr must be a positive number, got ${r.lr}`);
  if (!(Number.isFinite(r.weightDecay) && r.weightDecay >= 0))
    throw new ConfigError(`weightDecay must be a number ≥ 0, got ${r.weightDecay}`);
  if (!r.padding && r.batchSize !== 1)
    throw new ConfigError(
      `Without padding the texts of a batch differ in length, so the batch size must be 1 (the book's --no_padding --batch_size 1), got ${r.batchSize}; for the effect of a larger batch add accumulation steps (e.g. 8)`,
    );
  if (!r.padding && v.contextLength !== undefined && c !== "longest")
    throw new ConfigError(
      `A context length (${String(c)}) pads or truncates the texts; without padding each text keeps its own length`,
    );
  return r;
}

export interface FinetuneOptions extends FinetuneVariant {
  /** GPT-2 size or path (default "124M"); with `initWeights: "random"`, the size to build (or a folder whose config to use). */
  weights?: string;
  /** Default: the schedule's (5, or 2 in smoke mode). */
  epochs?: number;
  /** Stop after this many optimizer steps (then evaluate and save as usual): a quick check of a configuration. */
  maxSteps?: number;
  /** The data split: the chapter's (default) or the bonus experiments script's (book: create_dataset_csvs in ch06/02). */
  split?: DataSplit;
  /**
   * "sms" (default): the chapter's SMS Spam Collection; "imdb": the IMDb bonus's movie reviews (ch06/03,
   * train_gpt.py: the 35,000 / 5,000 / 10,000 split, context length 256 unless given, 1 epoch, evaluations
   * over 20 batches; default output folder <dataDir>/imdb-classifier).
   */
  dataset?: FinetuneDataset;
  /** Output folder (default <dataDir>/review-classifier, or <dataDir>/imdb-classifier for IMDb). */
  outDir?: string;
  /** "auto" uses the fastest exact path for the configuration: fast, else native (ONNX Runtime), else plain. */
  path?: "auto" | "plain" | "fast" | "native";
  /**
   * Fast path: shallower frozen-prefix depths to save in <dataDir>/cache as well, from the same pass, for a later
   * run that trains more blocks on the same texts (runExperiments passes what its later rows need).
   */
  keepPrefixDepths?: readonly number[];
  /** Default: settings.smoke. */
  smoke?: boolean;
  log?: (line: string) => void;
  /** Progress bars (text on stderr, or inline in a notebook); default true. */
  progress?: boolean;
  signal?: AbortSignal;
  /**
   * LoRA instead of `trainable` (appendix E: every Linear wrapped, only A and B train; lr 8e-4 by default).
   * The classifier is saved merged, the adapter on its own in <outDir>/lora-adapter.
   */
  lora?: LoraOptions;
  /**
   * Prompt tuning instead of `trainable`: a soft prompt of n virtual tokens, everything else frozen (lr 1e-2
   * by default). The classifier is saved with its prompt, the prompt also on its own in <outDir>/soft-prompt.
   */
  promptTuning?: PromptTuningOptions;
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
 * A GPT-2 of a size (or of the config in a weights folder) with PyTorch's default initialisation under seed 123
 * (the bonus experiments' `--weights random`: `torch.manual_seed(123)` before `GPTModel(BASE_CONFIG)`).
 * `frozen` builds it for training part of it (frozen weights as arrays outside tfjs: GPTModelOptions).
 */
export function randomGpt2(
  weights: string,
  log?: (line: string) => void,
  opts: { frozen?: boolean } = {},
): { model: GPTModel; source: string } {
  const cfg = isModelSize(weights) ? modelConfig(weights) : openWeights(weights).config;
  log?.(`Random weights (PyTorch's default initialisation, seed 123) of shape ${cfg.nLayers} × ${cfg.embDim}`);
  return {
    model: new GPTModel(cfg, { init: "pytorch", seed: 123, frozen: opts.frozen }),
    source: `random (${isModelSize(weights) ? weights : `shape of ${weights}`})`,
  };
}

/**
 * Runs sections 6.2–6.8 and saves the classifier with metrics, log and plots in `outDir`.
 * Nothing is written before training has finished (an interrupted run leaves no partial model).
 * @throws ConfigError, DownloadError, DataFormatError for user-fixable problems; TrainingInterruptedError on abort.
 */
export async function finetuneClassifier(settings: Settings, o: FinetuneOptions = {}): Promise<FinetuneResult> {
  const log = o.log ?? (() => {});
  const smoke = o.smoke ?? settings.smoke;
  const imdb = (o.dataset ?? "sms") === "imdb";
  if (o.dataset !== undefined && o.dataset !== "sms" && o.dataset !== "imdb")
    throw new ConfigError(`dataset must be "sms" or "imdb", got "${String(o.dataset)}"`);
  if (imdb && o.split !== undefined && o.split !== "chapter")
    throw new ConfigError(
      "The IMDb data has one split (the bonus's 35,000 / 5,000 / 10,000); --split is for the SMS data",
    );
  // train_gpt.py pads and truncates to 256 tokens unless told otherwise (not without padding: each text keeps its length).
  if (imdb && o.contextLength === undefined && o.padding !== false) o = { ...o, contextLength: IMDB_CONTEXT_LENGTH };
  const schedule = {
    ...(imdb ? imdbTrainingSchedule(smoke) : trainingSchedule(smoke)),
    ...(o.epochs !== undefined ? { numEpochs: o.epochs } : {}),
    ...(o.maxSteps !== undefined ? { maxSteps: checkMaxSteps(o.maxSteps) } : {}), // checked before any work
  };
  const v = resolveFinetuneVariant(o); // checked before any work
  const trainable = v.trainable;
  const lora = o.lora ? resolveLoraOptions(o.lora) : undefined;
  const prompt = o.promptTuning ? resolvePromptTuningOptions(o.promptTuning) : undefined;
  if (lora && prompt) throw new ConfigError("Choose LoRA or prompt tuning, not both");
  const method = lora ? "lora" : prompt ? "prompt-tuning" : trainable;
  // An explicit lr wins; else LoRA's and prompt tuning's own defaults (appendix E: 8e-4), else the book's 5e-5.
  const lr = o.lr !== undefined ? v.lr : (lora?.lr ?? prompt?.lr ?? v.lr);
  const outDir = path.resolve(o.outDir ?? path.join(settings.dataDir, imdb ? "imdb-classifier" : "review-classifier"));
  const showProgress = o.progress ?? true;

  // 6.2: the data (or the IMDb bonus's download_prepare_dataset.py)
  const files = imdb
    ? (await prepareImdbData(settings.dataDir, { urls: settings.imdbUrls, log, layouts: ["bonus"] })).bonus
    : (await prepareSpamData(settings.dataDir, { urls: settings.smsSpamUrls, log, split: o.split })).files;

  // 6.4–6.5: pretrained GPT-2 (or PyTorch-style random weights of its shape) with a new 2-class head, built
  // frozen: the weights that do not train stay outside tfjs unless a tfjs computation asks for them
  const { model, source } =
    v.initWeights === "random"
      ? randomGpt2(
          smoke && isModelSize(o.weights ?? "124M") ? path.join(TINY_GPT2_DIR, "124M") : (o.weights ?? "124M"),
          log,
          { frozen: true },
        ) // smoke: the tiny model's shape
      : await loadPretrainedGpt2({
          weights: o.weights ?? "124M",
          dataDir: settings.dataDir,
          baseUrls: settings.gpt2BaseUrls,
          log,
          frozen: true,
        });
  try {
    if (typeof v.contextLength === "number" && v.contextLength > model.cfg.contextLength)
      throw new ConfigError(
        `A context length of ${v.contextLength} tokens is more than the model's ${model.cfg.contextLength} positions`,
      );
    // 6.3: datasets and loaders, padded to the longest training text (or the variant's length, or not at all)
    const d = createSpamLoaders(
      { train: files.train.path, validation: files.validation.path, test: files.test.path },
      {
        batchSize: v.batchSize,
        padding: v.padding,
        maxLength:
          v.contextLength === "model"
            ? model.cfg.contextLength
            : v.contextLength === "longest"
              ? undefined
              : v.contextLength,
      },
    );
    log(
      `${d.trainLoader.length} training batches, ${d.valLoader.length} validation batches, ${d.testLoader.length} test batches (${v.padding ? "max length" : "no padding, longest"} ${d.trainDataset.maxLength})`,
    );
    if (d.trainDataset.maxLength > model.cfg.contextLength) {
      throw new ConfigError(
        `The longest training text has ${d.trainDataset.maxLength} tokens, more than the model's context length ${model.cfg.contextLength}`,
      );
    }
    if (d.trainLoader.length === 0)
      throw new ConfigError(`The batch size ${v.batchSize} is larger than the ${d.trainDataset.length} training texts`);
    if (lora) {
      log(`LoRA: rank ${lora.rank}, alpha ${lora.alpha}, scaling ${lora.scaling}, head ${lora.head}, lr ${lr}`);
      prepareLoraClassifier(model, { ...lora, numClasses: 2, seed: 123, log });
    } else if (prompt) {
      preparePromptTuningClassifier(model, { ...prompt, numClasses: 2, seed: 123, log });
    } else {
      // Before the trainable parameters become tf.Variables: a set no path can hold is one clear error, not an abort
      checkTrainableSetFits(model.cfg, trainable, { batchSize: v.batchSize, seqLen: d.trainDataset.maxLength });
      const counts = prepareClassifier(model, { numClasses: 2, trainable, seed: 123 });
      log(
        `Total parameters: ${counts.total.toLocaleString("en-US")}; trainable (${trainable}): ${counts.trainable.toLocaleString("en-US")}`,
      );
    }
    const optimizer = new AdamW(model.trainableParams(), { lr, weightDecay: v.weightDecay });
    let prefixBar: Progress | undefined;
    const sequences = [d.trainDataset, d.valDataset, d.testDataset].flatMap((x) => x.encodedTexts);
    const runner = await createRunner(model, optimizer, {
      path: o.path ?? "auto",
      sequences,
      needs: {
        head: { readout: v.readout, causal: v.causalMask, ignoreIndex: v.ignoreIndex },
        variableLength: !v.padding,
      },
      cacheDir: path.join(settings.dataDir, "cache"),
      keepPrefixDepths: o.keepPrefixDepths,
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
        trainable: lora || prompt ? undefined : trainable,
        accumulation: v.accumulationSteps > 1,
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
        accumulationSteps: v.accumulationSteps,
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

      // 6.8: save the model, metrics, log and plots (with LoRA: the adapter on its own, then the merged classifier)
      await readableOnHost(model.tfjsTensors()); // WebGPU: the writers below read synchronously
      if (lora) {
        saveLoraAdapter(path.join(outDir, "lora-adapter"), model, {
          head: lora.head,
          maxLength: d.trainDataset.maxLength,
        });
        mergeLora(model);
        await readableOnHost(model.tfjsTensors());
      }
      if (prompt)
        saveSoftPrompt(path.join(outDir, "soft-prompt"), model, {
          init: prompt.init,
          head: prompt.head,
          maxLength: d.trainDataset.maxLength,
        });
      saveClassifier(outDir, model, {
        maxLength: d.trainDataset.maxLength,
        ...(imdb ? { classNames: IMDB_CLASS_NAMES } : {}),
        info: {
          baseWeights: source,
          dataset: imdb ? "imdb" : "sms",
          trainable: method,
          ...(lora ? { lora } : {}),
          ...(prompt ? { promptTuning: prompt } : {}),
          epochs: train.epochs,
          steps: train.steps,
          smoke,
          runner: runner.kind,
          variant: { ...v, lr },
        },
      });
      const pngs = await saveTrainingReport(outDir, {
        initial,
        final,
        train,
        numEpochs: train.epochs,
        runner: runner.kind,
        variant: { ...v, lr },
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
