/**
 * Trains and evaluates the classifier's suffix from cached prefix hidden states: by default the last block +
 * final norm + head at the last position; any start block, readout and mask with `SuffixSpec` (the bonus
 * experiments' configurations). Gradient accumulation and ignore_index go through the loss's row weights.
 * The parameters live here as Float32Arrays in WebAssembly memory while training (the model's tf.Variables are
 * updated by `syncToModel()`); AdamW runs on them in place (wasmAdamW.ts).
 * Gradients: ONNX Runtime with the suffix graph's backward pass (suffixGraph.ts, the gradient tape over the
 * model definition), or tfjs autodiff of `suffixLogits` when ONNX Runtime is unavailable.
 */
import * as tf from "@tensorflow/tfjs";
import type { AdamWSettings } from "../trainers/adamw";
import { suffixLogits } from "./lastTokenSuffix";
import { ConfigError } from "../../errors";
import { type ReadoutKind } from "../../model/gpt";
import type { GptLike } from "../onnx/onnxGpt";
import { createOrtSession, loadOnnxRuntime, OrtModule, OrtSession } from "../runtime/onnxRuntime";
import { WasmAdamW } from "../trainers/wasmAdamW";
import {
  buildSuffixOnnx,
  resolveSuffixSpec,
  suffixParamNames,
  suffixTakesReadout,
  type SuffixSpec,
} from "../onnx/suffixGraph";
import { lossTargets } from "../onnx/trainingGraph";
import type { StepOptions } from "../trainers/runnerTypes";
import { crossEntropy } from "../../model/layers";
import { TfjsOps } from "../../model/tfjsOps";

type OrtTensor = InstanceType<OrtModule["Tensor"]>;

const tfjsOps = new TfjsOps();

/** Result of one training step. */
export interface SuffixStepResult {
  /** Mean cross-entropy of the batch before the update. */
  readonly loss: number;
}

/** The suffix's parameters, optimizer state and compute sessions. Create with `SuffixTrainer.create`. */
export class SuffixTrainer {
  /** Frozen suffix parameters (constant values). */
  private readonly frozen = new Map<string, Float32Array>();
  /** Trainable parameters, their gradient buffers and AdamW state. */
  private readonly opt: WasmAdamW;
  private stepCount = 0;
  private dirty = false;

  private constructor(
    private readonly model: GptLike,
    /** Suffix parameter names (blocks spec.fromBlock.., final_norm, out_head), in graph order. */
    readonly names: readonly string[],
    /** Names updated by training (the model's trainable ones among `names`). */
    readonly trainable: ReadonlySet<string>,
    /** Number of classes of the head. */
    readonly classes: number,
    private readonly ort: { mod: OrtModule; forward: OrtSession; train: Map<string, OrtSession> } | undefined,
    /** Where the suffix starts, what the classifier reads and whether attention masks (SuffixSpec). */
    readonly spec: Required<SuffixSpec>,
  ) {
    const train = new Map<string, ArrayLike<number>>();
    for (const n of names) {
      const values = model.params.get(n)!.dataSync() as Float32Array;
      if (trainable.has(n)) train.set(n, values);
      else this.frozen.set(n, Float32Array.from(values));
    }
    this.opt = new WasmAdamW(train);
  }

  /** Current value of a suffix parameter (a view, updated in place by each step). */
  param(name: string): Float32Array {
    return this.trainable.has(name) ? this.opt.param(name) : this.frozen.get(name)!;
  }

  /** What the classifier reads. */
  get readout(): ReadoutKind {
    return this.spec.readout;
  }

  /**
   * @param model GPTModel whose blocks from `opts.suffix.fromBlock` (default the last) / final norm / head are the suffix
   * @param opts.useOnnx false forces the tfjs path (default: ONNX Runtime when it loads)
   */
  static async create(
    model: GptLike,
    opts: { useOnnx?: boolean; trainable?: Iterable<string>; suffix?: SuffixSpec } = {},
  ): Promise<SuffixTrainer> {
    const spec = resolveSuffixSpec(model, opts.suffix);
    const names = suffixParamNames(model, spec.fromBlock);
    const trainable = new Set(
      opts.trainable ?? names.filter((n) => (model.params.get(n) as tf.Variable).trainable !== false),
    );
    const classes = model.params.get("out_head.weight")!.shape[1] as number;
    const mod = opts.useOnnx === false ? undefined : loadOnnxRuntime();
    let ort: { mod: OrtModule; forward: OrtSession; train: Map<string, OrtSession> } | undefined;
    if (mod) {
      // No spinning: AdamW runs between these sessions' runs. Training sessions open per batch shape.
      const forward = await createOrtSession(buildSuffixOnnx(model, spec), { spinning: false });
      ort = { mod, forward, train: new Map() };
    }
    return new SuffixTrainer(model, names, trainable, classes, ort, spec);
  }

  /** "onnx" when ORT computes the suffix, else "tfjs". */
  get kind(): "onnx" | "tfjs" {
    return this.ort ? "onnx" : "tfjs";
  }

  /** Training steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  private feeds(hidden: Float32Array, batch: number, readout?: Float32Array): Record<string, OrtTensor> {
    const { mod } = this.ort!;
    const T = hidden.length / (batch * this.model.cfg.embDim);
    const feeds: Record<string, OrtTensor> = {
      hidden: new mod.Tensor("float32", hidden, [batch, T, this.model.cfg.embDim]),
    };
    if (this.takesReadout) feeds.readout = new mod.Tensor("float32", this.needReadout(readout), [batch, T]);
    for (const n of this.names) feeds[n] = new mod.Tensor("float32", this.param(n), this.model.params.get(n)!.shape);
    return feeds;
  }

  /** True when the readout needs per-batch weights [B, T] (flexible, mean: see readoutWeights). */
  get takesReadout(): boolean {
    return suffixTakesReadout(this.spec);
  }

  private needReadout(w: Float32Array | undefined): Float32Array {
    if (!w) throw new ConfigError(`the ${this.readout} readout needs the batch's readout weights`);
    return w;
  }

  /** The suffix on tfjs with this trainer's readout and mask (caller disposes). */
  private tfjsLogits(h: tf.Tensor3D, readout?: Float32Array): tf.Tensor2D {
    const [B, T] = h.shape;
    return tf.tidy(() =>
      suffixLogits(
        this.model,
        h,
        this.spec,
        this.takesReadout ? tf.tensor2d(this.needReadout(readout), [B, T]) : undefined,
      ),
    );
  }

  /** Writes the trained parameters' values into the model's variables (the frozen ones never change). */
  private pushToModel(): void {
    for (const n of this.trainable) {
      const variable = this.model.params.get(n) as tf.Variable;
      tf.tidy(() => variable.assign(tf.tensor(this.param(n), variable.shape)));
    }
    this.dirty = false;
  }

  /**
   * The classifier's logits of a batch (its readout's), no gradients.
   * @param hidden prefix output, row-major [batch, seq, E]
   * @param readout the readout weights [batch, seq], for the flexible and mean readouts
   * @returns row-major [batch, classes]
   */
  async logits(hidden: Float32Array, batch: number, readout?: Float32Array): Promise<Float32Array> {
    if (this.ort) {
      const out = await this.ort.forward.run(this.feeds(hidden, batch, readout), ["logits"]);
      return out.logits.data as Float32Array;
    }
    if (this.dirty) this.pushToModel();
    const T = hidden.length / (batch * this.model.cfg.embDim);
    const h = tf.tensor3d(hidden, [batch, T, this.model.cfg.embDim]);
    const y = this.tfjsLogits(h, readout);
    const data = (await y.data()) as Float32Array;
    tf.dispose([h, y]);
    return data;
  }

  /**
   * One training step: loss and gradients on the batch, then AdamW on the trainable parameters. With
   * `update: false` the batch's gradients are added to those accumulated since the last step and no step is
   * taken (gradient accumulation; `lossScale` is the book's `loss /= accumulation_steps`).
   * @param hidden prefix output [batch, seq, E]; @param labels class ids [batch]
   * @returns the batch's loss (unscaled) before the update
   */
  async trainStep(
    hidden: Float32Array,
    batch: number,
    labels: ArrayLike<number>,
    optim: AdamWSettings,
    opts: StepOptions = {},
  ): Promise<SuffixStepResult> {
    const C = this.classes,
      scale = opts.lossScale ?? 1;
    const { targets, rowWeights } = lossTargets(labels, C, opts);
    let loss: number;
    if (this.ort) {
      const { mod } = this.ort;
      const feeds = this.feeds(hidden, batch, opts.readoutWeights);
      feeds.targets = new mod.Tensor("float32", targets, [batch, C]);
      feeds.row_weights = new mod.Tensor("float32", rowWeights, [batch]); // the (scaled) mean over the rows kept
      // Preallocated outputs: ORT writes the gradients straight into the optimizer's gradient buffers (or,
      // while accumulating, into the scratch buffers the optimizer adds to them).
      const lossOut = new Float32Array(1);
      const fetches: Record<string, OrtTensor> = { loss: new mod.Tensor("float32", lossOut, []) };
      for (const n of this.trainable)
        fetches[`grad:${n}`] = new mod.Tensor("float32", this.opt.gradOutput(n), this.model.params.get(n)!.shape);
      await (await this.trainSession(batch, hidden.length / (batch * this.model.cfg.embDim))).run(feeds, fetches);
      loss = lossOut[0] / scale;
    } else {
      if (this.dirty) this.pushToModel();
      const T = hidden.length / (batch * this.model.cfg.embDim);
      const trainNames = [...this.trainable];
      const vars = trainNames.map((n) => this.model.params.get(n) as tf.Variable);
      const h = tf.tensor3d(hidden, [batch, T, this.model.cfg.embDim]);
      const y = tf.tensor2d(targets, [batch, C]),
        w = tf.tensor1d(rowWeights);
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(tfjsOps, this.tfjsLogits(h, opts.readoutWeights), y, w) as tf.Scalar,
        vars,
      );
      loss = (await value.data())[0] / scale;
      for (let i = 0; i < vars.length; i++) this.opt.gradOutput(trainNames[i]).set(await grads[vars[i].name].data());
      tf.dispose([h, y, w, value, grads]);
    }
    this.opt.addBatchGradients();
    if (opts.update ?? true) {
      this.stepCount++;
      this.opt.step(this.stepCount, optim);
      this.dirty = true;
    } else this.opt.holdStep();
    return { loss };
  }

  /** Copies the current parameter values into the model's tf.Variables (call before using the model itself). */
  syncToModel(): void {
    if (this.dirty) this.pushToModel();
  }

  /** Re-reads the parameters from the model (after the model's weights were changed elsewhere) and resets AdamW. */
  reloadFromModel(): void {
    for (const [n, v] of this.frozen) v.set(this.model.params.get(n)!.dataSync());
    this.opt.reset(new Map([...this.trainable].map((n) => [n, this.model.params.get(n)!.dataSync()])));
    this.stepCount = 0;
    this.dirty = false;
  }

  /**
   * The training session of a batch shape. One graph serves every shape when the suffix is at most one block;
   * the backward pass through more blocks needs numeric sizes (`buildSuffixOnnx`'s `batchShape`), so those get
   * one graph per shape (a padded DataLoader gives one or two; unpadded texts one per length).
   */
  private async trainSession(batch: number, seq: number): Promise<OrtSession> {
    const { train } = this.ort!;
    const perShape = this.spec.fromBlock < this.model.cfg.nLayers - 1;
    const key = perShape ? `${batch}x${seq}` : "any";
    let session = train.get(key);
    if (!session) {
      const batchShape = perShape ? ([batch, seq] as const) : undefined;
      const graph = buildSuffixOnnx(this.model, { ...this.spec, backward: true, batchShape });
      session = await createOrtSession(graph, { spinning: false });
      train.set(key, session);
    }
    return session;
  }

  /** Frees the ONNX sessions. */
  async dispose(): Promise<void> {
    if (this.ort) await Promise.all([this.ort.forward, ...this.ort.train.values()].map((s) => s.release()));
    this.opt.dispose();
  }
}
