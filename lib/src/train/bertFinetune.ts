/**
 * The fine-tuning chapter's two BERT runs on IMDb end to end (what `npm start -- finetune --model bert-base-uncased
 * --dataset imdb` does): Hugging Face's layout of the data (25,000 / 25,000, or the 5,000 + 5,000 subsets), the
 * pretrained BERT with a new head, then either
 * - full fine-tuning with the Trainer and the chapter's TrainingArguments (lr 2e-5, batch 32 × accumulation 4,
 *   3 epochs, weight decay 0.01, evaluation and a checkpoint every epoch, the best model by accuracy at the end), or
 * - prompt tuning (20 virtual tokens, the rest frozen, batch 64 / 128, AdamW lr 1e-2, 3 epochs, the chapter's loop:
 *   train, then validation loss and accuracy each epoch).
 * The result is a folder `classify` reads: the BERT in Hugging Face's layout (config.json with IMDb's labels,
 * model.safetensors, the tokenizer's files, tokenizer_config.json with the length), metrics.json, and for prompt
 * tuning the prompt alone (prompt_embeddings.safetensors, 61,440 bytes of data on bert-base).
 * Smoke mode runs the same code on the tiny BERT (lib/assets/bert-tiny) and the synthetic IMDb archive.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Settings } from "../config";
import type { TextLabel } from "../data/csv";
import { IMDB_CLASS_NAMES, loadImdbHf, prepareImdbData } from "../data/imdb";
import { RandomState } from "../data/random";
import { ConfigError } from "../errors";
import { writeFileAtomic } from "../util/atomic";
import { createProgress, type ProgressOptions } from "../util/progress";
import { TINY_BERT_DIR } from "../assets";
import { loadPretrainedBert } from "../weights/bertWeights";
import { BertForSequenceClassification } from "./bertTrainerModel";
import { PromptTunedBert } from "./bertPromptTuning";
import { crossEntropyOfLogits } from "./runner";
import { Trainer, type Metrics, type TrainOutput } from "./trainer";
import type { TrainingArguments } from "./trainingArguments";

/** The fine-tuning chapter's TrainingArguments (its `output_dir` aside). */
export const BERT_TRAINING_ARGS: Readonly<Omit<TrainingArguments, "outputDir">> = {
  learningRate: 2e-5,
  perDeviceTrainBatchSize: 32,
  perDeviceEvalBatchSize: 8,
  numTrainEpochs: 3,
  weightDecay: 0.01,
  gradientAccumulationSteps: 4,
  evalStrategy: "epoch",
  saveStrategy: "epoch",
  loadBestModelAtEnd: true,
  metricForBestModel: "accuracy",
  loggingSteps: 500,
};

/** Smoke mode's changes to them: small batches, a larger step, a log line every step (20 synthetic reviews). */
export const BERT_SMOKE_TRAINING_ARGS: Readonly<Partial<TrainingArguments>> = {
  learningRate: 1e-3,
  perDeviceTrainBatchSize: 4,
  gradientAccumulationSteps: 2,
  numTrainEpochs: 2,
  loggingSteps: 1,
};

/** The chapter's prompt tuning: 20 virtual tokens, 5,000 + 5,000 reviews, batch 64 / 128, AdamW lr 1e-2, 3 epochs. */
export const BERT_PROMPT_TUNING_ARGS = {
  numVirtualTokens: 20,
  learningRate: 1e-2,
  perDeviceTrainBatchSize: 64,
  perDeviceEvalBatchSize: 128,
  numTrainEpochs: 3,
  seed: 42,
} as const;

/** The TrainingArguments keys prompt tuning reads (its loop is the chapter's, not the Trainer). */
export const BERT_PROMPT_TUNING_KEYS = [
  "learningRate",
  "perDeviceTrainBatchSize",
  "perDeviceEvalBatchSize",
  "numTrainEpochs",
  "weightDecay",
  "seed",
  "disableTqdm",
] as const;

/** `bert-base-uncased`'s length (512), and smoke mode's (the synthetic reviews are short). */
export const BERT_MAX_LENGTH = 512;
export const BERT_SMOKE_MAX_LENGTH = 64;

/** The prompt's file in a prompt-tuned classifier's folder. */
export const BERT_PROMPT_FILE = "prompt_embeddings.safetensors";

export interface BertFinetuneOptions {
  /** A Hugging Face model id (default "bert-base-uncased"; the tiny BERT in smoke mode) or a BERT folder. */
  model?: string;
  /** "full" (default): every parameter with the Trainer; "prompt-tuning": a soft prompt only. */
  method?: "full" | "prompt-tuning";
  /** Changes to the chapter's TrainingArguments (full), or to the prompt tuning's settings (BERT_PROMPT_TUNING_KEYS). */
  trainingArgs?: Partial<TrainingArguments>;
  /** Virtual tokens of prompt tuning (default 20). */
  numVirtualTokens?: number;
  /** Tokens per input, [CLS], [SEP] and a prompt included (default 512; 64 in smoke mode). */
  maxLength?: number;
  /** Output folder (default <dataDir>/bert-imdb-classifier, or <dataDir>/bert-imdb-prompt). */
  outDir?: string;
  /** Continue from the last checkpoint in <outDir>/checkpoints (full fine-tuning). */
  resume?: boolean;
  smoke?: boolean;
  /** ONNX Runtime threads (default: one per core). */
  threads?: number;
  log?: (line: string) => void;
  progress?: Pick<ProgressOptions, "stream" | "display" | "throttleMs">;
}

/** One epoch of the chapter's prompt-tuning loop. */
export interface PromptEpoch {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
}

export interface BertFinetuneResult {
  outDir: string;
  method: "full" | "prompt-tuning";
  /** The Trainer's output (full fine-tuning). */
  train?: TrainOutput;
  /** Each epoch's losses and accuracy (prompt tuning). */
  epochs?: PromptEpoch[];
  /** The final evaluation on the test split: evalLoss, evalAccuracy, … */
  eval: Metrics;
  trainableParams: number;
  minutes: number;
}

const IMDB_ID2LABEL = Object.fromEntries(IMDB_CLASS_NAMES.map((n, i) => [String(i), n]));

/** Writes a classifier folder `classify` reads: the BERT, its tokenizer files, the labels and the length. */
function saveBertClassifier(
  bert: BertForSequenceClassification,
  modelDir: string,
  outDir: string,
  maxLength: number,
): void {
  bert.save(outDir);
  const cfgFile = path.join(outDir, "config.json");
  const cfg = JSON.parse(fs.readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
  cfg.id2label = IMDB_ID2LABEL;
  cfg.label2id = Object.fromEntries(IMDB_CLASS_NAMES.map((n, i) => [n, i]));
  writeFileAtomic(cfgFile, JSON.stringify(cfg, null, 2));
  for (const f of ["vocab.txt", "tokenizer.json"]) {
    const src = path.join(modelDir, f);
    if (fs.existsSync(src) && path.resolve(src) !== path.resolve(outDir, f))
      writeFileAtomic(path.join(outDir, f), fs.readFileSync(src));
  }
  writeFileAtomic(
    path.join(outDir, "tokenizer_config.json"),
    JSON.stringify({ tokenizer_class: "BertTokenizer", do_lower_case: true, model_max_length: maxLength }, null, 2),
  );
}

/**
 * The chapter's prompt-tuning loop: each epoch, AdamW steps on shuffled batches (a seeded permutation), then the
 * validation loss and accuracy over `evalData`. Logs `Epoch N: train loss …, val loss …, val acc …`.
 */
export async function trainPromptTunedBert(
  pt: PromptTunedBert,
  trainData: readonly TextLabel[],
  evalData: readonly TextLabel[],
  opts: {
    epochs?: number;
    trainBatchSize?: number;
    evalBatchSize?: number;
    seed?: number;
    log?: (line: string) => void;
    progress?: Pick<ProgressOptions, "stream" | "display" | "throttleMs">;
    disableProgress?: boolean;
  } = {},
): Promise<PromptEpoch[]> {
  const epochs = opts.epochs ?? BERT_PROMPT_TUNING_ARGS.numTrainEpochs;
  const bs = opts.trainBatchSize ?? BERT_PROMPT_TUNING_ARGS.perDeviceTrainBatchSize;
  const evalBs = opts.evalBatchSize ?? BERT_PROMPT_TUNING_ARGS.perDeviceEvalBatchSize;
  const rng = new RandomState(opts.seed ?? BERT_PROMPT_TUNING_ARGS.seed);
  const bar = (label: string, total: number) =>
    opts.disableProgress ? undefined : createProgress({ label, total, unit: "items", ...opts.progress });
  const batchOf = (rows: readonly TextLabel[]) =>
    pt.encode(
      rows.map((r) => r.text),
      rows.map((r) => r.label),
    );
  const history: PromptEpoch[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = rng.permutation(trainData.length);
    const nTrain = Math.ceil(trainData.length / bs);
    const tb = bar(`Epoch ${epoch}/${epochs} train`, nTrain);
    let trainLoss = 0;
    for (let b = 0; b < nTrain; b++) {
      const rows = order.slice(b * bs, (b + 1) * bs).map((i) => trainData[i]);
      const loss = await pt.trainStep(batchOf(rows));
      trainLoss += loss;
      tb?.update(b + 1);
      tb?.status(`loss ${loss.toFixed(4)}`);
    }
    tb?.finish();
    const nEval = Math.ceil(evalData.length / evalBs);
    const eb = bar(`Epoch ${epoch}/${epochs} validate`, nEval);
    let valLoss = 0,
      correct = 0;
    for (let b = 0; b < nEval; b++) {
      const rows = evalData.slice(b * evalBs, (b + 1) * evalBs);
      const batch = batchOf(rows);
      const logits = await pt.logits(batch);
      valLoss += crossEntropyOfLogits(logits, batch.labels);
      const C = logits.length / rows.length;
      rows.forEach((r, i) => {
        const row = logits.subarray(i * C, (i + 1) * C);
        if (row.indexOf(Math.max(...row)) === r.label) correct++;
      });
      eb?.update(b + 1);
    }
    eb?.finish();
    const e = {
      epoch,
      trainLoss: trainLoss / nTrain,
      valLoss: valLoss / nEval,
      valAccuracy: correct / evalData.length,
    };
    history.push(e);
    opts.log?.(
      `Epoch ${epoch}: train loss ${e.trainLoss.toFixed(4)}, val loss ${e.valLoss.toFixed(4)}, val acc ${e.valAccuracy.toFixed(4)}`,
    );
  }
  return history;
}

/** Checks TrainingArguments keys for prompt tuning. @throws ConfigError naming a key it does not read */
function checkPromptKeys(args: Partial<TrainingArguments>): void {
  const extra = Object.keys(args).filter((k) => !(BERT_PROMPT_TUNING_KEYS as readonly string[]).includes(k));
  if (extra.length)
    throw new ConfigError(
      `Prompt tuning runs the chapter's own loop, not the Trainer: ${extra.join(", ")} ${extra.length > 1 ? "do" : "does"} not apply (it reads ${BERT_PROMPT_TUNING_KEYS.join(", ")})`,
    );
}

/**
 * Fine-tunes BERT on IMDb as the fine-tuning chapter does (see the file's comment).
 * @throws ConfigError for bad options or no onnxruntime-node; DownloadError / DataFormatError for the data or weights
 */
export async function finetuneBert(settings: Settings, o: BertFinetuneOptions = {}): Promise<BertFinetuneResult> {
  const log = o.log ?? (() => {});
  const smoke = o.smoke ?? settings.smoke;
  const method = o.method ?? "full";
  if (method !== "full" && method !== "prompt-tuning")
    throw new ConfigError(`method must be "full" or "prompt-tuning", got "${String(method)}"`);
  const given = o.trainingArgs ?? {};
  if (method === "prompt-tuning") checkPromptKeys(given);
  else if (o.numVirtualTokens !== undefined) throw new ConfigError("Virtual tokens are for prompt tuning");
  const maxLength = o.maxLength ?? (smoke ? BERT_SMOKE_MAX_LENGTH : BERT_MAX_LENGTH);
  const outDir = path.resolve(
    o.outDir ?? path.join(settings.dataDir, method === "full" ? "bert-imdb-classifier" : "bert-imdb-prompt"),
  );
  const start = Date.now();

  // Data: Hugging Face's layout (the synthetic archive's 20 + 20 reviews, subsets of 8, in smoke mode).
  await prepareImdbData(settings.dataDir, { urls: settings.imdbUrls, log, subsetSize: smoke ? 8 : 5000 });
  const data = loadImdbHf(settings.dataDir, { subset: method === "prompt-tuning" });
  log(`Train size: ${data.train.length}, test size: ${data.test.length}`);

  const id = o.model ?? "bert-base-uncased";
  const isDir = fs.existsSync(id) && fs.statSync(id).isDirectory();
  const modelId = smoke && !isDir ? TINY_BERT_DIR : id;
  if (modelId === TINY_BERT_DIR) log(`Smoke mode: the tiny BERT (${TINY_BERT_DIR}) stands for ${id}`);
  const { model, tokenizer, dir } = await loadPretrainedBert({ model: modelId, dataDir: settings.dataDir, log });
  try {
    if (maxLength > model.cfg.maxPositionEmbeddings)
      throw new ConfigError(`maxLength ${maxLength} exceeds the model's ${model.cfg.maxPositionEmbeddings} positions`);
    if (method === "full") {
      const bert = new BertForSequenceClassification(model, tokenizer, { maxLength, threads: o.threads });
      const args: TrainingArguments = {
        ...BERT_TRAINING_ARGS,
        ...(smoke ? BERT_SMOKE_TRAINING_ARGS : {}),
        outputDir: path.join(outDir, "checkpoints"),
        ...given,
      };
      const trainer = new Trainer({
        model: bert,
        args,
        trainDataset: data.train,
        evalDataset: data.test,
        log,
        progress: o.progress,
      });
      const trainableParams = model.numParams({ trainableOnly: true });
      log(`Trainable parameters: ${trainableParams.toLocaleString("en-US")}`);
      const train = await trainer.train({ resumeFromCheckpoint: o.resume === true });
      const evalMetrics = await trainer.evaluate();
      log(JSON.stringify(evalMetrics));
      saveBertClassifier(bert, dir, outDir, maxLength);
      const result: BertFinetuneResult = {
        outDir,
        method,
        train,
        eval: evalMetrics,
        trainableParams,
        minutes: (Date.now() - start) / 60000,
      };
      writeFileAtomic(
        path.join(outDir, "metrics.json"),
        JSON.stringify({ ...result, trainingArgs: trainer.args, model: id, smoke }, null, 2),
      );
      log(`Saved the classifier to ${outDir}`);
      return result;
    }

    const p = { ...BERT_PROMPT_TUNING_ARGS, ...given };
    const pt = await PromptTunedBert.create(model, tokenizer, {
      numTokens: o.numVirtualTokens ?? BERT_PROMPT_TUNING_ARGS.numVirtualTokens,
      seed: p.seed,
      maxLength,
      lr: p.learningRate,
      weightDecay: given.weightDecay,
      threads: o.threads,
      log,
    });
    let epochs: PromptEpoch[];
    const trainableParams = model.numParams({ trainableOnly: true });
    try {
      epochs = await trainPromptTunedBert(pt, data.train, data.test, {
        epochs: p.numTrainEpochs,
        trainBatchSize: p.perDeviceTrainBatchSize,
        evalBatchSize: p.perDeviceEvalBatchSize,
        seed: p.seed,
        log,
        progress: o.progress,
        disableProgress: given.disableTqdm,
      });
      fs.mkdirSync(outDir, { recursive: true });
      pt.savePrompt(path.join(outDir, BERT_PROMPT_FILE));
    } finally {
      await pt.finish();
    }
    saveBertClassifier(new BertForSequenceClassification(model, tokenizer, { maxLength }), dir, outDir, maxLength);
    const last = epochs.at(-1)!;
    const result: BertFinetuneResult = {
      outDir,
      method,
      epochs,
      eval: { evalLoss: last.valLoss, evalAccuracy: last.valAccuracy },
      trainableParams,
      minutes: (Date.now() - start) / 60000,
    };
    writeFileAtomic(
      path.join(outDir, "metrics.json"),
      JSON.stringify({ ...result, settings: p, numVirtualTokens: pt.initIds.length, model: id, smoke }, null, 2),
    );
    log(
      `Saved the prompt (${fs.statSync(path.join(outDir, BERT_PROMPT_FILE)).size.toLocaleString("en-US")} bytes) and the classifier to ${outDir}`,
    );
    return result;
  } finally {
    model.dispose();
  }
}
