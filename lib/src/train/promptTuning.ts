/**
 * Prompt tuning on the spam classifier (the fine-tuning chapter's method, on GPT-2): the head swap, the
 * freeze (backbone and head, as that chapter does; optionally the head trains, as PEFT does), a soft prompt
 * of `n` virtual tokens, the trainable count printed; and the prompt saved and loaded on its own
 * (soft-prompt.safetensors + soft-prompt.json), checked against the base weights' hash.
 */
import { ConfigError } from "../errors";
import { hashParams } from "../engine/cached/prefixCache";
import { readableOnHost } from "../webgpuAdapter";
import type { GPTModel } from "../model/gptModel";
import { addSoftPrompt, PROMPT_PARAM, softPromptLength } from "../model/promptTuning";
import { getTokenizer, textToTokenIds, type Tokenizer } from "../tokenizer";
import {
  checkBaseHash,
  headTensors,
  loadAdapterTensors,
  readAdapter,
  writeAdapter,
  type AdapterKind,
} from "./savedAdapter";

/** Prompt-tuning options (FinetuneOptions.promptTuning, the CLI's --trainable prompt-tuning). */
export interface PromptTuningOptions {
  /** Virtual tokens (default 20, the chapter's). */
  numTokens?: number;
  /** "random" (default: the embeddings of random vocabulary ids, seeded) or a text whose tokens' embeddings start the prompt. */
  init?: string;
  /** "frozen" (default, the chapter: the new head stays at its random start) or "trainable" (as PEFT does for classification). */
  head?: "frozen" | "trainable";
  /** AdamW's learning rate (default 1e-2, the chapter's). */
  lr?: number;
}

/** The options with the defaults filled in. @throws ConfigError for a bad value */
export function resolvePromptTuningOptions(o: PromptTuningOptions = {}): Required<PromptTuningOptions> {
  const numTokens = o.numTokens ?? 20;
  if (!(Number.isInteger(numTokens) && numTokens > 0))
    throw new ConfigError(`The number of virtual tokens must be a positive integer, got ${numTokens}`);
  const head = o.head ?? "frozen";
  if (head !== "frozen" && head !== "trainable")
    throw new ConfigError(`The prompt-tuning head must be "frozen" or "trainable", got "${String(head)}"`);
  const init = o.init ?? "random";
  if (init.trim() === "") throw new ConfigError('The prompt init must be "random" or a non-empty text');
  const lr = o.lr ?? 1e-2;
  if (!(lr > 0 && Number.isFinite(lr))) throw new ConfigError(`The learning rate must be a positive number, got ${lr}`);
  return { numTokens, init, head, lr };
}

/**
 * The ids of PEFT's TEXT init: the text's tokens, cut to `numTokens`, or repeated until they fill it.
 * @throws ConfigError for a text without tokens
 */
export function promptInitIds(text: string, numTokens: number, tokenizer: Tokenizer = getTokenizer()): number[] {
  const ids = textToTokenIds(text, tokenizer, []);
  if (!ids.length) throw new ConfigError("The prompt init text has no tokens");
  return Array.from({ length: numTokens }, (_, i) => ids[i % ids.length]);
}

/**
 * Sets up a pretrained GPT-2 for prompt tuning: a new Linear(embDim → numClasses) head (seed 123), every
 * parameter frozen (the head trainable with `head: "trainable"`), then the soft prompt. Logs the count
 * (`Trainable parameters: 15,360` for 20 tokens on 124M). @returns the trainable count
 */
export function preparePromptTuningClassifier(
  model: GPTModel,
  o: PromptTuningOptions & { numClasses?: number; seed?: number; log?: (line: string) => void } = {},
): number {
  const s = resolvePromptTuningOptions(o);
  model.replaceOutHead(o.numClasses ?? 2, { bias: true, seed: o.seed ?? 123 });
  model.freezeAll();
  if (s.head === "trainable") model.setTrainable(["out_head"]);
  const initIds = s.init === "random" ? undefined : promptInitIds(s.init, s.numTokens);
  addSoftPrompt(model, { numTokens: s.numTokens, initIds, seed: o.seed ?? 123 });
  const trainable = model.numParams({ trainableOnly: true });
  o.log?.(
    `Soft prompt: ${s.numTokens} virtual tokens (init ${s.init === "random" ? "random vocabulary ids" : JSON.stringify(s.init)}), head ${s.head}`,
  );
  o.log?.(
    `Total parameters: ${model.numParams().toLocaleString("en-US")}; trainable: ${trainable.toLocaleString("en-US")}`,
  );
  return trainable;
}

// ---- the prompt on its own

export const SOFT_PROMPT_FORMAT = "llm-spam-classifier/soft-prompt/1";
const PROMPT: AdapterKind = {
  what: "soft prompt",
  file: "soft-prompt.safetensors",
  configFile: "soft-prompt.json",
  metadataKey: "prompt_config",
  format: SOFT_PROMPT_FORMAT,
};

/** soft-prompt.json. */
export interface SoftPromptConfig {
  format: string;
  numTokens: number;
  embDim: number;
  /** "random" or the init text. */
  init: string;
  head: "frozen" | "trainable";
  numClasses: number;
  /** sha256 of the base weights (every parameter but the prompt, minus a trained head). */
  baseSha256: string;
  /** The length the classifier was trained with (classify's default), when known. */
  maxLength?: number;
}

function promptBaseHash(model: Pick<GPTModel, "params">, head: "frozen" | "trainable"): string {
  const names = [...model.params.keys()]
    .filter((n) => n !== PROMPT_PARAM && !(head === "trainable" && n.startsWith("out_head.")))
    .sort();
  return hashParams(model.params, names);
}

/**
 * Saves the model's soft prompt into `dir`: soft-prompt.safetensors (`prompt_embeddings` [n, E]: 61,440
 * bytes of data for 20 × 768; the head too when it trained, PyTorch's [out, in]) and soft-prompt.json,
 * each atomically. @throws ConfigError when the model has no prompt
 */
export function saveSoftPrompt(
  dir: string,
  model: GPTModel,
  opts: { init?: string; head?: "frozen" | "trainable"; maxLength?: number } = {},
): SoftPromptConfig {
  const prompt = model.params.get(PROMPT_PARAM);
  if (!prompt) throw new ConfigError("The model has no soft prompt to save");
  const head = opts.head ?? "frozen";
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>([
    [PROMPT_PARAM, { data: prompt.dataSync() as Float32Array, shape: prompt.shape }],
  ]);
  if (head === "trainable") for (const [n, t] of headTensors(model)) tensors.set(n, t);

  const config: SoftPromptConfig = {
    format: SOFT_PROMPT_FORMAT,
    numTokens: softPromptLength(model),
    embDim: model.cfg.embDim,
    init: opts.init ?? "random",
    head,
    numClasses: model.outDim,
    baseSha256: promptBaseHash(model, head),
    ...(opts.maxLength ? { maxLength: opts.maxLength } : {}),
  };
  writeAdapter(dir, PROMPT, tensors, config);
  return config;
}

/** saveSoftPrompt on every backend: reads the parameters to the host first (WebGPU in Node has no synchronous read). */
export async function saveSoftPromptAsync(
  dir: string,
  model: GPTModel,
  opts: Parameters<typeof saveSoftPrompt>[2] = {},
): Promise<SoftPromptConfig> {
  await readableOnHost(model.params.values()); // the base weights too: their hash goes into soft-prompt.json
  return saveSoftPrompt(dir, model, opts);
}

/**
 * Puts a saved soft prompt in front of a base model with the same head (the classifier before prompt
 * tuning), after checking the base weights' hash. The model is left frozen.
 * @throws DataFormatError for a missing or malformed prompt; ConfigError when the base weights differ
 */
export function loadSoftPrompt(dir: string, model: GPTModel): SoftPromptConfig {
  const { st, file, config } = readAdapter<SoftPromptConfig>(dir, PROMPT);
  if (softPromptLength(model)) throw new ConfigError("The model already has a soft prompt");
  if (config.embDim !== model.cfg.embDim || config.numClasses !== model.outDim)
    throw new ConfigError(
      `The soft prompt is for width ${config.embDim} and ${config.numClasses} classes; this model has ${model.cfg.embDim} and ${model.outDim}`,
    );
  checkBaseHash(dir, PROMPT, config.baseSha256, promptBaseHash(model, config.head));
  addSoftPrompt(model, { initIds: new Array<number>(config.numTokens).fill(0) });
  loadAdapterTensors(model, st, file, [
    PROMPT_PARAM,
    ...(config.head === "trainable" ? ["out_head.weight", "out_head.bias"] : []),
  ]);
  return config;
}
