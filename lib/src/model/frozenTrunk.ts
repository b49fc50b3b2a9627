/**
 * Where a model's frozen trunk ends: the embeddings and leading transformer blocks that do not train (6.5's
 * freezing decides it). Runners keep the trunk out of the gradient tape; engines may compute it natively.
 */
import type { GPTModel } from "./gptModel";

const isTrainable = (model: GPTModel, prefix: string) =>
  [...model.params].some(([name, v]) => v.trainable && (name === prefix || name.startsWith(`${prefix}.`)));

/**
 * Where the frozen trunk ends: `embedFrozen` (token and position embeddings frozen) and `blocks`, the
 * number of leading transformer blocks that are entirely frozen (0 when the embeddings train).
 */
export function frozenTrunkSize(model: GPTModel): { embedFrozen: boolean; blocks: number } {
  // A trainable soft prompt (prompt tuning: `prompt_embeddings`) is part of the embeddings.
  if (isTrainable(model, "tok_emb") || isTrainable(model, "pos_emb") || isTrainable(model, "prompt_embeddings"))
    return { embedFrozen: false, blocks: 0 };
  let blocks = 0;
  while (blocks < model.cfg.nLayers && !isTrainable(model, `trf_blocks.${blocks}`)) blocks++;
  return { embedFrozen: true, blocks };
}
