/**
 * BERT for sequence classification in tfjs: the parameters (Hugging Face's names, Linear weights `[in, out]`)
 * and the definition of bert.ts run with tfjs's primitives. The ONNX Runtime engine reads the same `cfg` and
 * `params` (lib/src/engine/onnx/onnxBert.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError, ShapeMismatchError } from "../errors";
import { bertForward, bertParameterShapes, validateBertConfig, type BertConfig } from "./bert";
import { PROMPT_PARAM } from "./gpt";
import { randomPromptIds } from "./promptTuning";
import { TfjsOps } from "./tfjsOps";

/** How a BertModel is created. */
export interface BertModelOptions {
  /** Parameter values by name in our layout (Linear weights `[in, out]`); the others are initialised. */
  weights?: ReadonlyMap<string, Float32Array>;
  /** Seed of the random initialisation (default 123). */
  seed?: number;
}

/** Options of `BertModel.logits`. */
export interface BertLogitsOptions {
  /** 0/1 [B, T] (default: from the ids, 1 where the id is not [PAD]). */
  attentionMask?: tf.Tensor;
  /** Segment ids [B, T] (default all 0). */
  tokenTypeIds?: tf.Tensor;
  /** Dropout at `hiddenDropoutProb` (default false, the model's eval mode). */
  training?: boolean;
}

/** The attention mask of right-padded ids: 1 where the id is a token, 0 where it is `padId` ([PAD] is 0). */
export function attentionMaskOf(ids: ArrayLike<number>, padId = 0): Float32Array {
  return Float32Array.from(ids, (id) => (id === padId ? 0 : 1));
}

/** BERT with a classification head. Book-style names: `logits`, `freezeAll`, `setTrainable`, `dispose`. */
export class BertModel {
  readonly cfg: BertConfig;
  /** Parameters by Hugging Face's names (Linear weights `[in, out]`). */
  readonly params = new Map<string, tf.Variable>();
  private readonly ops = new TfjsOps();
  private readonly lookup = (name: string): tf.Tensor | undefined => this.params.get(name);

  /**
   * Creates the model from given values, the rest initialised as Hugging Face's BertPreTrainedModel does
   * (Linear and embedding weights N(0, 0.02), biases 0, LayerNorm 1 and 0).
   * @throws ConfigError for an invalid config; ShapeMismatchError for values that do not fit their shape
   */
  constructor(cfg: BertConfig, opts: BertModelOptions = {}) {
    this.cfg = validateBertConfig({ ...cfg });
    let seed = opts.seed ?? 123;
    for (const [name, shape] of bertParameterShapes(this.cfg)) {
      const given = opts.weights?.get(name);
      const size = shape.reduce((a, d) => a * d, 1);
      if (given && given.length !== size)
        throw new ShapeMismatchError(`${name}: ${given.length} values given, shape [${shape.join(",")}] needs ${size}`);
      const s = seed++;
      this.params.set(
        name,
        tf.tidy(() => {
          if (given) return tf.variable(tf.tensor(given, shape), true);
          if (name.includes("LayerNorm.weight")) return tf.variable(tf.ones(shape), true);
          if (name.endsWith(".bias") || name.includes("LayerNorm")) return tf.variable(tf.zeros(shape), true);
          return tf.variable(tf.randomNormal(shape, 0, 0.02, "float32", s), true);
        }),
      );
    }
  }

  /** The parameter `name`. @throws ConfigError when it does not exist */
  param(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new ConfigError(`BertModel has no parameter "${name}"`);
    return p;
  }

  /**
   * The classifier's logits [B, numLabels] for token ids [B, T] (int32). The caller disposes the result.
   * @throws ConfigError beyond max_position_embeddings
   */
  logits(ids: tf.Tensor, opts: BertLogitsOptions = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const mask =
        opts.attentionMask ?? tf.tensor(attentionMaskOf(ids.dataSync(), this.cfg.padTokenId), ids.shape, "float32");
      return bertForward(this.ops, this.lookup, this.cfg, ids, {
        attentionMask: mask,
        tokenTypeIds: opts.tokenTypeIds,
        dropRate: opts.training ? this.cfg.hiddenDropoutProb : 0,
      }) as tf.Tensor2D;
    });
  }

  /** Sets `requires_grad = False` on every parameter. */
  freezeAll(): void {
    for (const v of this.params.values()) v.trainable = false;
  }

  /** Makes the parameters whose name equals or starts with one of `namesOrPrefixes` trainable (or frozen). */
  setTrainable(namesOrPrefixes: readonly string[], trainable = true): void {
    for (const [name, v] of this.params)
      if (namesOrPrefixes.some((p) => name === p || name.startsWith(p.endsWith(".") ? p : `${p}.`)))
        v.trainable = trainable;
  }

  /** Number of parameter elements (all, or only the trainable ones). */
  numParams(opts: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const v of this.params.values()) if (!opts.trainableOnly || v.trainable) n += v.size;
    return n;
  }

  /** The soft prompt's number of virtual tokens (0 without one). */
  get promptLength(): number {
    const p = this.params.get(PROMPT_PARAM);
    return p ? p.shape[p.rank - 2] : 0;
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.ops.dispose();
  }
}

/** Options of `addBertSoftPrompt`. */
export interface BertSoftPromptOptions {
  /** Virtual tokens (default 20, the chapter's). */
  numTokens?: number;
  /** Initialise from these vocabulary ids' word embeddings (default: `numTokens` random ids, seeded). */
  initIds?: readonly number[];
  /** Seed of the random ids (default 42, the chapter's `np.random.seed(42)`; tfjs's stream, not torch's). */
  seed?: number;
}

/**
 * Adds the fine-tuning chapter's soft prompt to a BERT: one trainable parameter `prompt_embeddings` [1, n, E]
 * holding the word embeddings of n vocabulary ids (`torch.randint(0, vocab_size, (n,))` there), which the
 * definition puts in front of the token embeddings, [CLS] included. @returns the ids it was initialised from
 * @throws ConfigError for a bad count or id, no room left in the positions, or a prompt already there
 */
export function addBertSoftPrompt(model: BertModel, opts: BertSoftPromptOptions = {}): number[] {
  if (model.params.has(PROMPT_PARAM)) throw new ConfigError("The model already has a soft prompt");
  const V = model.cfg.vocabSize;
  const ids = opts.initIds ? [...opts.initIds] : randomPromptIds(V, opts.numTokens ?? 20, opts.seed ?? 42);
  const n = ids.length;
  if (!(n > 0 && (opts.numTokens === undefined || opts.numTokens === n)))
    throw new ConfigError(`A soft prompt needs ${opts.numTokens ?? "at least 1"} initial ids, got ${n}`);
  if (n + 2 > model.cfg.maxPositionEmbeddings)
    throw new ConfigError(
      `${n} virtual tokens leave no room for [CLS] and [SEP] in ${model.cfg.maxPositionEmbeddings} positions`,
    );
  for (const id of ids)
    if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new ConfigError(`Token id ${id} is outside [0, ${V})`);
  tf.tidy(() => {
    const rows = tf.gather(model.param("bert.embeddings.word_embeddings.weight"), tf.tensor1d(ids, "int32"));
    model.params.set(PROMPT_PARAM, tf.keep(tf.variable(rows.reshape([1, n, model.cfg.hiddenSize]), true)));
  });
  return ids;
}
