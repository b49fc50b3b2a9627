/**
 * What a LoRA adapter and a soft prompt share on disk: the trained tensors in a safetensors file (PyTorch's
 * layout) with the config in its metadata, and the config again as JSON, each written atomically; on load,
 * one clear error for a missing or foreign file, the base weights' hash checked, the tensors read into the model.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { ConfigError, DataFormatError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import { writeFileAtomic } from "../util/atomic";
import { SafetensorsFile, writeSafetensors } from "../weights/safetensors";

/** The files and format of one kind of saved adapter. */
export interface AdapterKind {
  /** In messages: "LoRA adapter", "soft prompt". */
  readonly what: string;
  readonly file: string;
  readonly configFile: string;
  /** The safetensors metadata key holding the config. */
  readonly metadataKey: string;
  readonly format: string;
}

type Tensors = Map<string, { data: Float32Array; shape: number[] }>;

/** The head's weight and bias in PyTorch's layout (weight [out, in]), for adapters saved with a trained head. */
export function headTensors(model: GPTModel): Tensors {
  const out: Tensors = new Map();
  const w = tf.tidy(() => model.tensor("out_head.weight").transpose()); // ours [in, out] → PyTorch [out, in]
  out.set("out_head.weight", { data: w.dataSync() as Float32Array, shape: w.shape });
  w.dispose();
  const b = model.params.get("out_head.bias");
  if (b) out.set("out_head.bias", { data: b.dataSync() as Float32Array, shape: b.shape });
  return out;
}

/** Writes the tensors and the config into `dir` (created if needed), each file atomically. */
export function writeAdapter(dir: string, kind: AdapterKind, tensors: Tensors, config: object): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, kind.file), tensors, { format: "pt", [kind.metadataKey]: JSON.stringify(config) });
  writeFileAtomic(path.join(dir, kind.configFile), JSON.stringify(config, null, 2) + "\n");
}

/**
 * Opens a saved adapter: its tensors and its config (from the safetensors metadata, else the JSON file).
 * @throws DataFormatError when the folder has none, its config is not valid JSON, or it is not this kind
 */
export function readAdapter<C extends { format?: string }>(
  dir: string,
  kind: AdapterKind,
): { st: SafetensorsFile; file: string; config: C } {
  const file = path.join(dir, kind.file);
  if (!fs.existsSync(file)) throw new DataFormatError(`No ${kind.what} in ${dir} (no ${kind.file})`);
  const st = new SafetensorsFile(file);
  let config: C;
  try {
    config = JSON.parse(st.metadata[kind.metadataKey] ?? fs.readFileSync(path.join(dir, kind.configFile), "utf8")) as C;
  } catch (err) {
    throw new DataFormatError(`${dir}: the ${kind.what}'s config is missing or not valid JSON`, { cause: err });
  }
  if (config?.format !== kind.format)
    throw new DataFormatError(`${file}: not a ${kind.what} saved by this project (format "${String(config?.format)}")`);
  return { st, file, config };
}

/** @throws ConfigError when the adapter was trained on other base weights than the model's */
export function checkBaseHash(dir: string, kind: AdapterKind, saved: string, model: string): void {
  if (model !== saved)
    throw new ConfigError(
      `The ${kind.what} in ${dir} was trained on other base weights (sha256 ${saved.slice(0, 12)}…, this model's: ${model.slice(0, 12)}…): load the classifier it was trained from`,
    );
}

/** Reads the named tensors the model has into it (the head transposed back to ours), then freezes the model. */
export function loadAdapterTensors(model: GPTModel, st: SafetensorsFile, file: string, names: readonly string[]): void {
  for (const n of names) {
    if (!model.params.has(n)) continue;
    if (!st.has(n)) throw new DataFormatError(`${file} has no tensor "${n}"`);
    const { data, shape } = st.readTensor(n);
    if (n === "out_head.weight") tf.tidy(() => model.setParam(n, tf.tensor(data, shape).transpose()));
    else model.setParam(n, data, shape);
  }
  model.freezeAll();
}
