/**
 * Section 6.8: saving and loading the fine-tuned classifier — `model.safetensors` with the book's
 * state_dict names in PyTorch's layout (Linear weights `[out, in]`, so PyTorch's
 * `load_state_dict(safetensors.torch.load_file(...), strict=False)` accepts it; only the book's
causal-mask buffers are not stored) plus a small `config.json`.
 * Both files are written atomically (temp file + rename); the classifier config is also stored in
 * the safetensors metadata, so an interrupted save can never pair a model with a foreign config.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { ConfigError, DataFormatError } from "../errors";
import { writeFileAtomic } from "../util/atomic";
import { READOUT_CHOICES, type ReadoutKind } from "../model/gpt";
import { GPTModel, isLinearWeight } from "../model/gptModel";
import { validateConfig, type GPTConfig } from "../model/config";
import { PAD_TOKEN_ID } from "../tokenizer";
import { SafetensorsFile, writeSafetensors } from "../weights/safetensors";
import type { ClassifierModel } from "../model/classifierInput";
import { replaceLinearWithLora } from "../model/lora";
import { addSoftPrompt, PROMPT_PARAM } from "../model/promptTuning";

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

export interface SaveClassifierOptions {
  /** The training length (`train_dataset.max_length`; classifyReview's default later). Default: the model's `trainedMaxLength`. */
  maxLength?: number;
  /** Default: the model's `padTokenId`, else 50256. */
  padTokenId?: number;
  info?: Record<string, unknown>;
}

/**
 * Saves `model` into `dir` (created if needed): model.safetensors + config.json. Book: torch.save(model.state_dict()), 6.8.
 * @returns the config written. @throws ConfigError without a training length.
 */
export function saveClassifier(
  dir: string,
  model: ClassifierModel,
  opts: SaveClassifierOptions = {},
): ClassifierConfig {
  const maxLength = opts.maxLength ?? model.trainedMaxLength;
  if (!(maxLength !== undefined && Number.isInteger(maxLength) && maxLength > 0)) {
    throw new ConfigError(`saveClassifier needs the training length (maxLength, a positive integer), got ${maxLength}`);
  }
  const config: ClassifierConfig = {
    format: CLASSIFIER_FORMAT,
    gpt: { ...model.cfg },
    numClasses: model.outDim,
    maxLength,
    padTokenId: opts.padTokenId ?? model.padTokenId ?? PAD_TOKEN_ID,
    classNames: ["not spam", "spam"],
    ...(opts.info ? { info: opts.info } : {}),
  };
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, v] of model.params) {
    const t = isLinearWeight(name) ? tf.tidy(() => v.transpose()) : v; // ours [in, out] → PyTorch [out, in]
    tensors.set(name, { data: t.dataSync() as Float32Array, shape: t.shape });
    if (t !== v) t.dispose();
  }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, "model.safetensors"), tensors, {
    format: "pt",
    layout: "pytorch-state-dict",
    classifier_config: JSON.stringify(config),
  });
  writeFileAtomic(path.join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  return config;
}

function parseConfig(text: string, where: string): ClassifierConfig {
  let c: ClassifierConfig;
  try {
    c = JSON.parse(text) as ClassifierConfig;
  } catch (err) {
    throw new DataFormatError(`${where} is not valid JSON`, { cause: err });
  }
  if (c?.format !== CLASSIFIER_FORMAT)
    throw new DataFormatError(`${where}: not a classifier saved by this project (format "${String(c?.format)}")`);
  if (!(Number.isInteger(c.maxLength) && c.maxLength > 0 && Number.isInteger(c.numClasses) && c.numClasses > 0)) {
    throw new DataFormatError(`${where}: maxLength and numClasses must be positive integers`);
  }
  return { ...c, gpt: validateConfig({ ...c.gpt }) };
}

/**
 * Loads a classifier saved by saveClassifier (frozen; carries `trainedMaxLength`).
 * Book: model.load_state_dict(torch.load("review_classifier.pth")), 6.8.
 * @returns the model, the length it was trained with and its config.
 * @throws DataFormatError when the folder has no classifier, or a tensor is missing or mis-shaped.
 */
export function loadClassifier(dir: string): { model: ClassifierModel; maxLength: number; config: ClassifierConfig } {
  const cfgFile = path.join(dir, "config.json"),
    stFile = path.join(dir, "model.safetensors");
  if (!fs.existsSync(stFile)) {
    throw new DataFormatError(
      `No fine-tuned classifier in ${dir} (no model.safetensors). Run \`npm start -- finetune\` (or notebook 05) first.`,
    );
  }
  const st = new SafetensorsFile(stFile);
  const embedded = st.metadata.classifier_config;
  if (embedded === undefined && !fs.existsSync(cfgFile))
    throw new DataFormatError(`${dir} has model.safetensors but no config.json`);
  const config =
    embedded !== undefined
      ? parseConfig(embedded, `${stFile} (metadata)`)
      : parseConfig(fs.readFileSync(cfgFile, "utf8"), cfgFile);
  const { lora, ...gpt } = config.gpt;
  const model = new GPTModel(gpt) as ClassifierModel;
  try {
    model.replaceOutHead(config.numClasses, { bias: st.has("out_head.bias") });
    // Saved with LoRA adapters not merged, or with a soft prompt: make room for them before loading.
    if (lora) replaceLinearWithLora(model, lora.rank, lora.alpha, { scaling: lora.scaling });
    if (st.has(PROMPT_PARAM))
      addSoftPrompt(model, { initIds: new Array<number>(st.readTensor(PROMPT_PARAM).shape[0]).fill(0) });
    const extra = [...st.entries.keys()].filter((n) => !model.params.has(n));
    if (extra.length)
      throw new DataFormatError(`${stFile} has tensors this model does not: ${extra.slice(0, 3).join(", ")}`);
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
  model.padTokenId = config.padTokenId;
  // A bonus-experiment variant (finetuneClassifier saves it in info) is read the way it was trained.
  const variant = (
    config.info as { variant?: { readout?: unknown; causalMask?: unknown; padding?: unknown } } | undefined
  )?.variant;
  if (variant) {
    if (typeof variant.readout === "string" && (READOUT_CHOICES as readonly string[]).includes(variant.readout))
      model.readout = variant.readout as ReadoutKind;
    if (variant.causalMask === false) model.causal = false;
    if (variant.padding === false) model.padding = false;
  }
  return { model, maxLength: config.maxLength, config };
}
