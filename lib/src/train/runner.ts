/**
 * How a batch is run during training and evaluation. The plain runner is the book's loop, split at
 * one seam so that the frozen layers never enter the gradient tape:
 *
 *   features = frozenTrunk(inputs)   // embeddings + leading frozen blocks, no gradient (per-block tidy)
 *   logits   = suffix(features)      // trainable blocks → final norm → head, last position, differentiable
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
import type { ForwardOptions, GPTModel } from "../model/gptModel";
import { crossEntropy as crossEntropyOf } from "../model/layers";
import { TfjsOps } from "../model/tfjsOps";
import type { AdamW } from "./adamw";

export interface ClassifierRunner {
  /**
   * "plain": the book's computation (tfjs); "fast": the cached-prefix path; "native": every layer on
   * ONNX Runtime, forward and backward (any trainable set, weights and optimizer outside the WASM heap).
   */
  readonly kind: "plain" | "fast" | "native";
  /** Last-token logits (no gradient), row-major [B, numClasses]. */
  logits(batch: Batch): Promise<Float32Array>;
  /** One optimizer step on the batch (zero_grad, loss, backward, step); returns the loss before the update. */
  trainStep(batch: Batch): Promise<number>;
  /** Writes trained values back into the model (fast path) and frees resources. */
  finish(): Promise<void>;
}

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

const isTrainable = (model: GPTModel, prefix: string) =>
  [...model.params].some(([name, v]) => v.trainable && (name === prefix || name.startsWith(`${prefix}.`)));

/**
 * Where the frozen trunk ends: `embedFrozen` (token and position embeddings frozen) and `blocks`, the
 * number of leading transformer blocks that are entirely frozen (0 when the embeddings train).
 */
export function frozenTrunkSize(model: GPTModel): { embedFrozen: boolean; blocks: number } {
  if (isTrainable(model, "tok_emb") || isTrainable(model, "pos_emb")) return { embedFrozen: false, blocks: 0 };
  let blocks = 0;
  while (blocks < model.cfg.nLayers && !isTrainable(model, `trf_blocks.${blocks}`)) blocks++;
  return { embedFrozen: true, blocks };
}

/**
 * A native engine for the frozen trunk's forward pass (embeddings + the first `blocks` blocks, no
 * dropout), e.g. the performance engine's `OnnxGptEngine`. Built from the frozen weights once; it
 * computes every batch anew (nothing is cached).
 */
export interface TrunkEngine {
  /** Number of transformer blocks after the embeddings that it computes. */
  readonly blocks: number;
  /** Token ids, row-major [batch, T] → hidden states, row-major [batch, T, E]. */
  run(ids: Int32Array, batch: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface PlainRunnerOptions {
  /** Computes the frozen trunk natively (see TrunkEngine); without it tfjs computes it. */
  trunk?: TrunkEngine;
  /** Called once by finish(), e.g. to hand tfjs's matmuls back (acquireOrtMatMul's release). */
  onFinish?: () => void | Promise<void>;
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
      () => crossEntropy(this.suffix(features, { training: true }), targets),
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
