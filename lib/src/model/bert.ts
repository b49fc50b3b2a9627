/**
 * BERT for sequence classification (Hugging Face's `AutoModelForSequenceClassification` on
 * `bert-base-uncased`) as one definition over any engine's primitives, like GPT-2 in gpt.ts and from the
 * same layers (layers.ts): word + position + token-type embeddings, their LayerNorm (eps 1e-12), post-LayerNorm
 * blocks with erf GELU and an additive padding mask, the pooler (tanh dense on the first position) and a
 * dropout + linear classifier. Parameters go by Hugging Face's names (`bert.embeddings.word_embeddings.weight`,
 * …, `bert.pooler.dense.weight`, `classifier.weight`); Linear weights are stored `[in, out]` (`x @ W`), the
 * transpose of PyTorch's `[out, in]`, as everywhere in this library (the loader transposes).
 */
import { ConfigError } from "../errors";
import { dropout, layerNorm, linear, paddingMask, postNormBlock, type BlockParams } from "./layers";
import { need, PROMPT_PARAM, type ParamLookup } from "./gpt";
import type { Ops } from "./ops";

/** A BERT configuration: Hugging Face's config.json keys in camelCase. */
export interface BertConfig {
  readonly vocabSize: number; // vocab_size
  readonly hiddenSize: number; // hidden_size
  readonly numHiddenLayers: number; // num_hidden_layers
  readonly numAttentionHeads: number; // num_attention_heads
  readonly intermediateSize: number; // intermediate_size
  readonly maxPositionEmbeddings: number; // max_position_embeddings
  readonly typeVocabSize: number; // type_vocab_size
  readonly layerNormEps: number; // layer_norm_eps
  readonly hiddenDropoutProb: number; // hidden_dropout_prob (attention_probs_dropout_prob is the same 0.1)
  readonly numLabels: number; // num_labels (len(id2label))
  readonly padTokenId: number; // pad_token_id
}

/** `bert-base-uncased` (110 M parameters) with a 2-class head, as AutoModelForSequenceClassification builds it. */
export const BERT_BASE_UNCASED: BertConfig = {
  vocabSize: 30522,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  maxPositionEmbeddings: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  hiddenDropoutProb: 0.1,
  numLabels: 2,
  padTokenId: 0,
};

/** A tiny BERT with bert-base-uncased's vocabulary and positions (smoke runs and tests): 2 layers of width 32. */
export const BERT_TINY: BertConfig = {
  ...BERT_BASE_UNCASED,
  hiddenSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 64,
};

/** The named configurations (Hugging Face model ids). */
export const BERT_CONFIGS: Readonly<Record<string, BertConfig>> = {
  "bert-base-uncased": BERT_BASE_UNCASED,
  "bert-tiny": BERT_TINY,
};

/** Checks a config's numbers. @throws ConfigError naming the bad field */
export function validateBertConfig(cfg: BertConfig): BertConfig {
  for (const k of [
    "vocabSize",
    "hiddenSize",
    "numHiddenLayers",
    "numAttentionHeads",
    "intermediateSize",
    "maxPositionEmbeddings",
    "typeVocabSize",
    "numLabels",
  ] as const)
    if (!(Number.isInteger(cfg[k]) && cfg[k] > 0))
      throw new ConfigError(`BertConfig.${k} must be a positive integer, got ${cfg[k]}`);
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0)
    throw new ConfigError(
      `hiddenSize (${cfg.hiddenSize}) must be divisible by numAttentionHeads (${cfg.numAttentionHeads})`,
    );
  if (!(cfg.layerNormEps > 0)) throw new ConfigError(`layerNormEps must be positive, got ${cfg.layerNormEps}`);
  if (!(cfg.hiddenDropoutProb >= 0 && cfg.hiddenDropoutProb < 1))
    throw new ConfigError(`hiddenDropoutProb must be in [0, 1), got ${cfg.hiddenDropoutProb}`);
  return cfg;
}

/**
 * A config from Hugging Face's config.json (`bert` model type; `num_labels` or `id2label` give the classes,
 * default 2). @throws ConfigError for a missing or invalid field
 */
export function bertConfigFromHf(c: Record<string, unknown>): BertConfig {
  if (c.model_type !== undefined && c.model_type !== "bert")
    throw new ConfigError(`config.json: model_type ${JSON.stringify(c.model_type)} is not "bert"`);
  const num = (k: string, dflt?: number) => {
    const v = c[k] ?? dflt;
    if (typeof v !== "number")
      throw new ConfigError(`config.json: "${k}" must be a number, found ${JSON.stringify(v)}`);
    return v;
  };
  const labels = c.id2label && typeof c.id2label === "object" ? Object.keys(c.id2label).length : undefined;
  return validateBertConfig({
    vocabSize: num("vocab_size"),
    hiddenSize: num("hidden_size"),
    numHiddenLayers: num("num_hidden_layers"),
    numAttentionHeads: num("num_attention_heads"),
    intermediateSize: num("intermediate_size"),
    maxPositionEmbeddings: num("max_position_embeddings"),
    typeVocabSize: num("type_vocab_size", 2),
    layerNormEps: num("layer_norm_eps", 1e-12),
    hiddenDropoutProb: num("hidden_dropout_prob", 0.1),
    numLabels: num("num_labels", labels ?? 2),
    padTokenId: num("pad_token_id", 0),
  });
}

/** True for Linear weights (stored `[in, out]` here, `[out, in]` in PyTorch): every `.weight` but embeddings and LayerNorms. */
export function isBertLinearWeight(name: string): boolean {
  return name.endsWith(".weight") && !name.includes(".embeddings.") && !name.includes("LayerNorm");
}

/** Hugging Face's parameter names with our shapes (Linear weights `[in, out]`), in the checkpoint's order. */
export function bertParameterShapes(cfg: BertConfig): Array<[string, number[]]> {
  const E = cfg.hiddenSize,
    I = cfg.intermediateSize;
  const lin = (p: string, i: number, o: number): Array<[string, number[]]> => [
    [`${p}.weight`, [i, o]],
    [`${p}.bias`, [o]],
  ];
  const norm = (p: string): Array<[string, number[]]> => [
    [`${p}.weight`, [E]],
    [`${p}.bias`, [E]],
  ];
  const shapes: Array<[string, number[]]> = [
    ["bert.embeddings.word_embeddings.weight", [cfg.vocabSize, E]],
    ["bert.embeddings.position_embeddings.weight", [cfg.maxPositionEmbeddings, E]],
    ["bert.embeddings.token_type_embeddings.weight", [cfg.typeVocabSize, E]],
    ...norm("bert.embeddings.LayerNorm"),
  ];
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const p = `bert.encoder.layer.${i}`;
    shapes.push(
      ...lin(`${p}.attention.self.query`, E, E),
      ...lin(`${p}.attention.self.key`, E, E),
      ...lin(`${p}.attention.self.value`, E, E),
      ...lin(`${p}.attention.output.dense`, E, E),
      ...norm(`${p}.attention.output.LayerNorm`),
      ...lin(`${p}.intermediate.dense`, E, I),
      ...lin(`${p}.output.dense`, I, E),
      ...norm(`${p}.output.LayerNorm`),
    );
  }
  shapes.push(...lin("bert.pooler.dense", E, E), ...lin("classifier", E, cfg.numLabels));
  return shapes;
}

/** Layer i's parameters as the post-norm block reads them (norm1: after attention, norm2: after the feed-forward). */
export function bertLayerParams<T>(param: ParamLookup<T>, i: number): BlockParams<T> {
  const p = `bert.encoder.layer.${i}`;
  const lin = (n: string) => ({ weight: need(param, `${p}.${n}.weight`), bias: param(`${p}.${n}.bias`) });
  const norm = (n: string) => ({
    scale: need(param, `${p}.${n}.LayerNorm.weight`),
    shift: need(param, `${p}.${n}.LayerNorm.bias`),
  });
  return {
    att: {
      query: lin("attention.self.query"),
      key: lin("attention.self.key"),
      value: lin("attention.self.value"),
      out: lin("attention.output.dense"),
    },
    norm1: norm("attention.output"),
    ff: { fc: lin("intermediate.dense"), proj: lin("output.dense") },
    norm2: norm("output"),
  };
}

/** Options of the forward pass. */
export interface BertForwardOptions<T> {
  /** 0/1 float [B, T]: 1 for tokens, 0 for padding (Hugging Face's `attention_mask`; default all ones). */
  readonly attentionMask?: T;
  /** Segment ids [B, T] (default all 0: a single sentence). */
  readonly tokenTypeIds?: T;
  /** Dropout rate (training only; default 0). */
  readonly dropRate?: number;
  /** "logits" (default, [B, numLabels]) or the pooled output [B, E]. */
  readonly output?: "logits" | "pooled";
}

/**
 * The embeddings (BertEmbeddings): word + token-type + position embeddings, LayerNorm, dropout. ids [B, T] →
 * [B, T, E]. With a soft prompt (`prompt_embeddings` [1, n, E], the fine-tuning chapter's prompt tuning) the
 * prompt is put in front of the word embeddings (the chapter's `inputs_embeds`): [B, n + T, E] at positions
 * 0..n+T-1 ([CLS] at position n), every position segment 0.
 * @throws ConfigError beyond max_position_embeddings
 */
export function bertEmbed<T>(
  o: Ops<T>,
  param: ParamLookup<T>,
  cfg: BertConfig,
  ids: T,
  opts: BertForwardOptions<T> = {},
): T {
  const [B, T] = o.shape(ids);
  const prompt = param(PROMPT_PARAM);
  const E = cfg.hiddenSize;
  const n = prompt ? (o.shape(prompt)[o.shape(prompt).length - 2] as number) : 0;
  if (typeof T === "number" && n + T > cfg.maxPositionEmbeddings)
    throw new ConfigError(
      `Input has ${T} tokens${n ? ` after a ${n}-token soft prompt` : ""}; BERT supports at most ${cfg.maxPositionEmbeddings}${n ? " in all" : ""}`,
    );
  if (prompt && opts.tokenTypeIds)
    throw new ConfigError("Token types with a soft prompt are not supported (single sentences only)");
  let x = o.gather(need(param, "bert.embeddings.word_embeddings.weight"), ids);
  if (prompt) x = o.concat([o.broadcastTo(o.reshape(prompt, [1, n, E]), [B, n, E]), x], 1);
  const typeTable = need(param, "bert.embeddings.token_type_embeddings.weight");
  // Without token types every position is segment 0: row 0 of the table, broadcast.
  const types = opts.tokenTypeIds ? o.gather(typeTable, opts.tokenTypeIds) : o.slice(typeTable, 0, 0, 1);
  const len = o.shape(x)[1];
  x = o.add(o.add(x, types), o.slice(need(param, "bert.embeddings.position_embeddings.weight"), 0, 0, len));
  const norm = {
    scale: need(param, "bert.embeddings.LayerNorm.weight"),
    shift: need(param, "bert.embeddings.LayerNorm.bias"),
  };
  return dropout(o, layerNorm(o, x, norm, cfg.layerNormEps), opts.dropRate);
}

/**
 * BERT for sequence classification: ids [B, T] → logits [B, numLabels] (or the pooled output [B, E]).
 * The pooler reads position 0: [CLS], or with a soft prompt its first virtual token, as the chapter's
 * `bert(inputs_embeds=…)` does.
 */
export function bertForward<T>(
  o: Ops<T>,
  param: ParamLookup<T>,
  cfg: BertConfig,
  ids: T,
  opts: BertForwardOptions<T> = {},
): T {
  let x = bertEmbed(o, param, cfg, ids, opts);
  const prompt = param(PROMPT_PARAM);
  // The prompt's positions are visible to every token (the chapter's ones in front of the attention mask).
  const n = prompt ? (o.shape(prompt)[o.shape(prompt).length - 2] as number) : 0;
  const keyMask = opts.attentionMask && n ? o.sub(1, o.pad(o.sub(1, opts.attentionMask), 1, n, 0)) : opts.attentionMask;
  const mask = keyMask ? paddingMask(o, keyMask) : undefined; // [B, 1, 1, T]
  for (let i = 0; i < cfg.numHiddenLayers; i++)
    x = postNormBlock(o, x, bertLayerParams(param, i), {
      nHeads: cfg.numAttentionHeads,
      mask,
      keyMask,
      eps: cfg.layerNormEps,
      // The pooler reads position 0 only: the last layer computes just that row (keys and values from all).
      firstRowOnly: i === cfg.numHiddenLayers - 1,
      dropRate: opts.dropRate,
    });
  const [B, , E] = o.shape(x);
  const first = o.reshape(o.slice(x, 1, 0, 1), [B, E]);
  const pooled = o.tanh(
    linear(o, first, { weight: need(param, "bert.pooler.dense.weight"), bias: param("bert.pooler.dense.bias") }),
  );
  if (opts.output === "pooled") return pooled;
  return linear(o, dropout(o, pooled, opts.dropRate), {
    weight: need(param, "classifier.weight"),
    bias: param("classifier.bias"),
  });
}
