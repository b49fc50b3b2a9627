/**
 * The `finetune` options of appendix E's LoRA (`--trainable lora`): rank, alpha, the scaling convention,
 * whether the head trains, and the learning rate (appendix E's 8e-4 by default).
 */
import { ConfigError } from "../errors";
import { LORA_SCALINGS, type LoraScaling } from "../model/loraSettings";
import type { LoraOptions } from "../train/lora";
import { optionalIntOption, type ParsedValues } from "./command";

export const LORA_OPTIONS = {
  "lora-rank": { type: "string" },
  "lora-alpha": { type: "string" },
  "lora-scaling": { type: "string" },
  "lora-head": { type: "string" },
  "lora-lr": { type: "string" },
} as const;

export const LORA_HELP = `LoRA (the book's appendix E; with --trainable lora):
  --lora-rank R              rank of every adapter (default 16)
  --lora-alpha A             alpha (default 16)
  --lora-scaling alpha-over-rank|alpha
                             how x·A·B is scaled: (alpha / rank), appendix E today (default), or alpha, the
                             printed book's and the bonus experiments' (their lr: --lora-lr 5e-5, the default
                             with alpha)
  --lora-head frozen|trainable
                             frozen (default, appendix E: the new head stays at its random start) or trainable
                             (the bonus experiments' row 11: the head trains too, and is wrapped)
  --lora-lr LR               AdamW's learning rate (default 8e-4 with alpha-over-rank, 5e-5 with alpha;
                             weight decay 0.1, 5 epochs, eval every 50 steps over 5 batches, as appendix E)
  The merged classifier is saved as usual (classify runs it); the adapter alone in <out>/lora-adapter.`;

function str(values: ParsedValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/**
 * The LoRA options from parsed values, or undefined when `--trainable` is not "lora".
 * @throws ConfigError for a bad value, or a --lora-* option without --trainable lora
 */
export function loraFromOptions(values: ParsedValues, trainable: string | undefined): LoraOptions | undefined {
  const given = Object.keys(LORA_OPTIONS).filter((k) => values[k] !== undefined);
  if (trainable !== "lora") {
    if (given.length) throw new ConfigError(`--${given[0]} needs --trainable lora`);
    return undefined;
  }
  const rank = optionalIntOption(values, "lora-rank", 1, 4096);
  const num = (name: string) => {
    const v = str(values, name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n <= 0)
      throw new ConfigError(`--${name} must be a positive number, got "${v}"`);
    return n;
  };
  const scaling = str(values, "lora-scaling");
  if (scaling !== undefined && !(LORA_SCALINGS as readonly string[]).includes(scaling))
    throw new ConfigError(`--lora-scaling must be ${LORA_SCALINGS.join(" or ")}, got "${scaling}"`);
  const head = str(values, "lora-head");
  if (head !== undefined && head !== "frozen" && head !== "trainable")
    throw new ConfigError(`--lora-head must be frozen or trainable, got "${head}"`);
  return {
    rank,
    alpha: num("lora-alpha"),
    scaling: scaling as LoraScaling | undefined,
    head,
    lr: num("lora-lr"),
  };
}
