/**
 * Section 6.8: saving and loading the fine-tuned classifier — `model.safetensors` with the book's
 * state_dict names in PyTorch's layout (Linear weights `[out, in]`, so PyTorch's
 * `load_state_dict(safetensors.torch.load_file(...))` accepts it) plus a small `config.json`.
 * Both files are written atomically.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { DataFormatError } from "../errors";
import { writeFileAtomic } from "../util/atomic";
import { GPTModel, isLinearWeight } from "../model/gptModel";
import type { GPTConfig } from "../model/config";
import { SafetensorsFile, writeSafetensors } from "../weights/safetensors";
import type { ClassifierModel } from "./classify";

export const CLASSIFIER_FORMAT = "llm-spam-classifier/1";

export interface ClassifierConfig {
  format: string;
  gpt: GPTConfig;
  numClasses: number;
  /** Length the classifier was trained with (120 in the book). */
  maxLength: number;
  padTokenId: number;
  classNames: readonly string[];
  /** Free-form: base weights, trainable layers, … */
  info?: Record<string, unknown>;
}

/** Saves `model` into `dir` (model.safetensors + config.json). */
export function saveClassifier(dir: string, model: GPTModel, opts: { maxLength: number; padTokenId?: number; info?: Record<string, unknown> }): void {
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, v] of model.params) {
    const t = isLinearWeight(name) ? tf.tidy(() => v.transpose()) : v;
    tensors.set(name, { data: t.dataSync() as Float32Array, shape: t.shape });
    if (t !== v) t.dispose();
  }
  writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt", layout: "pytorch-state-dict" });
  const config: ClassifierConfig = {
    format: CLASSIFIER_FORMAT, gpt: model.cfg, numClasses: model.outDim, maxLength: opts.maxLength,
    padTokenId: opts.padTokenId ?? 50256, classNames: ["not spam", "spam"], info: opts.info,
  };
  writeFileAtomic(path.join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
}

/**
 * Loads a classifier saved by saveClassifier.
 * @throws DataFormatError when the folder has no model, or a tensor is missing or mis-shaped.
 */
export function loadClassifier(dir: string): { model: ClassifierModel; config: ClassifierConfig } {
  const cfgFile = path.join(dir, "config.json"), stFile = path.join(dir, "model.safetensors");
  if (!fs.existsSync(cfgFile) || !fs.existsSync(stFile)) {
    throw new DataFormatError(`No fine-tuned classifier in ${dir} (expected config.json and model.safetensors). Run \`npm start -- finetune\` first.`);
  }
  const config = JSON.parse(fs.readFileSync(cfgFile, "utf8")) as ClassifierConfig;
  if (config.format !== CLASSIFIER_FORMAT) throw new DataFormatError(`${cfgFile}: unknown format "${config.format}"`);
  const st = new SafetensorsFile(stFile);
  const model = new GPTModel(config.gpt) as ClassifierModel;
  try {
    model.replaceOutHead(config.numClasses, { bias: st.has("out_head.bias") });
    for (const name of model.params.keys()) {
      if (!st.has(name)) throw new DataFormatError(`${stFile} has no tensor "${name}"`);
      const { data, shape } = st.readTensor(name);
      if (isLinearWeight(name)) tf.tidy(() => model.setParam(name, tf.tensor(data, shape).transpose()));
      else model.setParam(name, data, shape);
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  model.freezeAll();
  model.trainedMaxLength = config.maxLength;
  return { model, config };
}
