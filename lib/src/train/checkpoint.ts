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
import { ConfigError } from "../errors";
import { writeFileAtomic } from "../util/atomic";
import { GPTModel, isLinearWeight } from "../model/gptModel";
import { PAD_TOKEN_ID } from "../tokenizer";
import { writeSafetensors } from "../weights/safetensors";
import { readableOnHost } from "../webgpuAdapter";
import { transpose2d } from "../weights/loadWeights";
import type { ClassifierModel } from "../model/classifierInput";
import { isLoraParam, replaceLinearWithLora } from "../model/lora";
import { addSoftPrompt, PROMPT_PARAM } from "../model/promptTuning";
import { CLASSIFIER_FORMAT, openClassifierFiller, savedVariant, type ClassifierConfig } from "./classifierFile";

export { CLASSIFIER_FORMAT, openClassifierFiller, readClassifierArrays, type ClassifierConfig } from "./classifierFile";

export interface SaveClassifierOptions {
  /** The training length (`train_dataset.max_length`; classifyReview's default later). Default: the model's `trainedMaxLength`. */
  maxLength?: number;
  /** Default: the model's `padTokenId`, else 50256. */
  padTokenId?: number;
  info?: Record<string, unknown>;
  /** Names of the classes by label (default the chapter's: "not spam", "spam"). */
  classNames?: readonly string[];
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
    classNames: [...(opts.classNames ?? ["not spam", "spam"])],
    ...(opts.info ? { info: opts.info } : {}),
  };
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, v] of model.params) {
    // ours [in, out] → PyTorch [out, in], on the host (on WebGPU only values already read are readable: readableOnHost)
    const data = v.dataSync() as Float32Array;
    const [rows, cols] = v.shape;
    tensors.set(
      name,
      isLinearWeight(name) ? { data: transpose2d(data, rows, cols), shape: [cols, rows] } : { data, shape: v.shape },
    );
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

/**
 * saveClassifier on every backend: reads the parameters to the host first (tfjs-webgpu in Node has no
 * synchronous read, and forgets the host copy of a value it uploaded). What notebooks and scripts call.
 */
export async function saveClassifierAsync(
  dir: string,
  model: ClassifierModel,
  opts: SaveClassifierOptions = {},
): Promise<ClassifierConfig> {
  await readableOnHost(model.params.values());
  return saveClassifier(dir, model, opts);
}

/**
 * Loads a classifier saved by saveClassifier (frozen; carries `trainedMaxLength`), created straight from the
 * stored values (a converted copy is cached, see `readClassifierArrays`).
 * Book: model.load_state_dict(torch.load("review_classifier.pth")), 6.8.
 * @param opts `cacheDir`, `cacheMinBytes`: as for `readClassifierArrays`.
 * @returns the model, the length it was trained with and its config.
 * @throws DataFormatError when the folder has no classifier, or a tensor is missing or mis-shaped.
 */
export function loadClassifier(
  dir: string,
  opts: { cacheDir?: string | false; cacheMinBytes?: number } = {},
): { model: ClassifierModel; maxLength: number; config: ClassifierConfig } {
  const { filler, config } = openClassifierFiller(dir, opts);
  const { lora, ...gpt } = config.gpt;
  let model: ClassifierModel;
  try {
    model = new GPTModel(gpt, {
      fill: filler,
      outDim: config.numClasses,
      headBias: filler.shapes.has("out_head.bias"),
    });
    try {
      // Saved with LoRA adapters not merged, or with a soft prompt: add them, then read their values.
      if (lora) replaceLinearWithLora(model, lora.rank, lora.alpha, { scaling: lora.scaling });
      const promptShape = filler.shapes.get(PROMPT_PARAM);
      if (promptShape) addSoftPrompt(model, { initIds: new Array<number>(promptShape[0]).fill(0) });
      for (const [name, v] of model.params) {
        if (!isLoraParam(name) && name !== PROMPT_PARAM) continue;
        const values = new Float32Array(v.size);
        filler.fill(name, values);
        model.setParam(name, values, v.shape);
      }
    } catch (err) {
      model.dispose();
      throw err;
    }
  } finally {
    filler.close();
  }
  model.freezeAll();
  model.trainedMaxLength = config.maxLength;
  model.padTokenId = config.padTokenId;
  // A bonus-experiment variant (finetuneClassifier saves it in info) is read the way it was trained.
  Object.assign(model, savedVariant(config));
  return { model, maxLength: config.maxLength, config };
}
