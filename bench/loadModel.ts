/**
 * Loads PyTorch's random weights (safetensors written by scripts/bench/torch_reference.py) into our GPTModel
 * (124M config, 2-class head with bias) with the book's freezing: last block, final norm and head trainable.
 * The model is created straight from the file's values (GPTModel's `fill`: no random init first), each tensor
 * written into the backend's memory and its JS copy let go at once.
 */
import { GPTModel, modelConfig } from "llm-spam-classifier";
import { isLinearWeight } from "llm-spam-classifier/model";
import { readSafetensorsF32, transpose2d } from "./safetensors";

export function loadBenchModel(weightsPath: string): GPTModel {
  const raw = readSafetensorsF32(weightsPath);
  for (const name of [...raw.keys()]) if (name.endsWith(".att.mask")) raw.delete(name);
  // Our layout: PyTorch's Linear weights [out, in] are stored [in, out].
  const shapes = new Map(
    [...raw].map(([name, t]) => [
      name,
      isLinearWeight(name) && t.shape.length === 2 ? [...t.shape].reverse() : t.shape,
    ]),
  );
  const model = new GPTModel(modelConfig("124M"), {
    outDim: 2,
    headBias: true,
    fill: {
      shapes,
      fill(name, values) {
        const t = raw.get(name)!;
        raw.delete(name); // let each tensor's JS copy go as soon as it is in the model
        values.set(isLinearWeight(name) && t.shape.length === 2 ? transpose2d(t.data, t.shape[0], t.shape[1]) : t.data);
      },
    },
  });
  model.freezeAll();
  model.setTrainable([`trf_blocks.${model.cfg.nLayers - 1}`, "final_norm", "out_head"]);
  return model;
}
