/**
 * Trains any set of a GPT classifier's parameters on ONNX Runtime (e.g. every parameter: the book's
 * exercise 6.2 / the bonus experiments' `all`), with the weights outside the tfjs (WASM) heap:
 *
 *   - one training session per batch shape computes the loss and the gradient of every trainable
 *     parameter (trainingGraph.ts: the model definition under the gradient tape);
 *   - one forward session (symbolic batch and sequence) evaluates with the current weights;
 *   - the trainable parameters, their gradients and AdamW's moments are Float32Arrays in WebAssembly memory
 *     (`WasmAdamW`, PyTorch's AdamW), fed to both sessions at every run; frozen parameters are the
 *     sessions' initializers (graph inputs from Float32Arrays when they would overflow a protobuf);
 *   - `syncToModel()` writes the trained values back into the GPTModel's variables.
 *
 * Dropout is not part of the native graphs: models with dropRate > 0 train on the plain (tfjs) path.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../../errors";
import { readoutWeights, type ReadoutKind } from "../../model/gpt";
import { FrozenParam } from "../../model/frozenParam";
import type { AdamWSettings } from "./adamw";
import { buildGptOnnx, type GptLike } from "../onnx/onnxGpt";
import {
  createOrtSession,
  loadOnnxRuntime,
  onnxRuntimeUnavailableReason,
  type OrtModule,
  type OrtSession,
} from "../runtime/onnxRuntime";
import { WasmAdamW } from "./wasmAdamW";
import {
  addRowGradient,
  buildTrainingGraph,
  lossTargets,
  MAX_INITIALIZER_BYTES,
  type ParamLike,
  type TrainingGraph,
} from "../onnx/trainingGraph";
import type { StepOptions } from "./runnerTypes";

type OrtTensor = InstanceType<OrtModule["Tensor"]>;

/** A training session of one batch shape, with buffers for its embedding row gradients. */
interface TrainSession {
  readonly session: OrtSession;
  readonly takesReadout: boolean;
  readonly rowGrads: ReadonlyMap<string, { rows: Float32Array; ids: Int32Array }>;
}

/** A batch of token ids, row-major [batchSize, seqLen] (a DataLoader batch fits). */
export interface IdsBatch {
  readonly inputIds: Int32Array;
  readonly batchSize: number;
}

/** Options of `OrtTrainer.create`. */
export interface OrtTrainerOptions {
  /** Parameter names to train (default: the model's trainable variables). */
  trainable?: Iterable<string>;
  /** What the classifier reads (default "last", the book's). */
  readout?: ReadoutKind;
  /** Causal attention mask (default true). */
  causal?: boolean;
  /** Padding token, for the flexible and mean readouts (default 50256). */
  padTokenId?: number;
  /** ONNX Runtime intra-op threads (default: one per core). */
  threads?: number;
  /**
   * Clip the gradients' global 2-norm to this before each step (PyTorch's `clip_grad_norm_`) when the step's
   * AdamW settings have no `maxGradNorm` of their own; default: no clipping.
   */
  maxGradNorm?: number;
  /** Parameters updated without weight decay (Hugging Face's Trainer: biases and LayerNorm weights; default none). */
  noDecay?: Iterable<string>;
}

/** A batch's data input of the graphs: values and dims. */
export interface DataFeed {
  readonly data: Float32Array | Int32Array;
  readonly dims: readonly number[];
}

/**
 * The model-specific part of native training: the parameters, the graphs of the model definition and the
 * batch's data inputs. GPT's (`gptNativeSpec`) and BERT's (engine/trainers/bertRunner.ts) implement it.
 */
export interface NativeClassifierSpec {
  readonly params: ReadonlyMap<string, ParamLike>;
  /** The head's outputs. */
  readonly classes: number;
  /** The forward graph: the data inputs and `paramInputs` → "logits" [batch, classes]. */
  forwardGraph(paramInputs: readonly string[]): Uint8Array;
  /** The training graph of one batch shape (trainingGraph.ts). */
  trainingGraph(opts: {
    batch: number;
    seq: number;
    trainable: readonly string[];
    frozen: "initializers" | "inputs";
  }): TrainingGraph;
  /** The batch's data inputs (token ids, masks; readout weights when the graph takes them). */
  dataFeeds(batch: IdsBatch, takesReadout: boolean): Record<string, DataFeed>;
}

/** GPT-2's part of native training (the classifier's readout and causal mask). */
export function gptNativeSpec(model: OrtTrainerModel, opts: OrtTrainerOptions = {}): NativeClassifierSpec {
  const readout = opts.readout ?? "last";
  return {
    params: model.params,
    classes: model.params.get("out_head.weight")!.shape[1] as number,
    forwardGraph: (paramInputs) => buildGptOnnx(model, { head: true, readout, causal: opts.causal, paramInputs }),
    trainingGraph: (o) => buildTrainingGraph(model, { ...o, readout, causal: opts.causal }),
    dataFeeds: (batch, takesReadout) => {
      const B = batch.batchSize,
        T = batch.inputIds.length / B;
      const feeds: Record<string, DataFeed> = { input_ids: { data: batch.inputIds, dims: [B, T] } };
      const w = takesReadout ? readoutWeights(readout, batch.inputIds, B, { padTokenId: opts.padTokenId }) : undefined;
      if (w) feeds.readout = { data: w, dims: [B, T] };
      return feeds;
    },
  };
}

/** A GPTModel as the trainer sees it: parameters by name, dropout rate. */
export interface OrtTrainerModel extends GptLike {
  readonly cfg: GptLike["cfg"] & { readonly dropRate: number };
}

/** Why the ONNX Runtime trainer cannot train this model, or undefined when it can. */
export function ortTrainerIneligibility(model: OrtTrainerModel): string | undefined {
  if (!loadOnnxRuntime()) return `onnxruntime-node is unavailable (${onnxRuntimeUnavailableReason()})`;
  if (model.cfg.dropRate > 0) return `dropRate is ${model.cfg.dropRate} (the native graphs have no dropout)`;
  if (!model.params.has("out_head.weight")) return "the model has no out_head";
  return undefined;
}

/** Trains a classifier's parameters on ONNX Runtime. Create with `OrtTrainer.create` (GPT) or `OrtTrainer.createFor`. */
export class OrtTrainer {
  private readonly trainSessions = new Map<string, TrainSession>();
  private stepCount = 0;
  private dirty = false;
  /** Where the last step's time went, in seconds: ONNX Runtime's forward and backward pass, and AdamW. */
  lastStepSeconds = { graph: 0, optimizer: 0 };
  /** The gradients' global norm at the last step (before clipping), when `maxGradNorm` is set. */
  lastGradNorm: number | undefined;

  private constructor(
    private readonly ort: OrtModule,
    private readonly spec: NativeClassifierSpec,
    /** The trained parameters, their gradient buffers and AdamW state. */
    private readonly opt: WasmAdamW,
    /** Frozen parameters fed as inputs (large models only), as Float32Arrays. */
    private readonly frozenInputs: ReadonlyMap<string, Float32Array>,
    private readonly forward: OrtSession,
    private readonly opts: OrtTrainerOptions,
  ) {}

  /**
   * Copies the trainable parameters out of the model and opens the forward session (training sessions
   * open at the first step of each batch shape).
   * @throws ConfigError when the model cannot be trained here (see `ortTrainerIneligibility`)
   */
  static async create(model: OrtTrainerModel, opts: OrtTrainerOptions = {}): Promise<OrtTrainer> {
    const reason = ortTrainerIneligibility(model);
    if (reason) throw new ConfigError(`The ONNX Runtime trainer cannot train this model: ${reason}`);
    return OrtTrainer.createFor(gptNativeSpec(model, opts), opts);
  }

  /**
   * The trainer of any classifier definition (`spec`): copies the trainable parameters (default: those whose
   * tfjs variable is trainable) and opens the forward session.
   * @throws ConfigError for unknown names or nothing to train; Error when onnxruntime-node is unavailable
   */
  static async createFor(spec: NativeClassifierSpec, opts: OrtTrainerOptions = {}): Promise<OrtTrainer> {
    const ort = loadOnnxRuntime();
    if (!ort) throw new ConfigError(`onnxruntime-node is unavailable (${onnxRuntimeUnavailableReason()})`);
    const params = spec.params;
    const trainable = new Set(
      opts.trainable ?? [...params].filter(([, t]) => (t as Partial<tf.Variable>).trainable === true).map(([n]) => n),
    );
    for (const n of trainable) if (!params.has(n)) throw new ConfigError(`Model has no parameter "${n}"`);
    if (!trainable.size) throw new ConfigError("Nothing to train: no parameter is trainable");
    if (opts.maxGradNorm !== undefined && !(opts.maxGradNorm > 0))
      throw new ConfigError(`maxGradNorm must be a positive number, got ${opts.maxGradNorm}`);
    const copy = (n: string) => Float32Array.from(params.get(n)!.dataSync());
    const opt = new WasmAdamW(new Map([...trainable].map((n) => [n, params.get(n)!.dataSync()])), {
      noDecay: opts.noDecay,
    });
    const frozen = [...params.keys()].filter((n) => !trainable.has(n));
    const frozenBytes = frozen.reduce((a, n) => a + params.get(n)!.size * 4, 0);
    // Frozen values outside tfjs (FrozenParam) are fed as they are: they live once.
    const frozenValues = (n: string) => {
      const p = params.get(n)!;
      return p instanceof FrozenParam ? p.dataSync() : copy(n);
    };
    const frozenInputs = new Map(frozenBytes > MAX_INITIALIZER_BYTES ? frozen.map((n) => [n, frozenValues(n)]) : []);
    const forward = await createOrtSession(spec.forwardGraph([...trainable, ...frozenInputs.keys()]), {
      threads: opts.threads,
    });
    return new OrtTrainer(ort, spec, opt, frozenInputs, forward, opts);
  }

  /** Names of the trained parameters. */
  get trainable(): string[] {
    return this.opt.names();
  }

  /** Optimizer steps taken. */
  get steps(): number {
    return this.stepCount;
  }

  /** Current value of a trained parameter (a view into WebAssembly memory, updated in place by each step). */
  param(name: string): Float32Array {
    return this.opt.param(name);
  }

  private tensor(data: Float32Array | Int32Array, dims: readonly number[]): OrtTensor {
    return data instanceof Int32Array
      ? new this.ort.Tensor("int32", data, dims)
      : new this.ort.Tensor("float32", data, dims);
  }

  /** Inputs shared by both sessions: the batch's data (token ids, masks, readout weights), parameters. */
  private feeds(batch: IdsBatch, withReadout: boolean): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const [n, f] of Object.entries(this.spec.dataFeeds(batch, withReadout)))
      feeds[n] = this.tensor(f.data, f.dims);
    for (const n of this.opt.names()) feeds[n] = this.tensor(this.opt.param(n), this.spec.params.get(n)!.shape);
    for (const [n, v] of this.frozenInputs) feeds[n] = this.tensor(v, this.spec.params.get(n)!.shape);
    return feeds;
  }

  private async trainSession(B: number, T: number): Promise<TrainSession> {
    const key = `${B}x${T}`;
    let session = this.trainSessions.get(key);
    if (!session) {
      const graph = this.spec.trainingGraph({
        batch: B,
        seq: T,
        trainable: this.opt.names(),
        frozen: this.frozenInputs.size ? "inputs" : "initializers",
      });
      // No spinning: AdamW runs between this session's runs.
      session = {
        session: await createOrtSession(graph.bytes, { threads: this.opts.threads, spinning: false }),
        takesReadout: graph.takesReadout,
        rowGrads: new Map(
          graph.rowGrads.map((n) => [
            n,
            { rows: new Float32Array(B * T * this.spec.params.get(n)!.shape[1]), ids: new Int32Array(B * T) },
          ]),
        ),
      };
      this.trainSessions.set(key, session);
    }
    return session;
  }

  /**
   * One AdamW step on a batch (zero_grad, loss, backward, step). With `update: false` the batch's gradients
   * are added to those accumulated since the last step and no step is taken (gradient accumulation;
   * `lossScale` is the book's `loss /= accumulation_steps`); `ignoreIndex` leaves rows out of the loss.
   * @param labels class ids [batchSize]
   * @returns the batch's mean cross-entropy (unscaled) before the update
   */
  async trainStep(
    batch: IdsBatch,
    labels: ArrayLike<number>,
    optim: AdamWSettings,
    opts: StepOptions = {},
  ): Promise<number> {
    const B = batch.batchSize,
      T = batch.inputIds.length / B;
    const C = this.spec.classes;
    const { session, takesReadout, rowGrads } = await this.trainSession(B, T);
    const feeds = this.feeds(batch, takesReadout);
    const { targets, rowWeights } = lossTargets(labels, C, opts);
    feeds.targets = this.tensor(targets, [B, C]);
    feeds.row_weights = this.tensor(rowWeights, [B]);
    // Preallocated outputs: ONNX Runtime writes the gradients straight into the optimizer's buffers (or, while
    // accumulating, into the scratch buffers the optimizer adds to them).
    const loss = new Float32Array(1);
    const fetches: Record<string, OrtTensor> = { loss: this.tensor(loss, []) };
    for (const n of this.opt.names()) {
      const rows = rowGrads.get(n);
      if (rows) {
        fetches[`grad:${n}`] = this.tensor(rows.rows, [rows.ids.length, this.spec.params.get(n)!.shape[1]]);
        fetches[`ids:${n}`] = this.tensor(rows.ids, [rows.ids.length]);
      } else {
        fetches[`grad:${n}`] = this.tensor(this.opt.gradOutput(n), this.spec.params.get(n)!.shape);
      }
    }
    const t0 = performance.now();
    await session.run(feeds, fetches);
    const t1 = performance.now();
    this.opt.addBatchGradients();
    // Embedding tables: the dense gradient is zeros plus the rows read (PyTorch's dense embedding gradient).
    for (const [n, rows] of rowGrads) {
      const dense = this.opt.accumulating ? this.opt.grad(n) : this.opt.grad(n).fill(0);
      addRowGradient(dense, rows.rows, rows.ids, this.spec.params.get(n)!.shape[1]);
    }
    if (opts.update ?? true) {
      this.stepCount++;
      this.lastGradNorm = this.opt.step(this.stepCount, {
        ...optim,
        maxGradNorm: optim.maxGradNorm ?? this.opts.maxGradNorm,
      });
      this.dirty = true;
    } else this.opt.holdStep();
    this.lastStepSeconds = { graph: (t1 - t0) / 1000, optimizer: (performance.now() - t1) / 1000 };
    return loss[0] / (opts.lossScale ?? 1);
  }

  /** The classifier's logits for a batch with the current weights (no gradient), row-major [batchSize, classes]. */
  async logits(batch: IdsBatch): Promise<Float32Array> {
    const out = await this.forward.run(this.feeds(batch, true), ["logits"]);
    return out.logits.data as Float32Array;
  }

  /**
   * Replaces the trained parameters' values (e.g. the best checkpoint, loaded at the end of a run) and zeroes
   * AdamW's moments; `syncToModel` then writes these values.
   */
  reset(values: ReadonlyMap<string, ArrayLike<number>>): void {
    for (const n of this.opt.names()) if (!values.has(n)) throw new ConfigError(`No values for "${n}"`);
    this.opt.reset(values);
    this.dirty = true;
  }

  /** AdamW's state, to checkpoint a run: the step count (its bias correction) and each trained parameter's moments. */
  optimizerState(): { t: number; moments: Map<string, { m: Float32Array; v: Float32Array }> } {
    return { t: this.stepCount, moments: this.opt.moments() };
  }

  /** Resumes AdamW from a checkpoint's state (`optimizerState`'s): the step count and the moments. */
  loadOptimizerState(s: {
    t: number;
    moments: ReadonlyMap<string, { m: ArrayLike<number>; v: ArrayLike<number> }>;
  }): void {
    if (!(Number.isSafeInteger(s.t) && s.t >= 0)) throw new ConfigError(`AdamW's step count must be ≥ 0, got ${s.t}`);
    this.stepCount = s.t;
    this.opt.setMoments(s.moments);
  }

  /** Writes the trained values into the model's parameters (tfjs variables, or arrays) before saving or using it. */
  syncToModel(): void {
    if (!this.dirty) return;
    for (const n of this.opt.names()) {
      const v = this.spec.params.get(n) as ParamLike & Partial<tf.Variable> & { data?: Float32Array };
      if (typeof v.assign === "function") {
        const assign = v.assign.bind(v);
        tf.tidy(() => assign(tf.tensor(this.opt.param(n), v.shape as number[])));
      } else if (v.data instanceof Float32Array) v.data.set(this.opt.param(n));
    }
    this.dirty = false;
  }

  /** Writes the weights back into the model and frees the sessions and the optimizer's memory. */
  async dispose(): Promise<void> {
    this.syncToModel();
    const sessions = [this.forward, ...[...this.trainSessions.values()].map((s) => s.session)];
    this.trainSessions.clear();
    await Promise.all(sessions.map((s) => s.release()));
    this.opt.dispose();
  }
}

/**
 * The trainer as a classifier path for createRunner (the interface of the fast path: `precompute`,
 * `logitsLastToken`, `trainStep`, `dispose`), or the reason it cannot serve the model.
 */
export async function createOrtTrainerPath(
  model: OrtTrainerModel,
  opts: OrtTrainerOptions = {},
): Promise<
  | {
      trainer: OrtTrainer;
      precompute(rows: readonly Int32Array[]): Promise<void>;
      logitsLastToken(batch: IdsBatch): Promise<Float32Array>;
      trainStep(batch: IdsBatch, labels: ArrayLike<number>, optim: AdamWSettings, opts?: StepOptions): Promise<number>;
      dispose(): Promise<void>;
    }
  | { reason: string }
> {
  const reason = ortTrainerIneligibility(model);
  if (reason) return { reason };
  const trainer = await OrtTrainer.create(model, opts);
  return {
    trainer,
    precompute: () => Promise.resolve(), // nothing is cached: every step computes the whole model
    logitsLastToken: (batch) => trainer.logits(batch),
    trainStep: (batch, labels, optim, opts) => trainer.trainStep(batch, labels, optim, opts),
    dispose: () => trainer.dispose(),
  };
}
