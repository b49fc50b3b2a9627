/**
 * BERT classifiers trained and evaluated natively: every layer on ONNX Runtime, forward and backward (the
 * definition of lib/src/model/bert.ts under the gradient tape), AdamW outside the WASM heap (`OrtTrainer`), behind
 * the training loop's `ClassifierRunner` interface. A batch is token ids as the data loaders give them; the
 * attention mask follows from them ([PAD] is id 0) and every token is segment 0 (single sentences).
 */
import type { Batch } from "../../data/dataLoader";
import { ConfigError } from "../../errors";
import { attentionMaskOf } from "../../model/bertModel";
import { buildBertOnnx, buildBertTrainingGraph, bertClasses, type BertWeights } from "../onnx/onnxBert";
import type { AdamWSettings } from "./adamw";
import { createOrtSession, loadOnnxRuntime, onnxRuntimeUnavailableReason } from "../runtime/onnxRuntime";
import { OrtTrainer, type IdsBatch, type NativeClassifierSpec } from "./ortTrainer";
import type { ClassifierRunner, TrainStepOptions } from "./runnerTypes";

/** BERT's part of native training: its graphs, and the token ids and attention mask of a batch. */
export function bertNativeSpec(model: BertWeights): NativeClassifierSpec {
  return {
    params: model.params,
    classes: bertClasses(model),
    forwardGraph: (paramInputs) => buildBertOnnx(model, { paramInputs }),
    trainingGraph: (o) => buildBertTrainingGraph(model, o),
    dataFeeds: (batch: IdsBatch) => {
      const B = batch.batchSize,
        T = batch.inputIds.length / B;
      return {
        input_ids: { data: batch.inputIds, dims: [B, T] },
        attention_mask: { data: attentionMaskOf(batch.inputIds, model.cfg.padTokenId), dims: [B, T] },
      };
    },
  };
}

/** Hugging Face Trainer's parameters without weight decay: biases and LayerNorm weights (`get_decay_parameter_names`). */
export function hfNoDecay(names: Iterable<string>): string[] {
  return [...names].filter((n) => n.endsWith(".bias") || n.includes("LayerNorm"));
}

/** Options of `createBertRunner`. */
export interface BertRunnerOptions {
  /** Parameter names to train (default: the model's trainable variables, e.g. all of them). */
  trainable?: Iterable<string>;
  /**
   * AdamW's settings (default lr 5e-5, weight decay 0.1; the BERT chapter's Trainer: lr 2e-5, decay 0.01), or a
   * function read at every step (a learning-rate schedule, e.g. the Trainer's AdamW: `() => optimizer.settings`).
   */
  optimizer?: AdamWSettings | (() => AdamWSettings);
  /** Clip the gradients' global norm to this before each step (PyTorch's clip_grad_norm_; default none). */
  maxGradNorm?: number;
  /**
   * Parameters without weight decay: "hf" (Hugging Face's Trainer: every bias and LayerNorm weight, see
   * `hfNoDecay`), a list of names, or none (default: `torch.optim.AdamW(model.parameters())`).
   */
  noDecay?: "hf" | Iterable<string>;
  /** The loss's ignore_index (default -100). */
  ignoreIndex?: number;
  /** ONNX Runtime threads (default: one per core). */
  threads?: number;
  log?: (line: string) => void;
}

/** A BERT runner: the ClassifierRunner interface, and the trainer under it (its step count, parameters, norms). */
export interface BertRunner extends ClassifierRunner {
  readonly kind: "native";
  readonly trainer: OrtTrainer;
}

/**
 * A ClassifierRunner for a BERT classifier (a BertModel, or its weights as arrays) on ONNX Runtime: `logits(batch)`
 * with the current weights, `trainStep(batch, { lossScale, update })` (gradient accumulation as the loop asks),
 * `finish()` writes the trained values back into the model and frees the sessions. The native graphs have no
 * dropout: a model with hiddenDropoutProb > 0 trains as if in eval mode (said in the log). Each new batch shape
 * builds and opens its own training graph (~13 s for bert-base): pad to one length (BertDataset) rather than per batch.
 * @throws ConfigError for unknown parameter names, nothing to train, or no onnxruntime-node
 */
export async function createBertRunner(model: BertWeights, opts: BertRunnerOptions = {}): Promise<BertRunner> {
  if (model.cfg.hiddenDropoutProb > 0)
    opts.log?.(`BERT trains natively without dropout (hidden_dropout_prob ${model.cfg.hiddenDropoutProb} is left out)`);
  const trainer = await OrtTrainer.createFor(bertNativeSpec(model), {
    trainable: opts.trainable,
    threads: opts.threads,
    maxGradNorm: opts.maxGradNorm,
    noDecay: opts.noDecay === "hf" ? hfNoDecay(model.params.keys()) : opts.noDecay,
  });
  const settings = opts.optimizer ?? {};
  const optim = () => (typeof settings === "function" ? settings() : settings);
  const ignoreIndex = opts.ignoreIndex ?? -100;
  return {
    kind: "native",
    trainer,
    ignoreIndex,
    logits: (batch: Batch) => trainer.logits(batch),
    trainStep: (batch: Batch, o: TrainStepOptions = {}) => {
      if (!(batch.labels.length === batch.batchSize))
        throw new ConfigError(`The batch has ${batch.labels.length} labels for ${batch.batchSize} rows`);
      return trainer.trainStep(batch, batch.labels, optim(), { ...o, ignoreIndex });
    },
    finish: () => trainer.dispose(),
  };
}

/**
 * An evaluation-only runner: the forward graph with the model's weights as initializers (no optimizer, no copies
 * of the weights); `trainStep` is an error.
 * @throws Error when onnxruntime-node is unavailable
 */
export async function createBertEvalRunner(
  model: BertWeights,
  opts: { threads?: number } = {},
): Promise<ClassifierRunner> {
  const ort = loadOnnxRuntime();
  if (!ort) throw new ConfigError(`onnxruntime-node is unavailable (${onnxRuntimeUnavailableReason()})`);
  const session = await createOrtSession(buildBertOnnx(model), { threads: opts.threads });
  return {
    kind: "native",
    logits: async (batch: Batch) => {
      const dims = [batch.batchSize, batch.inputIds.length / batch.batchSize];
      const out = await session.run({
        input_ids: new ort.Tensor("int32", batch.inputIds, dims),
        attention_mask: new ort.Tensor("float32", attentionMaskOf(batch.inputIds, model.cfg.padTokenId), dims),
      });
      return out.logits.data as Float32Array;
    },
    trainStep: () =>
      Promise.reject(new ConfigError("This BERT runner only evaluates (it was created without an optimizer)")),
    finish: () => session.release(),
  };
}
