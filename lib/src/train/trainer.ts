/**
 * A Trainer that feels like Hugging Face's: `new Trainer({ model, args, trainDataset, evalDataset, computeMetrics })`,
 * then `train()`, `evaluate()`, `predict()`. It trains any TrainerModel (train/trainerModel.ts: GPT-2 here, an encoder
 * such as BERT the same way) with AdamW and Hugging Face's defaults (linear learning-rate decay, evaluation and
 * checkpoints by strategy, the best model loaded at the end), draws a progress bar with the loss, and saves
 * checkpoints atomically (`<outputDir>/checkpoint-<step>/`) from which `train({ resumeFromCheckpoint: true })`
 * continues exactly where the run stopped.
 *
 * Gradients are clipped to `maxGradNorm` (default 1.0) before each step, as Hugging Face's. Differences from
 * Hugging Face's, on purpose: no mixed precision or gradient checkpointing, one device; the training order comes from NumPy's generator seeded with `seed` (one
 * permutation per epoch), so a run is reproducible here but not example-for-example PyTorch's.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { TextLabel } from "../data/csv";
import { RandomState } from "../data/random";
import type { ClassifierRunner } from "../engine/trainers/runnerTypes";
import { ConfigError, DataFormatError } from "../errors";
import { createProgress, type Progress, type ProgressOptions } from "../util/progress";
import { writeFileAtomic } from "../util/atomic";
import { writeSafetensors, SafetensorsFile } from "../weights/safetensors";
import { AdamW, type AdamWState } from "./adamw";
import { crossEntropyOfLogits } from "./runner";
import { TrainingInterruptedError } from "./trainClassifier";
import type { TrainerModel } from "./trainerModel";
import { readableOnHost } from "../webgpuAdapter";
import {
  resolveTrainingArguments,
  trainingPlan,
  type ResolvedTrainingArguments,
  type TrainingArguments,
  type TrainingPlan,
} from "./trainingArguments";

/** What computeMetrics receives (Hugging Face's `EvalPrediction`): logits row-major `[n, numClasses]` and the labels. */
export interface EvalPrediction {
  predictions: Float32Array;
  labelIds: Int32Array;
  numClasses: number;
}

/** Metrics by name, without prefix (`{ accuracy: 0.93 }`); the Trainer reports them as `evalAccuracy`. */
export type ComputeMetrics = (p: EvalPrediction) => Record<string, number>;

/** The fraction of rows whose largest logit is the label (ties: the first, as argmax). */
export function computeAccuracy(p: EvalPrediction): { accuracy: number } {
  const n = p.labelIds.length;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < p.numClasses; c++)
      if (p.predictions[i * p.numClasses + c] > p.predictions[i * p.numClasses + best]) best = c;
    if (best === p.labelIds[i]) correct++;
  }
  return { accuracy: n ? correct / n : NaN };
}

/** Metrics of an evaluation: `evalLoss`, `evalRuntime`, `evalSamplesPerSecond`, `evalStepsPerSecond`, `evalAccuracy`, … */
export type Metrics = Record<string, number>;

/** Hugging Face's `TrainOutput`. */
export interface TrainOutput {
  /** Optimizer steps taken. */
  globalStep: number;
  /** Mean training loss over the run's optimizer steps. */
  trainingLoss: number;
  /** `trainRuntime` (s), `trainSamplesPerSecond`, `trainStepsPerSecond`, `trainLoss`, `epoch`. */
  metrics: Metrics;
}

/** Hugging Face's `PredictionOutput`. */
export interface PredictionOutput extends EvalPrediction {
  /** `testLoss`, `testRuntime`, …, and computeMetrics' values with the `test` prefix. */
  metrics: Metrics;
}

/** One entry of the log history: a logging step (loss, learningRate) or an evaluation (evalLoss, …). */
export type LogEntry = Record<string, number>;

/** What a checkpoint's `trainer_state.json` holds (Hugging Face's TrainerState, camelCase). */
export interface TrainerState {
  globalStep: number;
  /** Fractional epoch of the last step (2.5 = halfway through the third epoch). */
  epoch: number;
  /** Batches of the current epoch already trained on (0 at an epoch's start). */
  batchInEpoch: number;
  /** Epochs finished. */
  epochsDone: number;
  /** Sum of the step losses so far (for trainingLoss). */
  totalLoss: number;
  maxSteps: number;
  bestMetric?: number;
  bestModelCheckpoint?: string;
  logHistory: LogEntry[];
}

export interface TrainerOptions<E> {
  model: TrainerModel<E>;
  args: TrainingArguments;
  trainDataset?: readonly E[];
  evalDataset?: readonly E[];
  /** Default: accuracy (Hugging Face reports only the loss without it). */
  computeMetrics?: ComputeMetrics;
  /** Log lines (Hugging Face's printed dicts); default none. */
  log?: (line: string) => void;
  /** Where the progress bar draws (default: stderr, or in place in a notebook); `args.disableTqdm` hides it. */
  progress?: Pick<ProgressOptions, "stream" | "display" | "throttleMs">;
  /** Abort between batches: the run stops with the last checkpoint on disk (resume continues from it). */
  signal?: AbortSignal;
}

const CHECKPOINT = /^checkpoint-(\d+)$/;

/** Checkpoint folders of `outputDir`, oldest step first. */
export function listCheckpoints(outputDir: string): string[] {
  if (!fs.existsSync(outputDir)) return [];
  return fs
    .readdirSync(outputDir)
    .filter((n) => CHECKPOINT.test(n) && fs.existsSync(path.join(outputDir, n, "trainer_state.json")))
    .sort((a, b) => Number(CHECKPOINT.exec(a)![1]) - Number(CHECKPOINT.exec(b)![1]))
    .map((n) => path.join(outputDir, n));
}

export class Trainer<E extends { label: number } = TextLabel> {
  readonly args: ResolvedTrainingArguments;
  readonly model: TrainerModel<E>;
  /** The run's state (after train(): the final one). */
  state: TrainerState | undefined;
  private readonly computeMetrics: ComputeMetrics;
  private readonly log: (line: string) => void;

  constructor(private readonly o: TrainerOptions<E>) {
    this.args = resolveTrainingArguments(o.args);
    this.model = o.model;
    this.computeMetrics = o.computeMetrics ?? computeAccuracy;
    this.log = o.log ?? (() => {});
    if (this.args.evalStrategy !== "no" && !o.evalDataset?.length)
      throw new ConfigError(`evalStrategy "${this.args.evalStrategy}" needs an evalDataset`);
  }

  /** The batches of `data` in `order`, `bs` at a time (the last one shorter unless dropped). */
  private batch(data: readonly E[], order: readonly number[], b: number, bs: number) {
    const idx = order.slice(b * bs, (b + 1) * bs);
    return this.model.collate(
      idx.map((i) => data[i]),
      idx,
    );
  }

  /**
   * Trains on trainDataset. Book: `trainer.train()` of the fine-tuning chapter.
   * @param opts.resumeFromCheckpoint true: the last checkpoint in outputDir (if any); a path: that checkpoint.
   * @returns globalStep, trainingLoss and metrics (trainRuntime, trainSamplesPerSecond, trainStepsPerSecond, trainLoss, epoch).
   * @throws ConfigError without a training set; DataFormatError for an unreadable checkpoint.
   */
  async train(opts: { resumeFromCheckpoint?: boolean | string } = {}): Promise<TrainOutput> {
    const a = this.args;
    const data = this.o.trainDataset;
    if (!data?.length) throw new ConfigError("Trainer.train() needs a trainDataset");
    const plan = trainingPlan(data.length, a);
    const optimizer = new AdamW(this.model.trainableParams(), {
      lr: a.learningRate,
      weightDecay: a.weightDecay,
      betas: [a.adamBeta1, a.adamBeta2],
      eps: a.adamEpsilon,
      ...(a.maxGradNorm > 0 ? { maxGradNorm: a.maxGradNorm } : {}),
    });
    const state: TrainerState = {
      globalStep: 0,
      epoch: 0,
      batchInEpoch: 0,
      epochsDone: 0,
      totalLoss: 0,
      maxSteps: plan.maxSteps,
      logHistory: [],
    };
    const resume =
      opts.resumeFromCheckpoint === true ? listCheckpoints(a.outputDir).at(-1) : opts.resumeFromCheckpoint || undefined;
    let resumedOptimizer: AdamWState | undefined;
    if (resume) {
      const loaded = this.loadCheckpoint(resume, optimizer);
      Object.assign(state, loaded.state);
      resumedOptimizer = loaded.optimizer;
      this.log(`Resuming from ${resume} (step ${state.globalStep}, epoch ${state.epoch.toFixed(2)})`);
    }
    this.state = state;
    const runner = await this.model.createRunner(optimizer);
    if (resumedOptimizer) {
      try {
        this.model.loadOptimizerState!(resumedOptimizer); // a native runner's own AdamW
      } catch (err) {
        await runner.finish();
        optimizer.dispose();
        throw err;
      }
    }
    const start = Date.now();
    const startStep = state.globalStep;
    let samples = 0;
    try {
      await this.loop(runner, optimizer, data, plan, state, (n) => (samples += n));
      if (a.loadBestModelAtEnd && state.bestModelCheckpoint) {
        this.log(`Loading best model from ${state.bestModelCheckpoint} (score: ${state.bestMetric})`);
        this.model.load(state.bestModelCheckpoint);
      }
    } finally {
      await runner.finish();
      optimizer.dispose();
    }
    const runtime = (Date.now() - start) / 1000;
    const trainingLoss = state.globalStep ? state.totalLoss / state.globalStep : NaN;
    const metrics = {
      trainRuntime: runtime,
      trainSamplesPerSecond: samples / runtime,
      trainStepsPerSecond: (state.globalStep - startStep) / runtime,
      trainLoss: trainingLoss,
      epoch: state.epoch,
    };
    state.logHistory.push({ ...metrics, step: state.globalStep });
    this.log(JSON.stringify(metrics));
    return { globalStep: state.globalStep, trainingLoss, metrics };
  }

  private async loop(
    runner: ClassifierRunner,
    optimizer: AdamW,
    data: readonly E[],
    plan: TrainingPlan,
    state: TrainerState,
    seen: (n: number) => void,
  ): Promise<void> {
    const a = this.args;
    const accum = a.gradientAccumulationSteps;
    const rng = new RandomState(a.seed);
    let logLoss = 0,
      logSteps = 0;
    for (let epoch = 0; epoch < plan.numEpochs && state.globalStep < plan.maxSteps; epoch++) {
      const order = rng.permutation(data.length); // drawn for every epoch, so that a resumed run sees the same orders
      if (epoch < state.epochsDone) continue;
      const bar: Progress | undefined = a.disableTqdm
        ? undefined
        : createProgress({
            label: `Epoch ${epoch + 1}/${plan.numEpochs}`,
            total: plan.batchesPerEpoch,
            unit: "items",
            ...this.o.progress,
          });
      bar?.update(state.batchInEpoch);
      let stepLoss = 0;
      for (let b = state.batchInEpoch; b < plan.batchesPerEpoch && state.globalStep < plan.maxSteps; b++) {
        await new Promise<void>((resolve) => setImmediate(resolve)); // timers, signals and the progress bar run
        if (this.o.signal?.aborted) {
          bar?.finish();
          throw new TrainingInterruptedError(
            `Training interrupted at step ${state.globalStep}; resume with train({ resumeFromCheckpoint: true })`,
          );
        }
        const update = (b + 1) % accum === 0 || b + 1 === plan.batchesPerEpoch;
        optimizer.lr = this.learningRateAt(state.globalStep, plan.maxSteps);
        const batch = this.batch(data, order, b, a.perDeviceTrainBatchSize);
        const loss = await runner.trainStep(batch, accum === 1 ? undefined : { lossScale: 1 / accum, update });
        stepLoss += loss / accum;
        seen(batch.batchSize);
        bar?.update(b + 1);
        bar?.status(`loss ${loss.toFixed(4)}`);
        if (!update) continue;
        state.globalStep++;
        state.batchInEpoch = b + 1;
        state.epoch = epoch + (b + 1) / plan.batchesPerEpoch;
        state.totalLoss += stepLoss;
        logLoss += stepLoss;
        logSteps++;
        stepLoss = 0;
        const lastStep = state.globalStep === plan.maxSteps;
        if (state.globalStep % a.loggingSteps === 0) {
          this.record(state, { loss: logLoss / logSteps, learningRate: optimizer.lr, epoch: state.epoch });
          logLoss = 0;
          logSteps = 0;
        }
        const epochEnd = b + 1 === plan.batchesPerEpoch || lastStep;
        if (epochEnd) {
          state.batchInEpoch = 0;
          state.epochsDone = epoch + 1;
        }
        const evalNow =
          (a.evalStrategy === "steps" && state.globalStep % a.evalSteps === 0) ||
          (a.evalStrategy === "epoch" && epochEnd);
        let metrics: Metrics | undefined;
        if (evalNow) metrics = await this.evaluateWith(runner, this.o.evalDataset!, "eval", state);
        const saveNow =
          (a.saveStrategy === "steps" && state.globalStep % a.saveSteps === 0) ||
          (a.saveStrategy === "epoch" && epochEnd);
        if (saveNow) {
          // WebGPU: the trained values and the moments to the host, for the synchronous writers
          await readableOnHost([...optimizer.params.values(), ...optimizer.deviceTensors()]);
          // A runner with its own AdamW (BERT's native one) hands over its moments; else the Trainer's AdamW's.
          const own = await this.model.optimizerState?.();
          this.saveCheckpoint(state, own ?? optimizer.stateDict(), metrics);
        }
      }
      bar?.finish();
    }
  }

  /** Hugging Face's schedules: linear decay from learningRate to 0 over maxSteps (no warm-up), or constant. */
  private learningRateAt(step: number, maxSteps: number): number {
    const lr = this.args.learningRate;
    return this.args.lrSchedulerType === "constant" ? lr : (lr * Math.max(0, maxSteps - step)) / maxSteps;
  }

  private record(state: TrainerState, entry: LogEntry): void {
    state.logHistory.push({ ...entry, step: state.globalStep });
    this.log(JSON.stringify(entry));
  }

  /** Loss, logits and metrics of `data` (batches of perDeviceEvalBatchSize, in order). */
  private async predictWith(runner: ClassifierRunner, data: readonly E[], prefix: string): Promise<PredictionOutput> {
    const bs = this.args.perDeviceEvalBatchSize;
    const start = Date.now();
    const order = Array.from({ length: data.length }, (_, i) => i);
    const batches = Math.ceil(data.length / bs);
    const parts: Float32Array[] = [];
    let lossSum = 0;
    for (let b = 0; b < batches; b++) {
      const batch = this.batch(data, order, b, bs);
      const logits = await runner.logits(batch);
      lossSum += crossEntropyOfLogits(logits, batch.labels, runner.ignoreIndex) * batch.batchSize;
      parts.push(logits);
    }
    const numClasses = parts.length ? parts[0].length / Math.min(bs, data.length) : 0;
    const predictions = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((off, p) => (predictions.set(p, off), off + p.length), 0);
    const labelIds = Int32Array.from(data, (e) => e.label);
    const runtime = (Date.now() - start) / 1000;
    const cap = (k: string) => `${prefix}${k[0].toUpperCase()}${k.slice(1)}`;
    const extra = this.computeMetrics({ predictions, labelIds, numClasses });
    const metrics: Metrics = {
      [cap("loss")]: lossSum / data.length,
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [cap(k), v])),
      [cap("runtime")]: runtime,
      [cap("samplesPerSecond")]: data.length / runtime,
      [cap("stepsPerSecond")]: batches / runtime,
    };
    return { predictions, labelIds, numClasses, metrics };
  }

  private async evaluateWith(
    runner: ClassifierRunner,
    data: readonly E[],
    prefix: string,
    state?: TrainerState,
  ): Promise<Metrics> {
    const { metrics } = await this.predictWith(runner, data, prefix);
    if (state) {
      metrics.epoch = state.epoch;
      this.record(state, metrics);
    }
    return metrics;
  }

  /** Runs `fn` with a runner: the one of a training run, or an evaluation-only one. */
  private async withRunner<T>(fn: (r: ClassifierRunner) => Promise<T>): Promise<T> {
    const runner = await this.model.createRunner();
    try {
      return await fn(runner);
    } finally {
      await runner.finish();
    }
  }

  /**
   * Evaluates on evalDataset (or `dataset`): evalLoss, evalAccuracy (computeMetrics' values), evalRuntime,
   * evalSamplesPerSecond, evalStepsPerSecond. Book: `trainer.evaluate()`.
   * @throws ConfigError without a data set.
   */
  async evaluate(dataset: readonly E[] | undefined = this.o.evalDataset): Promise<Metrics> {
    if (!dataset?.length) throw new ConfigError("Trainer.evaluate() needs an evalDataset");
    const metrics = await this.withRunner((r) => this.evaluateWith(r, dataset, "eval"));
    if (this.state) metrics.epoch = this.state.epoch;
    return metrics;
  }

  /** Logits, labels and `test`-prefixed metrics of `dataset`. Book: `trainer.predict(test_dataset)`. */
  async predict(dataset: readonly E[]): Promise<PredictionOutput> {
    if (!dataset.length) throw new ConfigError("Trainer.predict() needs a non-empty data set");
    return this.withRunner((r) => this.predictWith(r, dataset, "test"));
  }

  /** Writes checkpoint-<step>/ (model, optimizer, trainer_state.json) atomically: a staging folder renamed into place. */
  private saveCheckpoint(state: TrainerState, optimizerState: AdamWState, metrics: Metrics | undefined): void {
    const a = this.args;
    const dir = path.join(a.outputDir, `checkpoint-${state.globalStep}`);
    const value = metrics?.[a.metricForBestModel];
    if (metrics && value === undefined)
      throw new ConfigError(
        `metricForBestModel "${a.metricForBestModel}" is not among the metrics (${Object.keys(metrics).join(", ")})`,
      );
    if (
      value !== undefined &&
      (state.bestMetric === undefined || (a.greaterIsBetter ? value > state.bestMetric : value < state.bestMetric))
    ) {
      state.bestMetric = value;
      state.bestModelCheckpoint = dir;
    }
    fs.mkdirSync(a.outputDir, { recursive: true });
    const staging = fs.mkdtempSync(path.join(a.outputDir, `.checkpoint-${state.globalStep}-`));
    try {
      this.model.save(staging);
      saveOptimizer(path.join(staging, "optimizer.safetensors"), optimizerState);
      writeFileAtomic(path.join(staging, "trainer_state.json"), JSON.stringify(state, null, 1) + "\n");
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(staging, dir);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
    this.rotateCheckpoints(state);
  }

  /** save_total_limit: the oldest checkpoints go, the best one stays. */
  private rotateCheckpoints(state: TrainerState): void {
    const limit = this.args.saveTotalLimit;
    if (limit === undefined) return;
    const all = listCheckpoints(this.args.outputDir).filter((d) => d !== state.bestModelCheckpoint);
    const keep = limit - (state.bestModelCheckpoint ? 1 : 0);
    for (const d of all.slice(0, Math.max(0, all.length - Math.max(keep, 1))))
      fs.rmSync(d, { recursive: true, force: true });
  }

  /**
   * Reads a checkpoint: the model's weights, the trainer state, and AdamW's state (into the Trainer's AdamW, or
   * returned for a model whose runner keeps its own, to give it once the runner exists).
   */
  private loadCheckpoint(dir: string, optimizer: AdamW): { state: TrainerState; optimizer?: AdamWState } {
    const file = path.join(dir, "trainer_state.json");
    if (!fs.existsSync(file)) throw new DataFormatError(`${dir} is not a checkpoint (no trainer_state.json)`);
    let state: TrainerState;
    try {
      state = JSON.parse(fs.readFileSync(file, "utf8")) as TrainerState;
    } catch (err) {
      throw new DataFormatError(`${file} is not valid JSON`, { cause: err });
    }
    this.model.load(dir);
    const saved = loadOptimizer(path.join(dir, "optimizer.safetensors"));
    if (this.model.loadOptimizerState) return { state, optimizer: saved };
    optimizer.loadStateDict(saved);
    return { state };
  }
}

/** AdamW's moments as `m.<name>` / `v.<name>` tensors and the step count in the metadata. */
function saveOptimizer(file: string, s: AdamWState): void {
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, { m, v }] of s.moments) {
    tensors.set(`m.${name}`, { data: m, shape: [m.length] });
    tensors.set(`v.${name}`, { data: v, shape: [v.length] });
  }
  writeSafetensors(file, tensors, { step: String(s.t) });
}

function loadOptimizer(file: string): AdamWState {
  const st = new SafetensorsFile(file);
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const e of st.listVariables("m.")) {
    const name = e.name.slice(2);
    moments.set(name, { m: st.readTensor(e.name).data, v: st.readTensor(`v.${name}`).data });
  }
  return { t: Number(st.metadata.step ?? 0), moments };
}
