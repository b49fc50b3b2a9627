/** A text overview of a GPTModel, in the spirit of the book's `print(model)` (6.5). */
import type { GPTModel } from "./gptModel";

/** One line per module with its parameter shapes; blocks after the first are summarised. */
export function modelSummary(model: GPTModel): string {
  const c = model.cfg,
    E = c.embDim;
  const head = model.param("out_head.weight").shape;
  const bias = model.params.has("out_head.bias");
  return [
    `GPTModel(`,
    `  (tok_emb): Embedding(${c.vocabSize}, ${E})`,
    `  (pos_emb): Embedding(${c.contextLength}, ${E})`,
    `  (drop_emb): Dropout(p=${c.dropRate})`,
    `  (trf_blocks): ${c.nLayers} x TransformerBlock(`,
    `    (att): MultiHeadAttention(W_query/W_key/W_value: Linear(${E} → ${E}, bias=${c.qkvBias}), out_proj: Linear(${E} → ${E}), heads=${c.nHeads})`,
    `    (ff): FeedForward(Linear(${E} → ${4 * E}) → GELU → Linear(${4 * E} → ${E}))`,
    `    (norm1, norm2): LayerNorm(${E})  (drop_resid): Dropout(p=${c.dropRate})`,
    `  )`,
    `  (final_norm): LayerNorm(${E})`,
    `  (out_head): Linear(in_features=${head[0]}, out_features=${head[1]}, bias=${bias})`,
    `)`,
  ].join("\n");
}
