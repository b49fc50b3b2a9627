/**
 * Prompt tuning (the BERT/IMDb fine-tuning chapter's `PromptTuningBERT`, on GPT-2): `n` learned "virtual
 * token" embeddings placed before the input's token embeddings, everything else frozen. The soft prompt is
 * one parameter, `prompt_embeddings` [n, E] (PyTorch's [1, n, E] without the batch axis), which the model
 * definition (gpt.ts, gptEmbed) puts in front whenever the model has it, so every engine runs it: GPT-2 is
 * causal, so the prompt must come first for every token to see it, and the classifier's last position is
 * still the last token (shifted by n).
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import type { GPTConfig } from "./config";
import { PROMPT_PARAM } from "./gpt";
import type { GPTModel } from "./gptModel";
import { FrozenParam } from "./frozenParam";

export { PROMPT_PARAM } from "./gpt";

/** Trainable parameters of a soft prompt: n × embDim (20 × 768 = 15,360 on 124M). */
export function promptParamCount(cfg: Pick<GPTConfig, "embDim">, numTokens = 20): number {
  return numTokens * cfg.embDim;
}

/**
 * `n` vocabulary ids drawn uniformly from [0, vocabSize) with a seeded generator (the chapter's
 * `torch.randint(0, vocab_size, (n,))`; tfjs's stream, not torch's).
 */
export function randomPromptIds(vocabSize: number, numTokens = 20, seed = 123): number[] {
  return tf.tidy(() => [...tf.randomUniform([numTokens], 0, vocabSize, "int32", seed).dataSync()]);
}

/** Options of `addSoftPrompt`. */
export interface SoftPromptOptions {
  /** Virtual tokens (default 20, the chapter's). */
  numTokens?: number;
  /** Initialise from these vocabulary ids' embeddings (default: `numTokens` random ids, seeded). */
  initIds?: readonly number[];
  /** Seed of the random ids (default 123). */
  seed?: number;
}

/**
 * Adds a trainable soft prompt initialised from token embeddings (the chapter: the embeddings of random
 * vocabulary ids; PEFT's TEXT init: the ids of a text). @returns the ids it was initialised from.
 * @throws ConfigError for a bad count or id, or when the model already has a prompt
 */
export function addSoftPrompt(model: GPTModel, opts: SoftPromptOptions = {}): number[] {
  if (model.params.has(PROMPT_PARAM)) throw new ConfigError("The model already has a soft prompt");
  const V = model.cfg.vocabSize;
  const ids = opts.initIds ? [...opts.initIds] : randomPromptIds(V, opts.numTokens ?? 20, opts.seed ?? 123);
  const n = ids.length;
  if (!(n > 0 && (opts.numTokens === undefined || opts.numTokens === n)))
    throw new ConfigError(`A soft prompt needs ${opts.numTokens ?? "at least 1"} initial ids, got ${n}`);
  if (n >= model.cfg.contextLength)
    throw new ConfigError(`${n} virtual tokens leave no room in the context length ${model.cfg.contextLength}`);
  for (const id of ids)
    if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new ConfigError(`Token id ${id} is outside [0, ${V})`);
  const emb = model.param("tok_emb.weight");
  tf.tidy(() => {
    let rows: tf.Tensor;
    if (emb instanceof FrozenParam) {
      // Frozen embeddings outside tfjs stay there: the rows are copied in JS.
      const E = emb.shape[1],
        values = emb.dataSync(),
        out = new Float32Array(n * E);
      ids.forEach((id, i) => out.set(values.subarray(id * E, (id + 1) * E), i * E));
      rows = tf.tensor2d(out, [n, E]);
    } else rows = tf.gather(emb, tf.tensor1d(ids, "int32"));
    model.params.set(PROMPT_PARAM, tf.keep(tf.variable(rows, true)));
  });
  return ids;
}

/** The soft prompt's number of virtual tokens (0 without one). */
export function softPromptLength(model: Pick<GPTModel, "params">): number {
  return model.params.get(PROMPT_PARAM)?.shape[0] ?? 0;
}
