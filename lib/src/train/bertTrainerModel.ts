/**
 * BERT for the Trainer (train/trainer.ts): `AutoModelForSequenceClassification` + `AutoTokenizer` reduced to the
 * TrainerModel seam. Texts are tokenized once to `[CLS] … [SEP]`, truncated and padded to `maxLength` (one
 * compiled graph per batch size); training runs natively (createBertRunner: every layer on ONNX Runtime, AdamW
 * outside the WASM heap, reading the Trainer's learning rate at each step); checkpoints are Hugging Face's
 * `model.safetensors` (names and `[out, in]` Linear weights) with config.json.
 * AdamW's moments live in the native runner: `optimizerState` reads them (and its step count) for the Trainer's
 * checkpoints and `loadOptimizerState` puts a checkpoint's back, so a resumed run continues exactly.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { BertTokenizer } from "../bertTokenizer";
import type { TextLabel } from "../data/csv";
import type { Batch } from "../data/dataLoader";
import { createBertEvalRunner, createBertRunner, hfNoDecay, type BertRunner } from "../engine/trainers/bertRunner";
import type { ClassifierRunner } from "../engine/trainers/runnerTypes";
import { ConfigError } from "../errors";
import { isBertLinearWeight } from "../model/bert";
import type { BertModel } from "../model/bertModel";
import { writeFileAtomic } from "../util/atomic";
import { bertWeightArrays } from "../weights/bertWeights";
import { writeSafetensors } from "../weights/safetensors";
import type { AdamW, AdamWState } from "./adamw";
import { collateFixedLength, type TrainerModel } from "./trainerModel";

/** Options of `BertForSequenceClassification`. */
export interface BertForSequenceClassificationOptions {
  /** Truncate and pad every text to this many tokens, [CLS] and [SEP] included (default 512, the chapter's). */
  maxLength?: number;
  /** Hugging Face's Trainer leaves biases and LayerNorm weights out of the weight decay (default true). */
  hfNoDecay?: boolean;
  /** ONNX Runtime threads (default: one per core). */
  threads?: number;
}

function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** A BertModel and its tokenizer as the Trainer's model. */
export class BertForSequenceClassification implements TrainerModel<TextLabel> {
  readonly maxLength: number;
  private readonly encoded = new WeakMap<TextLabel, Int32Array>();
  /** The training runner while a run is on (checkpoints read its current weights). */
  private active: BertRunner | undefined;

  constructor(
    readonly model: BertModel,
    readonly tokenizer: BertTokenizer,
    private readonly opts: BertForSequenceClassificationOptions = {},
  ) {
    this.maxLength = opts.maxLength ?? Math.min(512, model.cfg.maxPositionEmbeddings);
    if (!(Number.isInteger(this.maxLength) && this.maxLength >= 2 && this.maxLength <= model.cfg.maxPositionEmbeddings))
      throw new RangeError(
        `maxLength must be an integer in 2…${model.cfg.maxPositionEmbeddings}, got ${this.maxLength}`,
      );
  }

  private encode(example: TextLabel): Int32Array {
    let ids = this.encoded.get(example);
    if (!ids) {
      ids = new Int32Array(this.maxLength).fill(this.tokenizer.padId);
      ids.set(this.tokenizer.encode(example.text, { maxLength: this.maxLength }));
      this.encoded.set(example, ids);
    }
    return ids;
  }

  collate(examples: readonly TextLabel[], indices: readonly number[]): Batch {
    return collateFixedLength(examples, indices, this.maxLength, (e) => this.encode(e));
  }

  trainableParams(): ReadonlyMap<string, tf.Variable> {
    return new Map([...this.model.params].filter(([, v]) => v.trainable));
  }

  async createRunner(optimizer?: AdamW): Promise<ClassifierRunner> {
    if (!optimizer) return createBertEvalRunner(this.model, { threads: this.opts.threads });
    const trainable = [...this.trainableParams().keys()];
    const runner = await createBertRunner(this.model, {
      trainable,
      optimizer: () => optimizer.settings,
      noDecay: this.opts.hfNoDecay === false ? undefined : hfNoDecay(trainable),
      threads: this.opts.threads,
    });
    this.active = runner;
    return {
      kind: runner.kind,
      logits: (b) => runner.logits(b),
      trainStep: (b, o) => runner.trainStep(b, o),
      finish: async () => {
        this.active = undefined;
        await runner.finish();
      },
    };
  }

  /** The training runner's AdamW state (step count and moments), for a checkpoint; undefined when no run is on. */
  optimizerState(): Promise<AdamWState | undefined> {
    return Promise.resolve(this.active?.trainer.optimizerState());
  }

  /** Puts a checkpoint's AdamW state into the training runner (the Trainer calls it after createRunner). */
  loadOptimizerState(state: AdamWState): void {
    if (!this.active) throw new ConfigError("No training run to resume: loadOptimizerState comes after createRunner");
    this.active.trainer.loadOptimizerState(state);
  }

  /** Writes model.safetensors (Hugging Face's names and layout) and config.json into `dir`. */
  save(dir: string): void {
    this.active?.trainer.syncToModel();
    fs.mkdirSync(dir, { recursive: true });
    const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const [name, v] of this.model.params) {
      if (name === "prompt_embeddings") continue;
      const data = v.dataSync() as Float32Array,
        [rows, cols] = v.shape as [number, number];
      tensors.set(
        name,
        isBertLinearWeight(name)
          ? { data: transposed(data, rows, cols), shape: [cols, rows] }
          : { data, shape: v.shape },
      );
    }
    writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
    const c = this.model.cfg;
    const config = {
      architectures: ["BertForSequenceClassification"],
      model_type: "bert",
      vocab_size: c.vocabSize,
      hidden_size: c.hiddenSize,
      num_hidden_layers: c.numHiddenLayers,
      num_attention_heads: c.numAttentionHeads,
      intermediate_size: c.intermediateSize,
      max_position_embeddings: c.maxPositionEmbeddings,
      type_vocab_size: c.typeVocabSize,
      layer_norm_eps: c.layerNormEps,
      hidden_dropout_prob: c.hiddenDropoutProb,
      attention_probs_dropout_prob: c.hiddenDropoutProb,
      num_labels: c.numLabels,
      pad_token_id: c.padTokenId,
    };
    writeFileAtomic(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  }

  /** Reads a checkpoint's model.safetensors into this model (and into the running trainer, if any). */
  load(dir: string): void {
    const values = bertWeightArrays(path.join(dir, "model.safetensors"), this.model.cfg, { missingHead: "error" });
    for (const [name, data] of values) {
      const v = this.model.param(name);
      tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
    }
    if (this.active) {
      const names = this.active.trainer.trainable;
      this.active.trainer.reset(new Map(names.map((n) => [n, values.get(n)!])));
    }
  }
}
