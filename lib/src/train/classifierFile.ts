/**
 * Section 6.8: reading a saved classifier (`model.safetensors` in PyTorch's layout + its config) as arrays in
 * our layout, without tfjs: `loadClassifier` builds a GPTModel from them, `classify` on ONNX Runtime runs them
 * directly. The converted arrays are cached (weightCache.ts), so a second load is one read.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError } from "../errors";
import { validateConfig, type GPTConfig } from "../model/config";
import { PROMPT_PARAM, READOUT_CHOICES, type ReadoutKind } from "../model/gpt";
import { loraParamShapes } from "../model/loraSettings";
import { isLinearWeight, parameterShapes } from "../model/parameters";
import { transpose2d } from "../weights/loadWeights";
import { SafetensorsFile } from "../weights/safetensors";
import {
  cachedWeightFiller,
  cachedWeights,
  weightCacheDir,
  type WeightArrays,
  type WeightFiller,
} from "../weights/weightCache";

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

/** How a bonus-experiment variant saved in `info.variant` (finetuneClassifier) reads its texts: readout, mask, padding. */
export function savedVariant(config: ClassifierConfig): { readout?: ReadoutKind; causal?: false; padding?: false } {
  const variant = (
    config.info as { variant?: { readout?: unknown; causalMask?: unknown; padding?: unknown } } | undefined
  )?.variant;
  if (!variant) return {};
  return {
    ...(typeof variant.readout === "string" && (READOUT_CHOICES as readonly string[]).includes(variant.readout)
      ? { readout: variant.readout as ReadoutKind }
      : {}),
    ...(variant.causalMask === false ? { causal: false as const } : {}),
    ...(variant.padding === false ? { padding: false as const } : {}),
  };
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

type ClassifierFileOptions = { cacheDir?: string | false; cacheMinBytes?: number; log?: (line: string) => void };

/** What reading a saved classifier takes: its file, config, the conversion to our layout, the cache settings. */
function classifierConversion(dir: string, opts: ClassifierFileOptions) {
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
  const lora = config.gpt.lora,
    prompt = st.entries.get(PROMPT_PARAM);
  const shapes = [
    ...parameterShapes(config.gpt, config.numClasses, st.has("out_head.bias")),
    // Adapters saved with the classifier (LoRA not merged, a soft prompt), stored as they are.
    ...(lora ? loraParamShapes(config.gpt, lora.rank, config.numClasses) : []),
    ...(prompt ? [[PROMPT_PARAM, [...prompt.shape]] as [string, number[]]] : []),
  ];
  const convert = (): WeightArrays => {
    const names = new Set(shapes.map(([n]) => n));
    const extra = [...st.entries.keys()].filter((n) => !names.has(n));
    if (extra.length)
      throw new DataFormatError(`${stFile} has tensors this model does not: ${extra.slice(0, 3).join(", ")}`);
    const out: WeightArrays = new Map();
    for (const [name, shape] of shapes) {
      if (!st.has(name)) throw new DataFormatError(`${stFile} has no tensor "${name}"`);
      const t = st.readTensor(name);
      const lin = isLinearWeight(name); // PyTorch [out, in] → ours [in, out]
      const want = lin ? [...shape].reverse() : shape;
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i]))
        throw new DataFormatError(
          `${stFile}: tensor "${name}" has shape [${t.shape.join(",")}], expected [${want.join(",")}]`,
        );
      out.set(name, { data: lin ? transpose2d(t.data, want[0], want[1]) : t.data, shape });
    }
    return out;
  };
  const cache = { dir: weightCacheDir({ cacheDir: opts.cacheDir }), minBytes: opts.cacheMinBytes, log: opts.log };
  return { files: [stFile], kind: `classifier:${CLASSIFIER_FORMAT}`, convert, cache, config };
}

/**
 * The classifier saved in `dir` as our parameters' values (Linear weights transposed to `[in, out]`) and its config.
 * @param opts `cacheDir`: the weight cache folder, or false for none; `cacheMinBytes`: the smallest file cached
 *   (both default as for `loadPretrainedGpt2`); `log` for the cache's notes.
 * @throws DataFormatError when the folder has no classifier, or a tensor is missing, extra or mis-shaped.
 */
export function readClassifierArrays(
  dir: string,
  opts: ClassifierFileOptions = {},
): { arrays: WeightArrays; config: ClassifierConfig } {
  const c = classifierConversion(dir, opts);
  return { arrays: cachedWeights(c.files, c.kind, c.convert, c.cache).arrays, config: c.config };
}

/**
 * Like `readClassifierArrays`, as a filler for `new GPTModel(config.gpt, { fill })` (from a cache hit, each tensor is
 * read straight into the model's memory). Call `filler.close()` when the model is built.
 */
export function openClassifierFiller(
  dir: string,
  opts: ClassifierFileOptions = {},
): { filler: WeightFiller; config: ClassifierConfig } {
  const c = classifierConversion(dir, opts);
  return { filler: cachedWeightFiller(c.files, c.kind, c.convert, c.cache).filler, config: c.config };
}
