/**
 * What the training loop (lib/src/train) asks of the ways to run the model. The types live here, below
 * train/, so that an engine can implement them without importing train/: dependencies run
 * model → engine → train → cli (test/foundation/architecture.test.ts checks it).
 */
import type { Batch } from "../data/dataLoader";

/** How a batch is run during training and evaluation (train/runner.ts's PlainRunner, createRunner's FastRunner). */
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

/** Native help for train/runner.ts's PlainRunner (engine/plainAcceleration.ts makes it). */
export interface PlainRunnerOptions {
  /** Computes the frozen trunk natively (see TrunkEngine); without it tfjs computes it. */
  trunk?: TrunkEngine;
  /** Called once by finish(), e.g. to hand tfjs's matmuls back (acquireOrtMatMul's release). */
  onFinish?: () => void | Promise<void>;
}
