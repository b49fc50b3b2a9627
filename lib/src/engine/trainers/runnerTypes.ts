/**
 * What the training loop (lib/src/train) asks of the ways to run the model. The types live here, below
 * train/, so that an engine can implement them without importing train/: dependencies run
 * model → engine → train → cli (test/foundation/architecture.test.ts checks it).
 */
import type { Batch } from "../../data/dataLoader";
import type { ReadoutKind } from "../../model/gpt";
import type { LossOptions } from "../onnx/trainingGraph";

/**
 * How the classifier reads and scores a batch: the bonus experiments' `--trainable_token_pos` /
 * `--average_embeddings` (readout), `--disable_causal_mask` and `--ignore_index`. Defaults: the book's chapter.
 */
export interface ClassifierHeadOptions {
  /** Which position(s) the classifier reads (default "last"). */
  readonly readout?: ReadoutKind;
  /** Causal attention mask (default true). */
  readonly causal?: boolean;
  /** Rows whose label equals it are left out of the loss's mean (PyTorch's cross_entropy; default -100). */
  readonly ignoreIndex?: number;
  /** Padding token, for the flexible and mean readouts (default 50256). */
  readonly padTokenId?: number;
}

/** One batch of gradient accumulation (the bonus experiments' `--accumulation_steps`). */
export interface TrainStepOptions {
  /** Factor on the loss before backward (the book's `loss /= accumulation_steps`; default 1). */
  readonly lossScale?: number;
  /**
   * Take the optimizer step and zero the gradients after this batch (default true); false adds the batch's
   * gradients to those accumulated so far.
   */
  readonly update?: boolean;
}

/** How a batch is run during training and evaluation (train/runner.ts's PlainRunner, createRunner's FastRunner). */
export interface ClassifierRunner {
  /**
   * "plain": the book's computation (tfjs); "fast": the cached-prefix path; "native": every layer on
   * ONNX Runtime, forward and backward (any trainable set, weights and optimizer outside the WASM heap).
   */
  readonly kind: "plain" | "fast" | "native";
  /** The classifier's logits at its readout (the last token by default; no gradient), row-major [B, numClasses]. */
  logits(batch: Batch): Promise<Float32Array>;
  /**
   * One optimizer step on the batch (zero_grad, loss, backward, step); returns the batch's loss before the
   * update (unscaled). With `opts` (runners that accumulate gradients only): one batch of gradient accumulation.
   */
  trainStep(batch: Batch, opts?: TrainStepOptions): Promise<number>;
  /** The loss's ignore_index (default -100: no label is ignored). */
  readonly ignoreIndex?: number;
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

/** Native help for train/runner.ts's PlainRunner (engine/trainers/plainAcceleration.ts makes it). */
export interface PlainRunnerOptions {
  /** Computes the frozen trunk natively (see TrunkEngine); without it tfjs computes it. */
  trunk?: TrunkEngine;
  /** Called once by finish(), e.g. to hand tfjs's matmuls back (acquireOrtMatMul's release). */
  onFinish?: () => void | Promise<void>;
}

/**
 * One batch of an engine's training step (the fast path's suffix trainer, the native trainer): gradient
 * accumulation (lossScale, update), the loss's ignore_index and the readout's weights.
 */
export interface StepOptions extends LossOptions {
  /** Take the optimizer step after this batch (default true); false keeps adding gradients. */
  readonly update?: boolean;
  /** The batch's readout weights [B, T] for the flexible and mean readouts (readoutWeights). */
  readonly readoutWeights?: Float32Array;
}
