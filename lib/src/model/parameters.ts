/**
 * The book's parameter names and shapes (no tfjs here: the ONNX Runtime path and the weight loaders use them
 * without building a tfjs model). Every Linear weight is stored `[in, out]`, the transpose of PyTorch's.
 */
import type { GPTConfig } from "./config";

/** True for parameters stored `[in, out]` here but `[out, in]` in PyTorch (all `*.weight` except embeddings). */
export function isLinearWeight(name: string): boolean {
  return name.endsWith(".weight") && !name.startsWith("tok_emb") && !name.startsWith("pos_emb");
}

/** The book's parameter names and shapes for a config (head: `[embDim, outDim]`, no bias, like the pretrained model). */
export function parameterShapes(cfg: GPTConfig, outDim = cfg.vocabSize, headBias = false): Array<[string, number[]]> {
  const E = cfg.embDim;
  const shapes: Array<[string, number[]]> = [
    ["tok_emb.weight", [cfg.vocabSize, E]],
    ["pos_emb.weight", [cfg.contextLength, E]],
  ];
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `trf_blocks.${i}`;
    for (const w of ["W_query", "W_key", "W_value"]) {
      shapes.push([`${p}.att.${w}.weight`, [E, E]]);
      if (cfg.qkvBias) shapes.push([`${p}.att.${w}.bias`, [E]]);
    }
    shapes.push([`${p}.att.out_proj.weight`, [E, E]], [`${p}.att.out_proj.bias`, [E]]);
    shapes.push([`${p}.ff.layers.0.weight`, [E, 4 * E]], [`${p}.ff.layers.0.bias`, [4 * E]]);
    shapes.push([`${p}.ff.layers.2.weight`, [4 * E, E]], [`${p}.ff.layers.2.bias`, [E]]);
    shapes.push(
      [`${p}.norm1.scale`, [E]],
      [`${p}.norm1.shift`, [E]],
      [`${p}.norm2.scale`, [E]],
      [`${p}.norm2.shift`, [E]],
    );
  }
  shapes.push(["final_norm.scale", [E]], ["final_norm.shift", [E]], ["out_head.weight", [E, outDim]]);
  if (headBias) shapes.push(["out_head.bias", [outDim]]);
  return shapes;
}
