/** LoRA's settings as the model config and the definition read them (lora.ts has the rest of LoRA). */
import { ConfigError } from "../errors";

/**
 * How the update is scaled: "alpha-over-rank" is appendix E today, `(alpha / rank) · xAB`; "alpha" is the
 * printed book's (and the bonus experiments') `alpha · xAB`.
 */
export const LORA_SCALINGS = ["alpha-over-rank", "alpha"] as const;
export type LoraScaling = (typeof LORA_SCALINGS)[number];

/** The LoRA settings a model's definition reads (`GPTConfig.lora`). */
export interface LoraSettings {
  readonly rank: number;
  readonly alpha: number;
  readonly scaling: LoraScaling;
}

/** The multiplier of `x @ A @ B`: alpha / rank, or alpha. */
export function loraScale(s: LoraSettings): number {
  return s.scaling === "alpha" ? s.alpha : s.alpha / s.rank;
}

/** Checks LoRA settings (rank a positive integer, alpha a finite number, a known scaling). @throws ConfigError */
export function validateLora(s: LoraSettings): LoraSettings {
  if (!(Number.isInteger(s.rank) && s.rank > 0))
    throw new ConfigError(`LoRA rank must be a positive integer, got ${s.rank}`);
  if (!Number.isFinite(s.alpha)) throw new ConfigError(`LoRA alpha must be a number, got ${s.alpha}`);
  if (!(LORA_SCALINGS as readonly string[]).includes(s.scaling))
    throw new ConfigError(`LoRA scaling must be one of ${LORA_SCALINGS.join(", ")}, got "${s.scaling}"`);
  return { rank: s.rank, alpha: s.alpha, scaling: s.scaling };
}

/**
 * The Linear layers appendix E's `replace_linear_with_lora` wraps, with their [in, out] sizes: W_query,
 * W_key, W_value, out_proj and both feed-forward layers in every block, then out_head.
 */
export function loraTargets(
  cfg: { readonly embDim: number; readonly nLayers: number },
  numClasses = 2,
): Array<[string, number, number]> {
  const E = cfg.embDim;
  const targets: Array<[string, number, number]> = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `trf_blocks.${i}`;
    for (const w of ["W_query", "W_key", "W_value", "out_proj"]) targets.push([`${p}.att.${w}`, E, E]);
    targets.push([`${p}.ff.layers.0`, E, 4 * E], [`${p}.ff.layers.2`, 4 * E, E]);
  }
  targets.push(["out_head", E, numClasses]);
  return targets;
}

/** The adapters' names and shapes (A [in, r], B [r, out] per target). */
export function loraParamShapes(
  cfg: { readonly embDim: number; readonly nLayers: number },
  rank: number,
  numClasses = 2,
): Array<[string, number[]]> {
  return loraTargets(cfg, numClasses).flatMap(([t, inDim, outDim]): Array<[string, number[]]> => [
    [`${t}.lora.A`, [inDim, rank]],
    [`${t}.lora.B`, [rank, outDim]],
  ]);
}
