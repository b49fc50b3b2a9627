/**
 * The `finetune` options of parameter-efficient fine-tuning: appendix E's LoRA (`--trainable lora`: rank,
 * alpha, the scaling convention, whether the head trains, the learning rate, appendix E's 8e-4 by default)
 * and prompt tuning (`--trainable prompt-tuning`: virtual tokens, their init, the head, the learning rate).
 */
import { ConfigError } from "../errors";
import { LORA_SCALINGS, type LoraScaling } from "../model/loraSettings";
import type { LoraOptions } from "../train/lora";
import type { PromptTuningOptions } from "../train/promptTuning";
import { optionalIntOption, type ParsedValues } from "./command";

export const LORA_OPTIONS = {
  method: { type: "string" },
  rank: { type: "string" },
  alpha: { type: "string" },
  "lora-rank": { type: "string" },
  "lora-alpha": { type: "string" },
  "lora-scaling": { type: "string" },
  "lora-head": { type: "string" },
  "lora-lr": { type: "string" },
  "virtual-tokens": { type: "string" },
  "prompt-init": { type: "string" },
  "prompt-head": { type: "string" },
  "prompt-lr": { type: "string" },
} as const;

const LORA_KEYS = ["lora-rank", "lora-alpha", "lora-scaling", "lora-head", "lora-lr"],
  PROMPT_KEYS = ["virtual-tokens", "prompt-init", "prompt-head", "prompt-lr"];

export const LORA_HELP = `LoRA (the book's appendix E; with --trainable lora, or --method lora):
  --lora-rank R              rank of every adapter (default 16); --rank R is the same
  --lora-alpha A             alpha (default 16); --alpha A is the same
  --lora-scaling alpha-over-rank|alpha
                             how x·A·B is scaled: (alpha / rank), appendix E today (default), or alpha, the
                             printed book's and the bonus experiments' (their lr: --lora-lr 5e-5, the default
                             with alpha)
  --lora-head frozen|trainable
                             frozen (default, appendix E: the new head stays at its random start) or trainable
                             (the bonus experiments' row 11: the head trains too, and is wrapped)
  --lora-lr LR               AdamW's learning rate (default 8e-4 with alpha-over-rank, 5e-5 with alpha;
                             weight decay 0.1, 5 epochs, eval every 50 steps over 5 batches, as appendix E)
  The merged classifier is saved as usual (classify runs it); the adapter alone in <out>/lora-adapter.

Prompt tuning (with --trainable prompt-tuning, or --method prompt-tuning: a soft prompt before the text,
everything else frozen):
  --virtual-tokens N         virtual tokens (default 20: 15,360 trainable parameters on 124M)
  --prompt-init random|TEXT  start from the embeddings of random vocabulary ids (default, seeded) or of a
                             text's tokens (cut or repeated to N, as PEFT's TEXT init)
  --prompt-head frozen|trainable
                             frozen (default, as the fine-tuning chapter) or trainable (as PEFT)
  --prompt-lr LR             AdamW's learning rate (default 1e-2, the chapter's; weight decay 0.1)
  The classifier is saved with its prompt (classify runs it); the prompt alone in <out>/soft-prompt.`;

/**
 * The short spellings folded into the long ones: `--method lora|prompt-tuning` is `--trainable-layers`, `--rank`
 * and `--alpha` are `--lora-rank` and `--lora-alpha`.
 * @throws ConfigError when both spellings are given with different values
 */
export function resolvePeftAliases(values: ParsedValues): ParsedValues {
  const out: ParsedValues = { ...values };
  for (const [alias, name] of [
    ["method", "trainable-layers"],
    ["rank", "lora-rank"],
    ["alpha", "lora-alpha"],
  ] as const) {
    const v = out[alias];
    if (v === undefined) continue;
    if (out[name] !== undefined && out[name] !== v)
      throw new ConfigError(`--${alias} ${String(v)} and --${name} ${String(out[name])} disagree; give one`);
    if (alias === "method" && v !== "lora" && v !== "prompt-tuning")
      throw new ConfigError(`--method must be lora or prompt-tuning, got "${String(v)}"`);
    out[name] = v;
    delete out[alias];
  }
  return out;
}

function str(values: ParsedValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/**
 * The LoRA options from parsed values, or undefined when `--trainable` is not "lora".
 * @throws ConfigError for a bad value, or a --lora-* option without --trainable lora
 */
function positiveNumber(values: ParsedValues, name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw new ConfigError(`--${name} must be a positive number, got "${v}"`);
  return n;
}

function headOption(values: ParsedValues, name: string): "frozen" | "trainable" | undefined {
  const head = str(values, name);
  if (head !== undefined && head !== "frozen" && head !== "trainable")
    throw new ConfigError(`--${name} must be frozen or trainable, got "${head}"`);
  return head;
}

/** Refuses a method's options without its --trainable choice. */
function onlyWith(
  values: ParsedValues,
  keys: readonly string[],
  trainable: string | undefined,
  method: string,
): boolean {
  const given = keys.filter((k) => values[k] !== undefined);
  if (trainable === method) return true;
  if (given.length) throw new ConfigError(`--${given[0]} needs --trainable ${method}`);
  return false;
}

/**
 * The prompt-tuning options from parsed values, or undefined when `--trainable` is not "prompt-tuning".
 * @throws ConfigError for a bad value, or a prompt option without --trainable prompt-tuning
 */
export function promptTuningFromOptions(
  values: ParsedValues,
  trainable: string | undefined,
): PromptTuningOptions | undefined {
  if (!onlyWith(values, PROMPT_KEYS, trainable, "prompt-tuning")) return undefined;
  const init = str(values, "prompt-init");
  if (init !== undefined && init.trim() === "") throw new ConfigError('--prompt-init must be "random" or a text');
  return {
    numTokens: optionalIntOption(values, "virtual-tokens", 1, 1000),
    init,
    head: headOption(values, "prompt-head"),
    lr: positiveNumber(values, "prompt-lr"),
  };
}

export function loraFromOptions(values: ParsedValues, trainable: string | undefined): LoraOptions | undefined {
  if (!onlyWith(values, LORA_KEYS, trainable, "lora")) return undefined;
  const rank = optionalIntOption(values, "lora-rank", 1, 4096);
  const num = (name: string) => positiveNumber(values, name);
  const scaling = str(values, "lora-scaling");
  if (scaling !== undefined && !(LORA_SCALINGS as readonly string[]).includes(scaling))
    throw new ConfigError(`--lora-scaling must be ${LORA_SCALINGS.join(" or ")}, got "${scaling}"`);
  const head = headOption(values, "lora-head");
  return {
    rank,
    alpha: num("lora-alpha"),
    scaling: scaling as LoraScaling | undefined,
    head,
    lr: num("lora-lr"),
  };
}
