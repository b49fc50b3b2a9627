/**
 * LoRA, the book's appendix E: every Linear layer gets a low-rank update, `linear(x) + scale · (x @ A @ B)`
 * (`LinearWithLoRA` = the Linear plus a `LoRALayer`), and only A and B train.
 *
 * Here LoRA is a property of the model definition, not a wrapper class: the adapters are parameters named
 * after the Linear they belong to (`trf_blocks.0.att.W_query.lora.A`, as PyTorch's state_dict names
 * `LinearWithLoRA.lora.A`; the Linear's own weight keeps its name, PyTorch's `….linear.weight`), and the
 * model config carries the rank, alpha and scaling convention (`GPTConfig.lora`). The definition
 * (gpt.ts, layers.ts) adds the update wherever the config says so, so every engine (tfjs, ONNX Runtime
 * inference, the native trainer) runs LoRA with the same maths. A is `[in, r]` and B `[r, out]`, the same
 * layout as PyTorch's LoRALayer (no transpose when saving).
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import type { GPTConfig } from "./config";
import type { GPTModel } from "./gptModel";
import { tensorOf } from "./frozenParam";
import {
  loraParamShapes,
  loraScale,
  loraTargets,
  validateLora,
  type LoraScaling,
  type LoraSettings,
} from "./loraSettings";

export {
  LORA_SCALINGS,
  loraParamShapes,
  loraScale,
  loraTargets,
  validateLora,
  type LoraScaling,
  type LoraSettings,
} from "./loraSettings";

/**
 * The number of LoRA parameters without building a model: 124M with rank 16 gives 2,666,528 (appendix E's
 * `Total trainable LoRA parameters`), rank 8 gives 1,333,264.
 */
export function loraParamCount(cfg: Pick<GPTConfig, "embDim" | "nLayers">, rank: number, numClasses = 2): number {
  return loraParamShapes(cfg, rank, numClasses).reduce((a, [, s]) => a + s[0] * s[1], 0);
}

/** True for the name of a LoRA adapter parameter. */
export function isLoraParam(name: string): boolean {
  return name.endsWith(".lora.A") || name.endsWith(".lora.B");
}

/** Options of `replaceLinearWithLora`. */
export interface ReplaceWithLoraOptions {
  /** Default "alpha-over-rank" (appendix E today). */
  scaling?: LoraScaling;
  /** Seed of A's initialisation (default 123). */
  seed?: number;
}

/**
 * Wraps every Linear layer of the model with LoRA (book: `replace_linear_with_lora(model, rank, alpha)`):
 * adds A [in, r] and B [r, out] per Linear as trainable parameters and records the settings in the model's
 * config. A is initialised like PyTorch's `kaiming_uniform_(A, a=√5)`: uniform in ±1/√r (PyTorch takes
 * `A.size(1)` = r as the fan-in, and gain √(2/(1+a²)) · √(3/r) = 1/√r), drawn from tfjs's seeded
 * generator, so the values cannot equal torch's stream (the parity fixture passes A's values in); B is
 * zeros, so the model computes exactly what it did before.
 * @returns the number of LoRA parameters added. @throws ConfigError when the model already has LoRA
 */
export function replaceLinearWithLora(
  model: GPTModel,
  rank: number,
  alpha: number,
  opts: ReplaceWithLoraOptions = {},
): number {
  const settings = validateLora({ rank, alpha, scaling: opts.scaling ?? "alpha-over-rank" });
  if (model.cfg.lora) throw new ConfigError("The model already has LoRA adapters (merge them first: mergeLora)");
  let seed = opts.seed ?? 123,
    added = 0;
  const bound = 1 / Math.sqrt(rank);
  for (const [target, inDim, outDim] of loraTargets(model.cfg, model.outDim)) {
    if (!model.params.has(`${target}.weight`)) continue;
    tf.tidy(() => {
      const a = tf.randomUniform([inDim, rank], -bound, bound, "float32", seed++);
      model.params.set(`${target}.lora.A`, tf.keep(tf.variable(a, true)));
      model.params.set(`${target}.lora.B`, tf.keep(tf.variable(tf.zeros([rank, outDim]), true)));
    });
    added += rank * (inDim + outDim);
  }
  setLoraConfig(model, settings);
  return added;
}

/** Records (or removes) the LoRA settings on the model's config, which the definition reads. */
function setLoraConfig(model: GPTModel, lora: LoraSettings | undefined): void {
  // The config object is the model's own copy (GPTModel's constructor copies it); only LoRA changes it.
  const cfg = model.cfg as { lora?: LoraSettings };
  if (lora) cfg.lora = lora;
  else delete cfg.lora;
}

/** The names of the model's LoRA parameters (in model order). */
export function loraParamNames(model: Pick<GPTModel, "params">): string[] {
  return [...model.params.keys()].filter(isLoraParam);
}

/**
 * Folds the adapters into the weights for inference, `W ← W + scale · A @ B` (our [in, out] layout), and
 * removes them: the model is then a plain GPT with the same logits (up to float32 rounding), which every
 * path runs, ONNX Runtime inference included. No-op without LoRA.
 */
export function mergeLora(model: GPTModel): void {
  const lora = model.cfg.lora;
  if (!lora) return;
  const scale = loraScale(lora);
  for (const [target] of loraTargets(model.cfg, model.outDim)) {
    const a = model.params.get(`${target}.lora.A`),
      b = model.params.get(`${target}.lora.B`);
    if (!a || !b) continue;
    const name = `${target}.weight`;
    tf.tidy(() => model.setParam(name, tf.add(model.tensor(name), tf.mul(tf.matMul(tensorOf(a), tensorOf(b)), scale))));
    for (const n of [`${target}.lora.A`, `${target}.lora.B`]) {
      model.params.get(n)!.dispose();
      model.params.delete(n);
    }
  }
  setLoraConfig(model, undefined);
}
