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
import type { ClassifierRunner, PlainRunnerOptions, TrunkEngine } from "../engine/runnerTypes";
import { frozenTrunkSize } from "../model/frozenTrunk";
import type { ForwardOptions, GPTModel } from "../model/gptModel";
import { crossEntropy as crossEntropyOf } from "../model/layers";
import { TfjsOps } from "../model/tfjsOps";
import type { AdamW } from "./adamw";

const tfjsOps = new TfjsOps();

/** Cross-entropy of last-token logits (the model definition's, layers.ts) in tfjs: logits [B, C], targets int32 [B] → scalar (mean). */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => crossEntropyOf(tfjsOps, logits, tf.oneHot(targets, logits.shape[1])) as tf.Scalar);
}

/** Last-position logits of the whole model: inputs int32 [B, T] → [B, C] (the book's `model(x)[:, -1, :]`). */
export function lastTokenLogitsOf(model: GPTModel, inputs: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const out = model.forward(inputs); // [B, T, C]
    return out.slice([0, out.shape[1] - 1, 0], [-1, 1, -1]).squeeze<tf.Tensor2D>([1]);
  });
}

/** Mean cross-entropy of last-token logits [B, C] against labels, in float64 (equal to PyTorch's to ~1e-7). */
export function crossEntropyOfLogits(logits: Float32Array, labels: ArrayLike<number>): number {
  const B = labels.length,
    C = logits.length / B;
  let total = 0;
  for (let b = 0; b < B; b++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[b * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[b * C + c] - max);
    total += max + Math.log(sum) - logits[b * C + labels[b]];
  }
  return total / B;
}

/** The last token's logits [B, C] from a batch's inputs: the whole model, or a runner's layers after its frozen trunk. */
export type LastTokenLogitsFn = (inputBatch: tf.Tensor) => tf.Tensor2D;

/**
 * Loss of one batch: cross-entropy of the last token's logits. Book: calc_loss_batch, 6.6.
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
): tf.Scalar;
export function calcLossBatch(batch: Batch, runner: ClassifierRunner): Promise<number>;
export function calcLossBatch(
  input: tf.Tensor | Batch,
  target: tf.Tensor1D | ClassifierRunner,
  model?: GPTModel | LastTokenLogitsFn,
): tf.Scalar | Promise<number> {
  if (!(input instanceof tf.Tensor)) {
    if (target instanceof tf.Tensor) throw new TypeError("calcLossBatch(batch, runner): the runner is missing");
    return target.logits(input).then((logits) => crossEntropyOfLogits(logits, input.labels));
  }
  if (!(target instanceof tf.Tensor) || !model)
    throw new TypeError("calcLossBatch(inputBatch, targetBatch, model): the targets or the model are missing");
  const forward: LastTokenLogitsFn =
    typeof model === "function" ? model : (x) => lastTokenLogitsOf(model, x as tf.Tensor2D);
  return tf.tidy(() => crossEntropy(forward(input), target));
}

/** The book's loop (every layer computed every step), with the frozen trunk kept out of the gradient tape. */
export class PlainRunner implements ClassifierRunner {
  readonly kind = "plain";
  private trunkEngine: TrunkEngine | undefined;
  private onFinish: PlainRunnerOptions["onFinish"];

  constructor(
    readonly model: GPTModel,
    readonly optimizer?: AdamW,
    opts: PlainRunnerOptions = {},
  ) {
    this.trunkEngine = opts.trunk;
    this.onFinish = opts.onFinish;
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
    let x: tf.Tensor = this.model.embed(inputs, opts);
    for (let i = 0; i < blocks; i++) {
      const next = this.model.block(i, x, opts);
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
   * The trainable part: the remaining blocks, then the final norm and the head on the last position
   * only (LayerNorm and the head act per position, so this equals slicing the full output).
   * features from frozenTrunk → last-token logits [B, numClasses]; differentiable (use inside
   * tf.variableGrads). The caller disposes the result.
   */
  suffix(features: tf.Tensor, opts: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const { embedFrozen, blocks } = frozenTrunkSize(this.model);
      let x: tf.Tensor = embedFrozen ? features : this.model.embed(features, opts);
      for (let i = blocks; i < this.model.cfg.nLayers; i++) x = this.model.block(i, x, opts);
      const T = x.shape[1]!;
      const last = x.slice([0, T - 1, 0], [-1, 1, -1]); // [B, 1, E]
      return this.model.head(this.model.finalNorm(last)).squeeze<tf.Tensor2D>([1]);
    });
  }

  async logits(batch: Batch): Promise<Float32Array> {
    const { inputs, targets } = batchTensors(batch);
    const features = await this.trunkOf(batch, inputs, false);
    const logits = this.suffix(features);
    const out = (await logits.data()) as Float32Array;
    tf.dispose([inputs, targets, features, logits]);
    return out;
  }

  async trainStep(batch: Batch): Promise<number> {
    if (!this.optimizer) throw new Error("PlainRunner.trainStep needs an optimizer");
    const { inputs, targets } = batchTensors(batch);
    // The book's model.train(): dropout on (when dropRate > 0). The trunk needs no gradient: computed before the tape starts.
    const features = await this.trunkOf(batch, inputs, true);
    const params = this.optimizer.params;
    const { value, grads } = tf.variableGrads(
      () => calcLossBatch(features, targets, (x) => this.suffix(x, { training: true })),
      [...params.values()],
    );
    // variableGrads keys gradients by tfjs variable name; map them back to our parameter names.
    const byName: Record<string, tf.Tensor> = {};
    for (const [name, v] of params) if (grads[v.name]) byName[name] = grads[v.name];
    this.optimizer.step(byName);
    const loss = (await value.data())[0];
    tf.dispose([inputs, targets, features, value, ...Object.values(grads)]);
    return loss;
  }

  /** Frees the trunk engine and runs onFinish (idempotent). The runner still works afterwards, in tfjs. */
  async finish(): Promise<void> {
    const engine = this.trunkEngine,
      done = this.onFinish;
    this.trunkEngine = undefined;
    this.onFinish = undefined;
    await engine?.release();
    await done?.();
  }
}
