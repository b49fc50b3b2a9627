/**
 * Appendix E on the spam classifier: the head swap, the freeze, `replace_linear_with_lora` and the
 * printed parameter counts; the training settings; and LoRA adapters saved and loaded on their own
 * (adapter.safetensors + adapter.json, next to nothing else), checked against the base weights' hash.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError } from "../errors";
import { hashParams } from "../engine/cached/prefixCache";
import { readableOnHost } from "../webgpuAdapter";
import type { GPTModel } from "../model/gptModel";
import {
  isLoraParam,
  loraParamNames,
  loraTargets,
  replaceLinearWithLora,
  validateLora,
  type LoraScaling,
  type LoraSettings,
} from "../model/lora";
import {
  checkBaseHash,
  headTensors,
  loadAdapterTensors,
  readAdapter,
  writeAdapter,
  type AdapterKind,
} from "./savedAdapter";

/** LoRA fine-tuning options (FinetuneOptions.lora, the CLI's --trainable lora). */
export interface LoraOptions {
  /** Default 16 (appendix E). */
  rank?: number;
  /** Default 16 (appendix E). */
  alpha?: number;
  /** Default "alpha-over-rank" (appendix E today); "alpha" is the printed book's and the bonus experiments'. */
  scaling?: LoraScaling;
  /**
   * "frozen" (default, appendix E: the head is swapped in before the freeze and stays at its random start)
   * or "trainable" (the bonus experiments' row 11: the head is created after the freeze, trains, and is wrapped too).
   */
  head?: "frozen" | "trainable";
  /** AdamW's learning rate; default 8e-4 with alpha-over-rank (appendix E), 5e-5 with alpha (the printed book). */
  lr?: number;
}

/** The options with appendix E's defaults filled in. */
export function resolveLoraOptions(o: LoraOptions = {}): Required<LoraOptions> {
  const s = validateLora({ rank: o.rank ?? 16, alpha: o.alpha ?? 16, scaling: o.scaling ?? "alpha-over-rank" });
  const head = o.head ?? "frozen";
  if (head !== "frozen" && head !== "trainable")
    throw new ConfigError(`The LoRA head must be "frozen" or "trainable", got "${String(head)}"`);
  const lr = o.lr ?? (s.scaling === "alpha" ? 5e-5 : 8e-4);
  if (!(lr > 0 && Number.isFinite(lr))) throw new ConfigError(`The learning rate must be a positive number, got ${lr}`);
  return { ...s, head, lr };
}

/** Parameter counts as appendix E prints them. */
export interface LoraCounts {
  /** `Total trainable parameters before`: the whole classifier (124,441,346 on 124M). */
  before: number;
  /** `Total trainable parameters after` the freeze: 0 (appendix E) or the head's 1,538 (row 11). */
  after: number;
  /** `Total trainable LoRA parameters` (2,666,528 for r16 on 124M; trainable head included with row 11). */
  lora: number;
  total: number;
}

/**
 * Appendix E's set-up of a pretrained GPT-2: a new Linear(embDim → numClasses) head (seed 123), every
 * parameter frozen, then every Linear wrapped with LoRA (A seeded, B zeros). With `head: "trainable"`
 * the head is made trainable after the freeze (the bonus experiments' order). Logs the counts as the
 * notebook prints them.
 */
export function prepareLoraClassifier(
  model: GPTModel,
  o: LoraOptions & { numClasses?: number; seed?: number; log?: (line: string) => void } = {},
): LoraCounts {
  const s = resolveLoraOptions(o);
  const fmt = (n: number) => n.toLocaleString("en-US");
  model.replaceOutHead(o.numClasses ?? 2, { bias: true, seed: o.seed ?? 123 });
  for (const v of model.params.values()) v.trainable = true; // the book's model before the freeze
  const before = model.numParams({ trainableOnly: true });
  o.log?.(`Total trainable parameters before: ${fmt(before)}`);
  model.freezeAll();
  if (s.head === "trainable") model.setTrainable(["out_head"]);
  const after = model.numParams({ trainableOnly: true });
  o.log?.(`Total trainable parameters after: ${fmt(after)}`);
  replaceLinearWithLora(model, s.rank, s.alpha, { scaling: s.scaling, seed: o.seed ?? 123 });
  const lora = model.numParams({ trainableOnly: true });
  o.log?.(`Total trainable LoRA parameters: ${fmt(lora)}`);
  return { before, after, lora, total: model.numParams() };
}

// ---- adapters on their own

export const LORA_ADAPTER_FORMAT = "llm-spam-classifier/lora-adapter/1";
const ADAPTER: AdapterKind = {
  what: "LoRA adapter",
  file: "adapter.safetensors",
  configFile: "adapter.json",
  metadataKey: "lora_config",
  format: LORA_ADAPTER_FORMAT,
};

/** adapter.json. */
export interface LoraAdapterConfig extends LoraSettings {
  format: string;
  /** The wrapped Linear layers (book state_dict prefixes). */
  targets: string[];
  /** Whether the head trained (its weight and bias are then saved with the adapter). */
  head: "frozen" | "trainable";
  numClasses: number;
  /** sha256 of the base weights the adapter was trained on (every non-LoRA parameter, minus a trained head). */
  baseSha256: string;
  /** The length the classifier was trained with (classify's default), when known. */
  maxLength?: number;
}

/** The base parameters an adapter depends on: every non-LoRA parameter, minus the head when it trained. */
function baseNames(model: Pick<GPTModel, "params">, head: "frozen" | "trainable"): string[] {
  return [...model.params.keys()]
    .filter((n) => !isLoraParam(n) && !(head === "trainable" && n.startsWith("out_head.")))
    .sort();
}

/** sha256 (hex) of the base weights an adapter applies to (see LoraAdapterConfig.baseSha256). */
export function loraBaseHash(model: Pick<GPTModel, "params">, head: "frozen" | "trainable" = "frozen"): string {
  return hashParams(model.params, baseNames(model, head));
}

/**
 * Saves the model's LoRA adapters (A, B; the head too when it trained) into `dir` as adapter.safetensors
 * (PyTorch's layout: A [in, r] and B [r, out] are LoRALayer's own; the head [out, in]) and adapter.json,
 * each atomically. @returns the config written. @throws ConfigError when the model has no LoRA
 */
export function saveLoraAdapter(
  dir: string,
  model: GPTModel,
  opts: { head?: "frozen" | "trainable"; baseSha256?: string; maxLength?: number } = {},
): LoraAdapterConfig {
  const lora = model.cfg.lora;
  if (!lora) throw new ConfigError("The model has no LoRA adapters to save");
  const head = opts.head ?? "frozen";
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const n of loraParamNames(model)) {
    const v = model.param(n);
    tensors.set(n, { data: v.dataSync() as Float32Array, shape: v.shape });
  }
  if (head === "trainable") for (const [n, t] of headTensors(model)) tensors.set(n, t);
  const config: LoraAdapterConfig = {
    format: LORA_ADAPTER_FORMAT,
    ...lora,
    targets: loraTargets(model.cfg, model.outDim)
      .map(([t]) => t)
      .filter((t) => model.params.has(`${t}.lora.A`)),
    head,
    numClasses: model.outDim,
    baseSha256: opts.baseSha256 ?? loraBaseHash(model, head),
    ...(opts.maxLength ? { maxLength: opts.maxLength } : {}),
  };
  writeAdapter(dir, ADAPTER, tensors, config);
  return config;
}

/** saveLoraAdapter on every backend: reads the parameters to the host first (WebGPU in Node has no synchronous read). */
export async function saveLoraAdapterAsync(
  dir: string,
  model: GPTModel,
  opts: Parameters<typeof saveLoraAdapter>[2] = {},
): Promise<LoraAdapterConfig> {
  await readableOnHost(model.params.values()); // the base weights too: their hash goes into adapter.json
  return saveLoraAdapter(dir, model, opts);
}

/** True when `dir` holds a saved LoRA adapter. */
export function isLoraAdapterDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, ADAPTER.file));
}

/**
 * Applies a saved adapter to a base model with the same head (the classifier before LoRA): checks the
 * base weights' hash, wraps the Linear layers and loads A and B (and a trained head). The model is left
 * frozen; `mergeLora` then folds the adapters in.
 * @throws DataFormatError for a missing or malformed adapter; ConfigError when the base weights differ
 */
export function loadLoraAdapter(dir: string, model: GPTModel): LoraAdapterConfig {
  const { st, file, config } = readAdapter<LoraAdapterConfig>(dir, ADAPTER);
  const settings = validateLora(config);
  if (model.outDim !== config.numClasses)
    throw new ConfigError(
      `The adapter is for a ${config.numClasses}-class head; this model has ${model.outDim} outputs`,
    );
  checkBaseHash(dir, ADAPTER, config.baseSha256, loraBaseHash(model, config.head));
  replaceLinearWithLora(model, settings.rank, settings.alpha, { scaling: settings.scaling });
  const names = [
    ...loraParamNames(model),
    ...(config.head === "trainable" ? ["out_head.weight", "out_head.bias"] : []),
  ];
  loadAdapterTensors(model, st, file, names);
  return config;
}
