/**
 * Section 6.5: turning GPT-2 into a classifier — freeze it, swap the 50,257-way output head for a
 * 2-way one, and unfreeze the last transformer block and the final LayerNorm.
 */
import { ConfigError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import { parameterShapes } from "../model/parameters";
import type { GPTConfig } from "../model/config";

/**
 * Which layers train (book: last_block; its bonus experiments' `--trainable_layers` also try all,
 * last_layer (the head only) and last_two_blocks). Besides the head: the last block (or two) and the final norm.
 */
export const TRAINABLE_CHOICES = ["last-block", "all", "last-layer", "last-two-blocks"] as const;
export type TrainableLayers = (typeof TRAINABLE_CHOICES)[number];

export function checkTrainable(v: string): TrainableLayers {
  const norm = v.replace(/_/g, "-");
  if (!(TRAINABLE_CHOICES as readonly string[]).includes(norm))
    throw new ConfigError(`--trainable-layers must be one of ${TRAINABLE_CHOICES.join(", ")}, got "${v}"`);
  return norm as TrainableLayers;
}

/** Names (or prefixes) trained besides the new head. */
export function trainablePrefixes(cfg: GPTConfig, trainable: TrainableLayers): string[] {
  if (trainable === "all") return ["tok_emb", "pos_emb", "trf_blocks", "final_norm"];
  if (trainable === "last-block") return [`trf_blocks.${cfg.nLayers - 1}`, "final_norm"];
  if (trainable === "last-two-blocks")
    return [
      ...(cfg.nLayers > 1 ? [`trf_blocks.${cfg.nLayers - 2}`] : []),
      `trf_blocks.${cfg.nLayers - 1}`,
      "final_norm",
    ];
  return [];
}

/**
 * Parameter counts of the classifier without building it: 124M gives 124,441,346 in all and
 * 7,090,946 trainable (last block 7,087,872 + final norm 1,536 + head 1,538).
 */
export function classifierParamCount(
  cfg: GPTConfig,
  numClasses = 2,
  trainable: TrainableLayers = "last-block",
): { total: number; trainable: number } {
  const prefixes = trainablePrefixes(cfg, trainable);
  let total = 0,
    train = 0;
  for (const [name, shape] of parameterShapes(cfg, numClasses, true)) {
    const n = shape.reduce((a, b) => a * b, 1);
    total += n;
    if (name.startsWith("out_head.") || prefixes.some((p) => name === p || name.startsWith(`${p}.`))) train += n;
  }
  return { total, trainable: train };
}

export interface PrepareClassifierOptions {
  numClasses?: number;
  trainable?: TrainableLayers;
  /** Seed of the new head's initialisation (the book calls torch.manual_seed(123) first). */
  seed?: number;
}

/**
 * Freezes the model, replaces its head with Linear(embDim → numClasses) (with bias, as
 * `torch.nn.Linear`), and makes the chosen layers trainable. Book: 6.5.
 * @returns the parameter counts (all and trainable).
 */
export function prepareClassifier(
  model: GPTModel,
  opts: PrepareClassifierOptions = {},
): { total: number; trainable: number } {
  const trainable = opts.trainable ?? "last-block";
  model.freezeAll();
  model.replaceOutHead(opts.numClasses ?? 2, { bias: true, seed: opts.seed ?? 123 });
  model.setTrainable(trainablePrefixes(model.cfg, trainable));
  return { total: model.numParams(), trainable: model.numParams({ trainableOnly: true }) };
}
