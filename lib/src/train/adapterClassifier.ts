/**
 * A classifier from a parameter-efficient fine-tuning run's own output: GPT-2 (the base it was trained
 * from), the seeded 2-class head, and the saved LoRA adapter (merged in) or soft prompt. Used by
 * `classify --adapter DIR`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError } from "../errors";
import type { ClassifierModel } from "../model/classifierInput";
import { mergeLora } from "../model/lora";
import { loadPretrainedGpt2 } from "../weights/pretrained";
import { isLoraAdapterDir, loadLoraAdapter } from "./lora";
import { loadSoftPrompt } from "./promptTuning";

/** Options of `loadAdapterClassifier`. */
export interface AdapterClassifierOptions {
  /** The GPT-2 the adapter was trained from: a size or a folder (default "124M"). */
  weights?: string;
  dataDir?: string;
  baseUrls?: readonly string[];
  /** Seed of the head the run swapped in (default 123, finetune's). */
  seed?: number;
  log?: (line: string) => void;
}

/**
 * Loads GPT-2, swaps in the head as `finetune` did, and applies the LoRA adapter (then merges it) or the
 * soft prompt saved in `dir`. The base weights' hash is checked (a clear error on another GPT-2).
 * @throws DataFormatError when `dir` holds neither; ConfigError on a base mismatch
 */
export async function loadAdapterClassifier(dir: string, o: AdapterClassifierOptions = {}): Promise<ClassifierModel> {
  const lora = isLoraAdapterDir(dir);
  const configFile = path.join(dir, lora ? "adapter.json" : "soft-prompt.json");
  if (!lora && !fs.existsSync(path.join(dir, "soft-prompt.safetensors")))
    throw new DataFormatError(
      `${dir} holds neither a LoRA adapter (adapter.safetensors) nor a soft prompt (soft-prompt.safetensors)`,
    );
  let saved: { numClasses?: number; maxLength?: number };
  try {
    saved = JSON.parse(fs.readFileSync(configFile, "utf8")) as { numClasses?: number; maxLength?: number };
  } catch (err) {
    throw new DataFormatError(`${configFile} is missing or not valid JSON`, { cause: err });
  }
  const { model } = await loadPretrainedGpt2({
    weights: o.weights ?? "124M",
    dataDir: o.dataDir,
    baseUrls: o.baseUrls,
    log: o.log,
  });
  const clf = model as ClassifierModel;
  try {
    clf.replaceOutHead(saved.numClasses ?? 2, { bias: true, seed: o.seed ?? 123 });
    if (lora) {
      loadLoraAdapter(dir, clf);
      mergeLora(clf);
    } else loadSoftPrompt(dir, clf);
  } catch (err) {
    clf.dispose();
    throw err;
  }
  clf.freezeAll();
  if (saved.maxLength) clf.trainedMaxLength = saved.maxLength;
  return clf;
}
