/**
 * GPT-2 configurations (book section 6.4, cell 43). Field comments give the book's keys.
 */
import { ConfigError } from "../errors";
import { validateLora, type LoraSettings } from "./loraSettings";

export interface GPTConfig {
  readonly vocabSize: number; // vocab_size
  readonly contextLength: number; // context_length
  readonly embDim: number; // emb_dim
  readonly nHeads: number; // n_heads
  readonly nLayers: number; // n_layers
  readonly dropRate: number; // drop_rate
  readonly qkvBias: boolean; // qkv_bias
  /** LoRA adapters on every Linear layer (appendix E; see lora.ts), when the model has them. */
  readonly lora?: LoraSettings;
}

/** What every GPT-2 size shares: GPT-2's vocabulary, 1024 positions, no dropout, biases on q/k/v. */
export const BASE_CONFIG = { vocabSize: 50257, contextLength: 1024, dropRate: 0.0, qkvBias: true } as const;

export const MODEL_CONFIGS = {
  "gpt2-small (124M)": { embDim: 768, nLayers: 12, nHeads: 12 },
  "gpt2-medium (355M)": { embDim: 1024, nLayers: 24, nHeads: 16 },
  "gpt2-large (774M)": { embDim: 1280, nLayers: 36, nHeads: 20 },
  "gpt2-xl (1558M)": { embDim: 1600, nLayers: 48, nHeads: 25 },
} as const;
export type ModelName = keyof typeof MODEL_CONFIGS;

/** OpenAI's size folder names (`124M`, …) for each model name. */
export const MODEL_SIZES: Readonly<Record<ModelName, string>> = {
  "gpt2-small (124M)": "124M",
  "gpt2-medium (355M)": "355M",
  "gpt2-large (774M)": "774M",
  "gpt2-xl (1558M)": "1558M",
};

/** Resolves "gpt2-small (124M)", "124M", "gpt2-small" or "small" to a model name. */
export function resolveModelName(nameOrSize: string): ModelName {
  const key = nameOrSize.trim().toLowerCase();
  for (const name of Object.keys(MODEL_CONFIGS) as ModelName[]) {
    const size = MODEL_SIZES[name].toLowerCase();
    const short = name.split(" ")[0]; // gpt2-small
    if (key === name.toLowerCase() || key === size || key === short || key === short.slice(5)) return name;
  }
  throw new ConfigError(
    `Unknown GPT-2 model "${nameOrSize}"; use one of ${Object.values(MODEL_SIZES).join(", ")} (or ${Object.keys(MODEL_CONFIGS).join(", ")})`,
  );
}

/** The full config of a GPT-2 size: BASE_CONFIG updated with its dimensions (the book's `BASE_CONFIG.update(...)`). */
export function modelConfig(nameOrSize: string): GPTConfig {
  return { ...BASE_CONFIG, ...MODEL_CONFIGS[resolveModelName(nameOrSize)] };
}

/** The config written in OpenAI's `hparams.json` (`n_vocab`, `n_ctx`, `n_embd`, `n_head`, `n_layer`). */
export function configFromHparams(h: Record<string, unknown>): GPTConfig {
  const num = (k: string) => {
    const v = h[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0)
      throw new ConfigError(`hparams.json: "${k}" must be a positive integer, found ${JSON.stringify(v)}`);
    return v;
  };
  return {
    vocabSize: num("n_vocab"),
    contextLength: num("n_ctx"),
    embDim: num("n_embd"),
    nHeads: num("n_head"),
    nLayers: num("n_layer"),
    dropRate: 0,
    qkvBias: true,
  };
}

/** Checks a config's numbers (positive sizes, heads dividing the embedding). */
export function validateConfig(cfg: GPTConfig): GPTConfig {
  for (const k of ["vocabSize", "contextLength", "embDim", "nHeads", "nLayers"] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0)
      throw new ConfigError(`GPTConfig.${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.embDim % cfg.nHeads !== 0)
    throw new ConfigError(`embDim (${cfg.embDim}) must be divisible by nHeads (${cfg.nHeads})`);
  if (!(cfg.dropRate >= 0 && cfg.dropRate < 1))
    throw new ConfigError(`dropRate must be in [0, 1), got ${cfg.dropRate}`);
  if (cfg.lora) validateLora(cfg.lora);
  return cfg;
}
