/**
 * The seam between the Trainer (train/trainer.ts) and a model: what the Trainer needs to batch examples, train,
 * evaluate and checkpoint a classifier, whatever its architecture. GPT-2 implements it here
 * (GPT2ForSequenceClassification); an encoder such as BERT implements the same five members.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import type { Batch } from "../data/dataLoader";
import type { TextLabel } from "../data/csv";
import type { ClassifierHeadOptions, ClassifierRunner } from "../engine/trainers/runnerTypes";
import { DataFormatError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import { isLinearWeight } from "../model/parameters";
import { getTokenizer, PAD_TOKEN_ID, type Tokenizer } from "../tokenizer";
import { SafetensorsFile } from "../weights/safetensors";
import type { AdamW, AdamWState } from "./adamw";
import { saveClassifier } from "./checkpoint";
import { createPlainRunner } from "./createRunner";

/**
 * A classifier the Trainer can train: Hugging Face's `PreTrainedModel` + tokenizer + data collator, reduced to
 * what the loop calls.
 * - `collate` turns examples into one Batch (token ids `[B, T]` and labels), as a tokenizer and a data collator do;
 * - `trainableParams` are the parameters the optimizer updates (`requires_grad`);
 * - `createRunner` gives the ClassifierRunner that computes logits and training steps (with gradient accumulation:
 *   `trainStep(batch, { lossScale, update })`); without an optimizer it only evaluates;
 * - `save` / `load` write and read the weights of a checkpoint folder (load: into this same model);
 * - `optimizerState` / `loadOptimizerState` (optional): a runner that keeps its own AdamW (a native one) hands the
 *   Trainer its moments for a checkpoint and takes a checkpoint's back when a run resumes (after createRunner), so
 *   that a resumed run continues exactly; without them the Trainer's own AdamW state is checkpointed.
 */
export interface TrainerModel<E = TextLabel> {
  collate(examples: readonly E[], indices: readonly number[]): Batch;
  trainableParams(): ReadonlyMap<string, tf.Variable>;
  createRunner(optimizer?: AdamW): Promise<ClassifierRunner>;
  save(dir: string): void;
  load(dir: string): void;
  optimizerState?(): Promise<AdamWState | undefined>;
  loadOptimizerState?(state: AdamWState): void;
}

/**
 * One batch of examples encoded to the same length (`encode` pads and truncates to `maxLength`): the collate
 * function of the Trainer's models (GPT-2 here, BERT in bertTrainerModel.ts).
 */
export function collateFixedLength(
  examples: readonly TextLabel[],
  indices: readonly number[],
  maxLength: number,
  encode: (example: TextLabel) => Int32Array,
): Batch {
  const inputIds = new Int32Array(examples.length * maxLength);
  examples.forEach((e, i) => inputIds.set(encode(e), i * maxLength));
  return {
    inputIds,
    labels: Int32Array.from(examples, (e) => e.label),
    indices,
    batchSize: examples.length,
    seqLen: maxLength,
  };
}

export interface GPT2ForSequenceClassificationOptions {
  /** Pad and truncate every text to this many tokens (default 256, the IMDb bonus's; the chapter's SMS run: 120). */
  maxLength?: number;
  /** Default 50256 (`<|endoftext|>`). */
  padTokenId?: number;
  tokenizer?: Tokenizer;
  /** The plain runner's native help (ONNX Runtime for the frozen trunk and the matmuls; default true). */
  native?: boolean;
  /** Readout, causal mask, ignore_index (default: the chapter's). */
  head?: ClassifierHeadOptions;
  /** Names of the classes by label, saved with the weights (default "negative", "positive"). */
  classNames?: readonly string[];
}

/**
 * The chapter's GPT-2 classifier (a GPTModel with its class head, prepared by prepareClassifier) as a TrainerModel:
 * texts tokenized with GPT-2's BPE (each once), truncated and right-padded to `maxLength` as SpamDataset does, run by
 * the plain runner (whose AdamW state the Trainer checkpoints), saved as saveClassifier writes a classifier.
 */
export class GPT2ForSequenceClassification implements TrainerModel<TextLabel> {
  readonly maxLength: number;
  private readonly encoded = new WeakMap<TextLabel, Int32Array>();
  private readonly tokenizer: Tokenizer;

  constructor(
    readonly model: GPTModel,
    private readonly opts: GPT2ForSequenceClassificationOptions = {},
  ) {
    this.maxLength = opts.maxLength ?? 256;
    if (!(Number.isInteger(this.maxLength) && this.maxLength > 0 && this.maxLength <= model.cfg.contextLength))
      throw new RangeError(`maxLength must be an integer in 1…${model.cfg.contextLength}, got ${this.maxLength}`);
    this.tokenizer = opts.tokenizer ?? getTokenizer();
  }

  private encode(example: TextLabel): Int32Array {
    let ids = this.encoded.get(example);
    if (!ids) {
      ids = new Int32Array(this.maxLength).fill(this.opts.padTokenId ?? PAD_TOKEN_ID); // right padding
      ids.set(this.tokenizer.encode(example.text).slice(0, this.maxLength)); // truncation
      this.encoded.set(example, ids);
    }
    return ids;
  }

  collate(examples: readonly TextLabel[], indices: readonly number[]): Batch {
    return collateFixedLength(examples, indices, this.maxLength, (e) => this.encode(e));
  }

  trainableParams(): ReadonlyMap<string, tf.Variable> {
    return this.model.trainableParams();
  }

  createRunner(optimizer?: AdamW): Promise<ClassifierRunner> {
    return createPlainRunner(this.model, optimizer, { native: this.opts.native, head: this.opts.head });
  }

  save(dir: string): void {
    saveClassifier(dir, this.model, {
      maxLength: this.maxLength,
      padTokenId: this.opts.padTokenId,
      classNames: this.opts.classNames ?? ["negative", "positive"],
    });
  }

  /** @throws DataFormatError when `dir` has no model.safetensors or a tensor is missing; ShapeMismatchError for a wrong shape. */
  load(dir: string): void {
    const file = path.join(dir, "model.safetensors");
    if (!fs.existsSync(file)) throw new DataFormatError(`${dir} has no model.safetensors`);
    const st = new SafetensorsFile(file);
    for (const name of this.model.params.keys()) {
      const { data, shape } = st.readTensor(name);
      // Saved in PyTorch's layout: Linear weights [out, in] → ours [in, out].
      if (isLinearWeight(name)) this.model.setParam(name, transpose(data, shape[0], shape[1]), [shape[1], shape[0]]);
      else this.model.setParam(name, data, shape);
    }
  }
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
