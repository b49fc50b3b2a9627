/**
 * How a batch is run during training and evaluation. The plain runner is the book's loop, split at
 * one seam so that the frozen layers never enter the gradient tape:
 *
 *   features = frozenTrunk(inputs)   // embeddings + leading frozen blocks, no gradient (per-block tidy)
 *   loss     = calcLossBatch(features, targets, suffix)   // the book's calc_loss_batch on the rest:
 *              // trainable blocks → final norm → head at the last position → cross-entropy, differentiable
 *
 * Same numbers as running the whole model inside tf.variableGrads, without the memory of a tape over
 * every block (on WASM a full-model tape of GPT-2 124M exceeds the 4 GB heap). The frozen trunk is a
 * gradient-free forward pass, so a native engine may compute it (`PlainRunnerOptions.trunk`: the
 * performance engine's ONNX Runtime session, which createRunner attaches when it can); it is still
 * computed again for every batch. An exact fast path (frozen prefix cached once per text) plugs in
 * through the same interface.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../data/dataLoader";
import { batchTensors } from "../data/dataLoader";
import type {
  ClassifierHeadOptions,
  ClassifierRunner,
  PlainRunnerOptions,
  TrainStepOptions,
  TrunkEngine,
} from "../engine/trainers/runnerTypes";
import { ConfigError } from "../errors";
import { readoutOf, readoutWeights } from "../model/gpt";
import { frozenTrunkSize } from "../model/frozenTrunk";
import type { ForwardOptions, GPTModel } from "../model/gptModel";
import { crossEntropy as crossEntropyOf } from "../model/layers";
import { TfjsOps } from "../model/tfjsOps";
import { PAD_TOKEN_ID } from "../tokenizer";
import { syncReadsAvailable } from "../webgpuAdapter";
import type { AdamW } from "./adamw";

const tfjsOps = new TfjsOps();

/**
 * Cross-entropy of the classifier's logits (the model definition's, layers.ts) in tfjs: logits [B, C], targets
 * int32 [B] → scalar, the mean over the rows whose target is not `ignoreIndex` (PyTorch's `cross_entropy(...,
 * ignore_index)`; default -100; NaN when every row is ignored, as in PyTorch).
 */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, ignoreIndex = -100): tf.Scalar {
  return tf.tidy(() => {
    const onehot = tf.oneHot(targets, logits.shape[1]);
    const ignored = targets.equal(ignoreIndex);
    // Without synchronous reads (WebGPU in Node) the masked mean serves every batch: the same value when none is ignored.
    if (syncReadsAvailable() && !ignored.any().dataSync()[0])
      return crossEntropyOf(tfjsOps, logits, onehot) as tf.Scalar;
    const keep = tf.logicalNot(ignored).toFloat();
    return crossEntropyOf(tfjsOps, logits, onehot, keep.div(keep.sum())) as tf.Scalar;
  });
}

/** Last-position logits of the whole model: inputs int32 [B, T] → [B, C] (the book's `model(x)[:, -1, :]`). */
export function lastTokenLogitsOf(model: GPTModel, inputs: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const out = model.forward(inputs); // [B, T, C]
    return out.slice([0, out.shape[1] - 1, 0], [-1, 1, -1]).squeeze<tf.Tensor2D>([1]);
  });
}

/**
 * Mean cross-entropy of logits [B, C] against labels, in float64 (equal to PyTorch's to ~1e-7), over the rows
 * whose label is not `ignoreIndex` (default -100).
 */
export function crossEntropyOfLogits(logits: Float32Array, labels: ArrayLike<number>, ignoreIndex = -100): number {
  const B = labels.length,
    C = logits.length / B;
  let total = 0,
    n = 0;
  for (let b = 0; b < B; b++) {
    if (labels[b] === ignoreIndex) continue;
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[b * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[b * C + c] - max);
    total += max + Math.log(sum) - logits[b * C + labels[b]];
    n++;
  }
  return total / n;
}

/** The last token's logits [B, C] from a batch's inputs: the whole model, or a runner's layers after its frozen trunk. */
export type LastTokenLogitsFn = (inputBatch: tf.Tensor) => tf.Tensor2D;

/**
 * Loss of one batch: cross-entropy of the last token's logits (or the runner's readout; `ignoreIndex` as in
 * the bonus experiments' calc_loss_batch). Book: calc_loss_batch, 6.6.
 *
 * - `calcLossBatch(inputBatch, targetBatch, model)` → a tfjs scalar, differentiable: the book's form, and
 *   PlainRunner.trainStep's inside tf.variableGrads (there `model` is the layers after the frozen trunk and
 *   `inputBatch` the trunk's features). The caller disposes the result.
 * - `calcLossBatch(batch, runner)` → the loss without gradient, as a number (calcLossLoader's step): the
 *   runner's last-token logits (the fast path's from ONNX Runtime) and their cross-entropy in float64.
 */
export function calcLossBatch(
  inputBatch: tf.Tensor,
  targetBatch: tf.Tensor1D,
  model: GPTModel | LastTokenLogitsFn,
  ignoreIndex?: number,
): tf.Scalar;
export function calcLossBatch(batch: Batch, runner: ClassifierRunner): Promise<number>;
export function calcLossBatch(
  input: tf.Tensor | Batch,
  target: tf.Tensor1D | ClassifierRunner,
  model?: GPTModel | LastTokenLogitsFn,
  ignoreIndex?: number,
): tf.Scalar | Promise<number> {
  if (!(input instanceof tf.Tensor)) {
    if (target instanceof tf.Tensor) throw new TypeError("calcLossBatch(batch, runner): the runner is missing");
    return target.logits(input).then((logits) => crossEntropyOfLogits(logits, input.labels, target.ignoreIndex));
  }
  if (!(target instanceof tf.Tensor) || !model)
    throw new TypeError("calcLossBatch(inputBatch, targetBatch, model): the targets or the model are missing");
  const forward: LastTokenLogitsFn =
    typeof model === "function" ? model : (x) => lastTokenLogitsOf(model, x as tf.Tensor2D);
  return tf.tidy(() => crossEntropy(forward(input), target, ignoreIndex));
}

/** The book's loop (every layer computed every step), with the frozen trunk kept out of the gradient tape. */
export class PlainRunner implements ClassifierRunner {
  readonly kind = "plain";
  private trunkEngine: TrunkEngine | undefined;
  private onFinish: PlainRunnerOptions["onFinish"];
  /** What the classifier reads, the causal mask and the loss's ignore_index (the bonus experiments' options). */
  readonly head: Required<ClassifierHeadOptions>;
  /** Gradients accumulated over the batches since the last optimizer step (gradient accumulation). */
  private accumulated: Record<string, tf.Tensor> | undefined;

  constructor(
    readonly model: GPTModel,
    readonly optimizer?: AdamW,
    opts: PlainRunnerOptions & ClassifierHeadOptions = {},
  ) {
    this.trunkEngine = opts.trunk;
    this.onFinish = opts.onFinish;
    this.head = {
      readout: opts.readout ?? "last",
      causal: opts.causal ?? true,
      ignoreIndex: opts.ignoreIndex ?? -100,
      padTokenId: opts.padTokenId ?? PAD_TOKEN_ID,
    };
  }

  get ignoreIndex(): number {
    return this.head.ignoreIndex;
  }

  /** "onnx" when a native engine computes the frozen trunk, else "tfjs". */
  get trunkKind(): "onnx" | "tfjs" {
    return this.trunkEngine ? "onnx" : "tfjs";
  }

  /**
   * The frozen part of the forward pass, outside any gradient tape: embeddings and the leading frozen
   * blocks, each block in its own tidy. inputs int32 [B, T] → features [B, T, E]; when the embeddings
   * are trainable there is no frozen trunk and the token ids come back unchanged (a clone).
   * Computed again from the current weights at every call, in tfjs. The caller disposes the result.
   * @param opts `training`: dropout on (the book's model.train(); matters only when dropRate > 0)
   */
  frozenTrunk(inputs: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor {
    const { embedFrozen, blocks } = frozenTrunkSize(this.model);
    if (!embedFrozen) return inputs.clone();
    const o = { causal: this.head.causal, ...opts };
    let x: tf.Tensor = this.model.embed(inputs, o);
    for (let i = 0; i < blocks; i++) {
      const next = this.model.block(i, x, o);
      x.dispose();
      x = next;
    }
    return x;
  }

  /**
   * frozenTrunk on the native engine when there is one and it applies (same trunk; no dropout to apply),
   * else in tfjs. The caller disposes the result.
   */
  private async trunkOf(batch: Batch, inputs: tf.Tensor2D, training: boolean): Promise<tf.Tensor> {
    const engine = this.trunkEngine;
    const { embedFrozen, blocks } = frozenTrunkSize(this.model);
    if (engine && embedFrozen && engine.blocks === blocks && !(training && this.model.cfg.dropRate > 0)) {
      const hidden = await engine.run(batch.inputIds, batch.batchSize);
      return tf.tensor3d(hidden, [batch.batchSize, batch.seqLen, this.model.cfg.embDim]);
    }
    return this.frozenTrunk(inputs, { training });
  }

  /**
   * The readout's data for a batch: one-hot rows at the last real token ("flexible") or the mean's weights
   * ("mean"), [B, T]; undefined for "last" and "first". The caller disposes it.
   */
  readoutWeights(batch: Batch): tf.Tensor2D | undefined {
    const w = readoutWeights(this.head.readout, batch.inputIds, batch.batchSize, { padTokenId: this.head.padTokenId });
    return w && tf.tensor2d(w, [batch.batchSize, batch.seqLen]);
  }

  /**
   * The trainable part: the remaining blocks, then the final norm and the head at the readout's position(s)
   * (the last block computes only the rows the readout reads: LayerNorm and the head act per position, so
   * this equals reading the full output). features from frozenTrunk → logits [B, numClasses]; differentiable
   * (use inside tf.variableGrads). The caller disposes the result.
   * @param weights the readout's data (readoutWeights), for the flexible and mean readouts
   */
  suffix(features: tf.Tensor, opts: ForwardOptions = {}, weights?: tf.Tensor): tf.Tensor2D {
    const { embedFrozen, blocks } = frozenTrunkSize(this.model);
    const kind = this.head.readout;
    const readout = readoutOf(kind, () => {
      if (!weights) throw new ConfigError(`the ${kind} readout needs the batch's readout weights`);
      return weights;
    });
    return this.model.classifierLogits(features, {
      ...opts,
      causal: this.head.causal,
      fromBlock: embedFrozen ? blocks : 0,
      embed: !embedFrozen,
      readout,
    });
  }

  async logits(batch: Batch): Promise<Float32Array> {
    const { inputs, targets } = batchTensors(batch);
    const features = await this.trunkOf(batch, inputs, false);
    const weights = this.readoutWeights(batch);
    const logits = this.suffix(features, {}, weights);
    const out = (await logits.data()) as Float32Array;
    tf.dispose([inputs, targets, features, logits, weights]);
    return out;
  }

  async trainStep(batch: Batch, opts: TrainStepOptions = {}): Promise<number> {
    if (!this.optimizer) throw new Error("PlainRunner.trainStep needs an optimizer");
    const scale = opts.lossScale ?? 1;
    const { inputs, targets } = batchTensors(batch);
    // The book's model.train(): dropout on (when dropRate > 0). The trunk needs no gradient: computed before the tape starts.
    const features = await this.trunkOf(batch, inputs, true);
    const weights = this.readoutWeights(batch);
    const params = this.optimizer.params;
    const { value, grads } = tf.variableGrads(() => {
      const loss = calcLossBatch(
        features,
        targets,
        (x) => this.suffix(x, { training: true }, weights),
        this.head.ignoreIndex,
      );
      return scale === 1 ? loss : tf.tidy(() => tf.mul<tf.Scalar>(loss, scale)); // the book's loss /= accumulation_steps
    }, [...params.values()]);
    // variableGrads keys gradients by tfjs variable name; map them back to our parameter names.
    const byName: Record<string, tf.Tensor> = {};
    for (const [name, v] of params) if (grads[v.name]) byName[name] = grads[v.name];
    // Gradient accumulation: add this batch's gradients to those since the last step (PyTorch's .grad +=).
    const sum = this.accumulated;
    if (sum)
      for (const name of Object.keys(byName)) {
        const g = byName[name];
        byName[name] = sum[name] ? tf.add(sum[name], g) : g.clone();
        tf.dispose([sum[name], g]);
      }
    if (opts.update ?? true) {
      this.optimizer.step(byName);
      tf.dispose(Object.values(byName));
      this.accumulated = undefined;
    } else this.accumulated = byName;
    const loss = (await value.data())[0] / scale;
    tf.dispose([inputs, targets, features, value, weights]);
    return loss;
  }

  /** Frees the trunk engine and runs onFinish (idempotent). The runner still works afterwards, in tfjs. */
  async finish(): Promise<void> {
    const engine = this.trunkEngine,
      done = this.onFinish;
    this.trunkEngine = undefined;
    this.onFinish = undefined;
    if (this.accumulated) tf.dispose(Object.values(this.accumulated));
    this.accumulated = undefined;
    await engine?.release();
    await done?.();
  }
}
