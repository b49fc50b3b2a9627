/**
 * Loads PyTorch's random weights (safetensors written by scripts/bench/torch_reference.py) into our GPTModel
 * (124M config, 2-class head with bias) with the book's freezing: last block, final norm and head trainable.
 */
import { GPTModel, modelConfig } from "llm-spam-classifier";
import { isLinearWeight } from "llm-spam-classifier/model";
import { readSafetensorsF32, transpose2d } from "./safetensors";

export function loadBenchModel(weightsPath: string): GPTModel {
  const model = new GPTModel(modelConfig("124M"));
  model.replaceOutHead(2, { bias: true });
  const raw = readSafetensorsF32(weightsPath);
  for (const name of [...raw.keys()]) {
    if (name.endsWith(".att.mask")) continue;
    const t = raw.get(name)!;
    raw.delete(name); // let each tensor's JS copy go as soon as it is in the model
    const lin = isLinearWeight(name) && t.shape.length === 2;
    model.setParam(
      name,
      lin ? transpose2d(t.data, t.shape[0], t.shape[1]) : t.data,
      lin ? [t.shape[1], t.shape[0]] : t.shape,
    );
  }
  model.freezeAll();
  model.setTrainable([`trf_blocks.${model.cfg.nLayers - 1}`, "final_norm", "out_head"]);
  return model;
}
