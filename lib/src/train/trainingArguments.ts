/**
 * Hugging Face's `TrainingArguments` in camelCase, for the Trainer (train/trainer.ts): the names, defaults and
 * checks of `transformers.TrainingArguments` for the settings this Trainer implements.
 */
import { ConfigError } from "../errors";

/** When to evaluate or save: never, every `evalSteps` / `saveSteps` optimizer steps, or after every epoch. */
export type IntervalStrategy = "no" | "steps" | "epoch";

/** The learning-rate schedule: Hugging Face's default linear decay to 0 (no warm-up), or constant. */
export type LrSchedulerType = "linear" | "constant";

export interface TrainingArguments {
  /** `output_dir`: where checkpoints (`checkpoint-<step>/`) go. */
  outputDir: string;
  /** `learning_rate` (default 5e-5). */
  learningRate?: number;
  /** `per_device_train_batch_size` (default 8). */
  perDeviceTrainBatchSize?: number;
  /** `per_device_eval_batch_size` (default 8). */
  perDeviceEvalBatchSize?: number;
  /** `num_train_epochs` (default 3). */
  numTrainEpochs?: number;
  /** `max_steps`: stop after this many optimizer steps (default: the epochs' steps). */
  maxSteps?: number;
  /** `weight_decay` of AdamW (default 0). */
  weightDecay?: number;
  /** `adam_beta1`, `adam_beta2`, `adam_epsilon` (defaults 0.9, 0.999, 1e-8). */
  adamBeta1?: number;
  adamBeta2?: number;
  adamEpsilon?: number;
  /**
   * `max_grad_norm` (default 1.0): the gradients' global norm is clipped to this before each optimizer step
   * (`clip_grad_norm_`, after accumulation); 0 turns clipping off.
   */
  maxGradNorm?: number;
  /** `lr_scheduler_type` (default "linear": lr · (1 − step / maxSteps)). */
  lrSchedulerType?: LrSchedulerType;
  /**
   * `gradient_accumulation_steps` (default 1): each batch's loss is divided by it; the optimizer steps every N
   * batches and after each epoch's last batch (as transformers ≥ 4.46 does).
   */
  gradientAccumulationSteps?: number;
  /** `eval_strategy` (default "no"). */
  evalStrategy?: IntervalStrategy;
  /** `eval_steps` (default: loggingSteps) for evalStrategy "steps". */
  evalSteps?: number;
  /** `save_strategy` (default "steps", as Hugging Face's). */
  saveStrategy?: IntervalStrategy;
  /** `save_steps` (default 500). */
  saveSteps?: number;
  /** `save_total_limit`: keep at most this many checkpoints (the best one is always kept). Default: all. */
  saveTotalLimit?: number;
  /** `load_best_model_at_end` (default false): needs evalStrategy = saveStrategy. */
  loadBestModelAtEnd?: boolean;
  /** `metric_for_best_model`: "loss" (default) or a key of computeMetrics, with or without the `eval` prefix. */
  metricForBestModel?: string;
  /** `greater_is_better` (default: false for a loss, true otherwise). */
  greaterIsBetter?: boolean;
  /** `logging_steps` (default 500): log the mean training loss every N optimizer steps. */
  loggingSteps?: number;
  /** `seed` (default 42): the order of the training examples (NumPy's generator, one permutation per epoch). */
  seed?: number;
  /** `dataloader_drop_last` (default false). */
  dataloaderDropLast?: boolean;
  /** `disable_tqdm` (default false): no progress bar. */
  disableTqdm?: boolean;
}

export type ResolvedTrainingArguments = Required<Omit<TrainingArguments, "maxSteps" | "saveTotalLimit">> &
  Pick<TrainingArguments, "maxSteps" | "saveTotalLimit">;

const positiveInt = (name: string, v: number) => {
  if (!(Number.isSafeInteger(v) && v > 0)) throw new ConfigError(`${name} must be a positive integer, got ${v}`);
  return v;
};

/** camelCase key of a metric: "accuracy" → "evalAccuracy", "eval_loss"/"loss" → "evalLoss". */
export function metricKey(name: string): string {
  const camel = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const bare = camel.startsWith("eval") && camel.length > 4 ? camel.slice(4) : camel;
  return `eval${bare[0].toUpperCase()}${bare.slice(1)}`;
}

/**
 * Fills in Hugging Face's defaults and checks the values.
 * @throws ConfigError for a value out of range, or loadBestModelAtEnd with different eval and save strategies.
 */
export function resolveTrainingArguments(a: TrainingArguments): ResolvedTrainingArguments {
  if (!a || typeof a.outputDir !== "string" || a.outputDir === "")
    throw new ConfigError("TrainingArguments needs an outputDir");
  const loggingSteps = positiveInt("loggingSteps", a.loggingSteps ?? 500);
  const metric = a.metricForBestModel ?? "loss";
  const r: ResolvedTrainingArguments = {
    outputDir: a.outputDir,
    learningRate: a.learningRate ?? 5e-5,
    perDeviceTrainBatchSize: positiveInt("perDeviceTrainBatchSize", a.perDeviceTrainBatchSize ?? 8),
    perDeviceEvalBatchSize: positiveInt("perDeviceEvalBatchSize", a.perDeviceEvalBatchSize ?? 8),
    numTrainEpochs: positiveInt("numTrainEpochs", a.numTrainEpochs ?? 3),
    maxSteps: a.maxSteps === undefined ? undefined : positiveInt("maxSteps", a.maxSteps),
    weightDecay: a.weightDecay ?? 0,
    adamBeta1: a.adamBeta1 ?? 0.9,
    adamBeta2: a.adamBeta2 ?? 0.999,
    adamEpsilon: a.adamEpsilon ?? 1e-8,
    maxGradNorm: a.maxGradNorm ?? 1.0,
    lrSchedulerType: a.lrSchedulerType ?? "linear",
    gradientAccumulationSteps: positiveInt("gradientAccumulationSteps", a.gradientAccumulationSteps ?? 1),
    evalStrategy: a.evalStrategy ?? "no",
    evalSteps: positiveInt("evalSteps", a.evalSteps ?? loggingSteps),
    saveStrategy: a.saveStrategy ?? "steps",
    saveSteps: positiveInt("saveSteps", a.saveSteps ?? 500),
    saveTotalLimit: a.saveTotalLimit === undefined ? undefined : positiveInt("saveTotalLimit", a.saveTotalLimit),
    loadBestModelAtEnd: a.loadBestModelAtEnd ?? false,
    metricForBestModel: metricKey(metric),
    greaterIsBetter: a.greaterIsBetter ?? !/loss$/i.test(metric),
    loggingSteps,
    seed: a.seed ?? 42,
    dataloaderDropLast: a.dataloaderDropLast ?? false,
    disableTqdm: a.disableTqdm ?? false,
  };
  if (!(Number.isFinite(r.learningRate) && r.learningRate > 0))
    throw new ConfigError(`learningRate must be a positive number, got ${r.learningRate}`);
  if (!(Number.isFinite(r.weightDecay) && r.weightDecay >= 0))
    throw new ConfigError(`weightDecay must be a number ≥ 0, got ${r.weightDecay}`);
  if (!(Number.isFinite(r.maxGradNorm) && r.maxGradNorm >= 0))
    throw new ConfigError(`maxGradNorm must be a number ≥ 0 (0: no clipping), got ${r.maxGradNorm}`);
  for (const [k, v] of [
    ["evalStrategy", r.evalStrategy],
    ["saveStrategy", r.saveStrategy],
  ] as const)
    if (!["no", "steps", "epoch"].includes(v))
      throw new ConfigError(`${k} must be "no", "steps" or "epoch", got "${v}"`);
  if (!["linear", "constant"].includes(r.lrSchedulerType))
    throw new ConfigError(`lrSchedulerType must be "linear" or "constant", got "${r.lrSchedulerType}"`);
  if (r.loadBestModelAtEnd) {
    if (r.evalStrategy === "no" || r.saveStrategy !== r.evalStrategy)
      throw new ConfigError(
        `loadBestModelAtEnd needs the same evalStrategy and saveStrategy (not "no"), got "${r.evalStrategy}" and "${r.saveStrategy}"`,
      );
    if (r.saveStrategy === "steps" && r.saveSteps % r.evalSteps !== 0)
      throw new ConfigError(
        `loadBestModelAtEnd needs saveSteps (${r.saveSteps}) to be a multiple of evalSteps (${r.evalSteps})`,
      );
  }
  return r;
}

/** How many batches and optimizer steps a run takes. */
export interface TrainingPlan {
  /** Batches per epoch (`len(train_dataloader)`). */
  batchesPerEpoch: number;
  /** Optimizer steps per epoch: ceil(batches / gradientAccumulationSteps). */
  stepsPerEpoch: number;
  /** Optimizer steps in all (maxSteps, or epochs × stepsPerEpoch). */
  maxSteps: number;
  /** Epochs begun (more than numTrainEpochs when maxSteps asks for more steps). */
  numEpochs: number;
}

/**
 * The run's size for `numExamples` training examples. The fine-tuning chapter's 25,000 reviews at 32 × 4 give 782
 * batches and 196 steps an epoch (588 in 3 epochs); its log's 585 comes from transformers before 4.46, which floored
 * the steps per epoch and carried the remaining batches' gradients into the next epoch.
 * @throws ConfigError when there are no training batches.
 */
export function trainingPlan(numExamples: number, a: ResolvedTrainingArguments): TrainingPlan {
  const bs = a.perDeviceTrainBatchSize;
  const batchesPerEpoch = a.dataloaderDropLast ? Math.floor(numExamples / bs) : Math.ceil(numExamples / bs);
  if (batchesPerEpoch === 0)
    throw new ConfigError(`No training batch: ${numExamples} examples with perDeviceTrainBatchSize ${bs}`);
  const stepsPerEpoch = Math.ceil(batchesPerEpoch / a.gradientAccumulationSteps);
  const maxSteps = a.maxSteps ?? a.numTrainEpochs * stepsPerEpoch;
  return { batchesPerEpoch, stepsPerEpoch, maxSteps, numEpochs: Math.ceil(maxSteps / stepsPerEpoch) };
}
