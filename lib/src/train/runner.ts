/**
 * How a batch is run: the plain path (the whole model in tfjs, like the book) or the fast exact path
 * (frozen prefix cached once per sequence, last-position suffix; lib/src/engine). Both give the same
 * numbers; the fast one is chosen automatically when the model qualifies (frozen prefix, dropout 0).
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../data/dataLoader";
import { batchTensors } from "../data/dataLoader";
import type { GPTModel } from "../model/gptModel";
import { createFastClassifierPath, type FastClassifierPath } from "../engine/fastPath";
import type { AdamW } from "./adamw";

export interface ClassifierRunner {
  readonly kind: "plain" | "fast";
  /** Last-token logits, row-major [B, numClasses]. */
  logits(batch: Batch): Promise<Float32Array>;
  /** One optimizer step on the batch; returns the loss before the update. */
  trainStep(batch: Batch): Promise<number>;
  /** Writes trained values back into the model (fast path) and frees resources. */
  finish(): Promise<void>;
}

/** Cross-entropy of last-token logits, computed in tfjs: logits [B, C], targets int32 [B] → scalar (mean). */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits, -1);
    return tf.neg(tf.mean(tf.sum(logp.mul(tf.oneHot(targets, logits.shape[1])), -1))) as tf.Scalar;
  });
}

/** Last-position logits of the model: inputs [B, T] → [B, C]. */
export function lastTokenLogitsOf(model: GPTModel, inputs: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const out = model.forward(inputs); // [B, T, C]
    return out.slice([0, out.shape[1] - 1, 0], [-1, 1, -1]).squeeze([1]) as tf.Tensor2D;
  });
}

/** The book's loop, literally: forward over all layers, gradients for the trainable parameters, AdamW. */
export class PlainRunner implements ClassifierRunner {
  readonly kind = "plain";
  constructor(private readonly model: GPTModel, private readonly optimizer?: AdamW) {}

  async logits(batch: Batch): Promise<Float32Array> {
    const { inputs, targets } = batchTensors(batch);
    const logits = lastTokenLogitsOf(this.model, inputs);
    const out = (await logits.data()) as Float32Array;
    tf.dispose([inputs, targets, logits]);
    return out;
  }

  async trainStep(batch: Batch): Promise<number> {
    if (!this.optimizer) throw new Error("PlainRunner.trainStep needs an optimizer");
    const { inputs, targets } = batchTensors(batch);
    const params = this.optimizer.params;
    const { value, grads } = tf.variableGrads(() => crossEntropy(lastTokenLogitsOf(this.model, inputs), targets), [...params.values()]);
    // variableGrads keys gradients by tfjs variable name; map them back to our parameter names.
    const byName: Record<string, tf.Tensor> = {};
    for (const [name, v] of params) if (grads[v.name]) byName[name] = grads[v.name];
    this.optimizer.step(byName);
    const loss = (await value.data())[0];
    tf.dispose([inputs, targets, value, ...Object.values(grads)]);
    return loss;
  }

  async finish(): Promise<void> {}
}

/** The fast exact path (lib/src/engine), with AdamW on the same settings. */
export class FastRunner implements ClassifierRunner {
  readonly kind = "fast";
  constructor(readonly path: FastClassifierPath, private readonly optimizer?: AdamW) {}

  logits(batch: Batch): Promise<Float32Array> {
    return this.path.logitsLastToken(batch);
  }

  trainStep(batch: Batch): Promise<number> {
    const o = this.optimizer;
    if (!o) throw new Error("FastRunner.trainStep needs an optimizer");
    return this.path.trainStep(batch, batch.labels, { lr: o.lr, weightDecay: o.weightDecay, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps });
  }

  async finish(): Promise<void> {
    await this.path.dispose();
  }
}

export interface RunnerOptions {
  /** "auto" (default): fast when the model qualifies; "plain": the book's literal loop; "fast": require it. */
  path?: "auto" | "plain" | "fast";
  /** Every sequence the run will see (train, validation, test), to compute the frozen prefix once up front. */
  sequences?: readonly Int32Array[];
  /** On-disk prefix cache folder. */
  cacheDir?: string;
  log?: (line: string) => void;
  onPrefixProgress?: (done: number, total: number) => void;
}

/** Chooses the runner for a model (see RunnerOptions.path). */
export async function createRunner(model: GPTModel, optimizer: AdamW | undefined, opts: RunnerOptions = {}): Promise<ClassifierRunner> {
  const want = opts.path ?? "auto";
  if (want === "plain") return new PlainRunner(model, optimizer);
  const fast = await createFastClassifierPath(model, { cacheDir: opts.cacheDir, log: opts.log, onPrefixProgress: opts.onPrefixProgress });
  if ("reason" in fast) {
    if (want === "fast") throw new Error(`The fast path cannot be used: ${fast.reason}`);
    opts.log?.(`Plain training path (the fast path needs a frozen prefix: ${fast.reason})`);
    return new PlainRunner(model, optimizer);
  }
  if (opts.sequences?.length) await fast.precompute(opts.sequences);
  return new FastRunner(fast, optimizer);
}
