/**
 * Prompt tuning of BERT as the fine-tuning chapter does it (`PromptTuningBERT`, `PromptTunedBERTInference`):
 * 20 virtual tokens initialised from the word embeddings of random vocabulary ids (seeded), one [1, 20, 768]
 * parameter in front of the token embeddings ([CLS] included), the attention mask with 20 ones in front, inputs
 * tokenized to 512 − 20 and padded to that length, the whole BERT frozen (its new classifier head too), AdamW
 * (lr 1e-2) on the 15,360 prompt values only, with gradient-norm clipping; `predict(text)` →
 * `{ prediction, confidence }`; the prompt saved on its own as safetensors (61,440 bytes of data at 768 dims).
 * Training and prediction run natively (ONNX Runtime, createBertRunner); `runner` serves any training loop.
 */
import * as tf from "@tensorflow/tfjs";
import type { BertTokenizer } from "../bertTokenizer";
import type { Batch } from "../data/dataLoader";
import { createBertRunner, type BertRunner } from "../engine/trainers/bertRunner";
import { ConfigError, DataFormatError, ShapeMismatchError } from "../errors";
import { addBertSoftPrompt, type BertModel } from "../model/bertModel";
import { PROMPT_PARAM } from "../model/gpt";
import { SafetensorsFile, writeSafetensors } from "../weights/safetensors";

/** Options of `PromptTunedBert.create`: the chapter's settings by default. */
export interface BertPromptTuningOptions {
  /** Virtual tokens (default 20). */
  numTokens?: number;
  /** Initial ids (default: `numTokens` random vocabulary ids drawn with `seed`). */
  initIds?: readonly number[];
  /** Seed of the random ids (default 42). */
  seed?: number;
  /** The model's longest input, prompt included (default 512): texts are tokenized to maxLength − numTokens. */
  maxLength?: number;
  /** AdamW's learning rate (default 1e-2) and weight decay (default 0.01, PyTorch's AdamW default the chapter keeps). */
  lr?: number;
  weightDecay?: number;
  /** Gradient-norm clipping (default 1.0: the chapter clips but does not print its max_grad_norm). */
  maxGradNorm?: number;
  /** ONNX Runtime threads (default: one per core). */
  threads?: number;
  log?: (line: string) => void;
}

/** `predict`'s answer, as PromptTunedBERTInference.predict returns it. */
export interface BertPrediction {
  /** The class id (IMDb: 1 positive, 0 negative). */
  prediction: number;
  /** Its softmax probability. */
  confidence: number;
  /** Every class's probability. */
  probabilities: number[];
}

/** The metadata saved with a prompt. */
export const BERT_PROMPT_FORMAT = "llm-spam-classifier/bert-soft-prompt/1";

/** A BERT with a trainable soft prompt, everything else frozen. Create with `PromptTunedBert.create`. */
export class PromptTunedBert {
  private constructor(
    readonly model: BertModel,
    readonly tokenizer: BertTokenizer,
    /** The native runner training only the prompt (the ClassifierRunner a Trainer uses). */
    readonly runner: BertRunner,
    /** Tokens per text: maxLength − numTokens (492 for the chapter). */
    readonly inputLength: number,
    /** The ids the prompt was initialised from. */
    readonly initIds: readonly number[],
  ) {}

  /**
   * Freezes the model, adds the soft prompt and opens the native runner (AdamW on the prompt alone).
   * Logs the trainable count (`Trainable parameters: 15,360` for 20 × 768).
   * @throws ConfigError for bad options or no onnxruntime-node
   */
  static async create(
    model: BertModel,
    tokenizer: BertTokenizer,
    opts: BertPromptTuningOptions = {},
  ): Promise<PromptTunedBert> {
    const maxLength = opts.maxLength ?? Math.min(512, model.cfg.maxPositionEmbeddings);
    model.freezeAll();
    const initIds = addBertSoftPrompt(model, { numTokens: opts.numTokens, initIds: opts.initIds, seed: opts.seed });
    const n = initIds.length;
    if (!(Number.isInteger(maxLength) && maxLength - n >= 2 && maxLength <= model.cfg.maxPositionEmbeddings))
      throw new ConfigError(
        `maxLength ${maxLength} must leave room for [CLS] and [SEP] after ${n} virtual tokens, within ${model.cfg.maxPositionEmbeddings} positions`,
      );
    opts.log?.(
      `Trainable parameters: ${model.numParams({ trainableOnly: true }).toLocaleString("en-US")} (of ${model.numParams().toLocaleString("en-US")})`,
    );
    const runner = await createBertRunner(model, {
      trainable: [PROMPT_PARAM],
      optimizer: { lr: opts.lr ?? 1e-2, weightDecay: opts.weightDecay ?? 0.01 },
      maxGradNorm: opts.maxGradNorm ?? 1.0,
      threads: opts.threads,
    });
    return new PromptTunedBert(model, tokenizer, runner, maxLength - n, initIds);
  }

  /** Texts (and labels) as a batch: tokenized to `inputLength`, padded to it with [PAD] (`padding="max_length"`). */
  encode(texts: readonly string[], labels: readonly number[] = []): Batch {
    const enc = this.tokenizer.encodeBatch(texts, { maxLength: this.inputLength, padding: "max_length" });
    return {
      inputIds: enc.inputIds,
      labels: Int32Array.from(texts, (_, i) => labels[i] ?? -100),
      indices: texts.map((_, i) => i),
      batchSize: enc.batchSize,
      seqLen: enc.seqLen,
    };
  }

  /** One AdamW step of the prompt on a batch (clipped gradients); @returns the batch's loss before the step. */
  trainStep(batch: Batch): Promise<number> {
    return this.runner.trainStep(batch);
  }

  /** Logits [B, numLabels] of a batch with the current prompt. */
  logits(batch: Batch): Promise<Float32Array> {
    return this.runner.logits(batch);
  }

  /** The chapter's `predict(text)`: the class and its softmax probability. @throws ConfigError for an empty text */
  async predict(text: string): Promise<BertPrediction> {
    if (text.trim() === "") throw new ConfigError("Cannot classify an empty text");
    const logits = await this.runner.logits(this.encode([text]));
    const max = Math.max(...logits);
    const exps = Array.from(logits, (v) => Math.exp(v - max));
    const sum = exps.reduce((a, v) => a + v, 0);
    const probabilities = exps.map((v) => v / sum);
    const prediction = probabilities.indexOf(Math.max(...probabilities));
    return { prediction, confidence: probabilities[prediction], probabilities };
  }

  /** The current prompt, [1, n, E] row-major. */
  prompt(): Float32Array {
    return Float32Array.from(this.runner.trainer.param(PROMPT_PARAM));
  }

  /**
   * Saves the prompt as safetensors, atomically: `prompt_embeddings` [1, n, E] float32 (61,440 bytes of data for
   * 20 × 768; the chapter's `torch.save(model.prompt_embeddings)`), with its init ids in the metadata.
   */
  savePrompt(file: string): void {
    const n = this.initIds.length,
      E = this.model.cfg.hiddenSize;
    writeSafetensors(file, new Map([[PROMPT_PARAM, { data: this.prompt(), shape: [1, n, E] }]]), {
      format: BERT_PROMPT_FORMAT,
      init_ids: JSON.stringify(this.initIds),
    });
  }

  /** Writes the trained prompt into the model and frees the runner. */
  finish(): Promise<void> {
    return this.runner.finish();
  }
}

/**
 * Puts a saved prompt in front of a BERT (frozen): `prompt_embeddings` [1, n, E] from `file`.
 * @throws DataFormatError for a file without the prompt; ShapeMismatchError for another width; ConfigError when
 *   the model has a prompt already
 */
export function loadBertPrompt(file: string, model: BertModel): number {
  const st = new SafetensorsFile(file);
  if (!st.has(PROMPT_PARAM)) throw new DataFormatError(`${file} has no "${PROMPT_PARAM}" tensor`);
  const t = st.readTensor(PROMPT_PARAM);
  const n = t.shape.length === 3 ? t.shape[1] : t.shape[0];
  if (t.shape[t.shape.length - 1] !== model.cfg.hiddenSize || (t.shape.length === 3 && t.shape[0] !== 1))
    throw new ShapeMismatchError(
      `The prompt has shape [${t.shape.join(",")}]; this model needs [1, n, ${model.cfg.hiddenSize}]`,
    );
  model.freezeAll();
  addBertSoftPrompt(model, { initIds: new Array<number>(n).fill(0) });
  tf.tidy(() => model.param(PROMPT_PARAM).assign(tf.tensor(t.data, [1, n, model.cfg.hiddenSize])));
  model.freezeAll();
  return n;
}
