/**
 * Trains and evaluates the classifier's suffix (by default the last block + final norm + head at the last
 * position; any start block and readout, `SuffixSpec`) from cached prefix hidden states. The parameters live here as Float32Arrays while training (the model's
 * tf.Variables are updated by `syncToModel()`); AdamW runs on them in place (adamw.ts).
 * Gradients: ONNX Runtime with the suffix graph's backward pass (suffixGraph.ts, the gradient tape over the
 * model definition), or tfjs autodiff of `suffixLogits` when ONNX Runtime is unavailable.
 */
import * as tf from "@tensorflow/tfjs";
import type { AdamWSettings } from "./adamw";
import { suffixLogits } from "./lastTokenSuffix";
import type { GptLike } from "./onnxGpt";
import { createOrtSession, loadOnnxRuntime, OrtModule, OrtSession } from "./onnxRuntime";
import { ParallelAdamW } from "./parallelAdamW";
import {
  buildSuffixOnnx,
  resolveSuffixSpec,
  suffixParamNames,
  suffixTakesReadout,
  type SuffixSpec,
} from "./suffixGraph";

type OrtTensor = InstanceType<OrtModule["Tensor"]>;

/** Result of one training step. */
export interface SuffixStepResult {
  /** Mean cross-entropy of the batch before the update. */
  readonly loss: number;
}

/** The suffix's parameters, optimizer state and compute sessions. Create with `SuffixTrainer.create`. */
export class SuffixTrainer {
  /** Frozen suffix parameters (constant values). */
  private readonly frozen = new Map<string, Float32Array>();
  /** Trainable parameters, their gradient buffers and AdamW state (two threads). */
  private readonly opt: ParallelAdamW;
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
    /** Where the suffix starts and how the classifier reads it. */
    readonly spec: Required<SuffixSpec>,
  ) {
    const train = new Map<string, Float32Array>();
    for (const n of names)
      (trainable.has(n) ? train : this.frozen).set(n, Float32Array.from(model.params.get(n)!.dataSync()));
    this.opt = new ParallelAdamW(train);
  }

  /** Current value of a suffix parameter (a view; valid until the next step). */
  param(name: string): Float32Array {
    return this.trainable.has(name) ? this.opt.param(name) : this.frozen.get(name)!;
  }

  /** Threads used by AdamW (1 or 2). */
  get optimizerThreads(): number {
    return this.opt.threads;
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
      // No spinning: AdamW (two threads) runs between these sessions' runs.
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

  /** Whether `logits` and `trainStep` need the readout weights [batch, seq] (flexible and mean readouts). */
  get takesReadout(): boolean {
    return suffixTakesReadout(this.spec);
  }

  private feeds(hidden: Float32Array, batch: number, readout?: Float32Array): Record<string, OrtTensor> {
    const { mod } = this.ort!;
    const T = hidden.length / (batch * this.model.cfg.embDim);
    const feeds: Record<string, OrtTensor> = {
      hidden: new mod.Tensor("float32", hidden, [batch, T, this.model.cfg.embDim]),
    };
    if (this.takesReadout) feeds.readout = new mod.Tensor("float32", this.readoutOrThrow(readout), [batch, T]);
    for (const n of this.names) feeds[n] = new mod.Tensor("float32", this.param(n), this.model.params.get(n)!.shape);
    return feeds;
  }

  /** Writes the current parameter values into the model's variables (tfjs path: before computing). */
  private pushToModel(): void {
    for (const n of this.names) {
      const variable = this.model.params.get(n) as tf.Variable;
      tf.tidy(() => variable.assign(tf.tensor(this.param(n), variable.shape)));
    }
    this.dirty = false;
  }

  private readoutOrThrow(readout: Float32Array | undefined): Float32Array {
    if (!readout) throw new Error(`The ${this.spec.readout} readout needs its weights [batch, seq]`);
    return readout;
  }

  /** The suffix's logits in tfjs from the model's variables (the path without ONNX Runtime). */
  private tfjsLogits(hidden: tf.Tensor3D, readout: Float32Array | undefined): tf.Tensor2D {
    const [B, T] = hidden.shape;
    return tf.tidy(() =>
      suffixLogits(
        this.model,
        hidden,
        this.spec,
        this.takesReadout ? tf.tensor2d(this.readoutOrThrow(readout), [B, T]) : undefined,
      ),
    );
  }

  /**
   * The classifier's logits of a batch, no gradients.
   * @param hidden prefix output, row-major [batch, seq, E]
   * @param readout the readout weights, row-major [batch, seq], for the flexible and mean readouts
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
   * One training step: loss and gradients on the batch, then AdamW on the trainable parameters.
   * @param hidden prefix output [batch, seq, E]; @param labels class ids [batch]
   * @param readout the readout weights [batch, seq], for the flexible and mean readouts
   */
  async trainStep(
    hidden: Float32Array,
    batch: number,
    labels: ArrayLike<number>,
    optim: AdamWSettings,
    readout?: Float32Array,
  ): Promise<SuffixStepResult> {
    const C = this.classes;
    let loss: number;
    if (this.ort) {
      const { mod } = this.ort;
      const feeds = this.feeds(hidden, batch, readout);
      const onehot = new Float32Array(batch * C);
      for (let b = 0; b < batch; b++) onehot[b * C + labels[b]] = 1;
      feeds.targets = new mod.Tensor("float32", onehot, [batch, C]);
      feeds.row_weights = new mod.Tensor("float32", new Float32Array(batch).fill(1 / batch), [batch]); // the mean
      // Preallocated outputs: ORT writes the gradients straight into the optimizer's gradient buffers.
      const lossOut = new Float32Array(1);
      const fetches: Record<string, OrtTensor> = { loss: new mod.Tensor("float32", lossOut, []) };
      for (const n of this.trainable)
        fetches[`grad:${n}`] = new mod.Tensor("float32", this.opt.grad(n), this.model.params.get(n)!.shape);
      await (await this.trainSession(batch, hidden.length / (batch * this.model.cfg.embDim))).run(feeds, fetches);
      loss = lossOut[0];
    } else {
      if (this.dirty) this.pushToModel();
      const T = hidden.length / (batch * this.model.cfg.embDim);
      const trainNames = [...this.trainable];
      const vars = trainNames.map((n) => this.model.params.get(n) as tf.Variable);
      const h = tf.tensor3d(hidden, [batch, T, this.model.cfg.embDim]);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from(labels), "int32"), C));
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, this.tfjsLogits(h, readout)),
        vars,
      );
      loss = (await value.data())[0];
      for (let i = 0; i < vars.length; i++) this.opt.grad(trainNames[i]).set(await grads[vars[i].name].data());
      tf.dispose([h, y, value, grads]);
    }
    this.stepCount++;
    await this.opt.step(this.stepCount, optim);
    this.dirty = true;
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
   * The training session of a batch shape: one graph per shape (a DataLoader gives one or two), since the
   * backward pass through more than one block needs numeric sizes (`buildSuffixOnnx`'s `batchShape`).
   */
  private async trainSession(batch: number, seq: number): Promise<OrtSession> {
    const { train } = this.ort!;
    const key = `${batch}x${seq}`;
    let session = train.get(key);
    if (!session) {
      const graph = buildSuffixOnnx(this.model, { ...this.spec, backward: true, batchShape: [batch, seq] });
      session = await createOrtSession(graph, { spinning: false });
      train.set(key, session);
    }
    return session;
  }

  /** Frees the ONNX sessions. */
  async dispose(): Promise<void> {
    if (this.ort) await Promise.all([this.ort.forward, ...this.ort.train.values()].map((s) => s.release()));
    await this.opt.dispose();
  }
}
