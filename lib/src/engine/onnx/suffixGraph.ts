/**
 * ONNX graph of the classifier's trainable suffix: blocks `fromBlock`..L-1 + final norm + head, read out
 * as the classifier reads (last token by default, the book's), from the frozen prefix's hidden states,
 * with the parameters as graph INPUTS (they change every step). The book's configuration is the last block
 * (fromBlock L-1) at the last position; head-only training starts after every block (fromBlock L), two
 * trainable blocks at L-2. With `backward`, the graph also computes the cross-entropy loss and the gradient
 * of every suffix parameter: the gradient tape over the model definition (checked against tfjs autodiff of
 * the whole block in test/engine/onnx/suffixGraph.test.ts, and against the native trainer in fastPath.test.ts).
 */
import { ConfigError } from "../../errors";
import { DiffOps } from "../../model/autodiff";
import { gptForward, readoutOf, type ReadoutKind } from "../../model/gpt";
import { crossEntropy } from "../../model/layers";
import { OnnxGraphBuilder, ONNX_OPSET } from "./onnxGraph";
import { OnnxOps } from "./onnxOps";
import { OnnxDataType } from "./onnxProto";
import type { GptLike } from "./onnxGpt";

/** Where the suffix starts and how the classifier reads it (default: the book's last block, last token, causal). */
export interface SuffixSpec {
  /** First block of the suffix: 0..nLayers (nLayers: only the final norm and the head). Default nLayers - 1. */
  readonly fromBlock?: number;
  /** Default "last". "flexible" and "mean" take their per-batch weights as input "readout" [B, T]. */
  readonly readout?: ReadoutKind;
  /** Default true. */
  readonly causal?: boolean;
}

/** The spec with its defaults filled in and checked. @throws ConfigError for a block outside the model */
export function resolveSuffixSpec(model: GptLike, spec: SuffixSpec = {}): Required<SuffixSpec> {
  const L = model.cfg.nLayers;
  const fromBlock = spec.fromBlock ?? L - 1;
  if (!Number.isInteger(fromBlock) || fromBlock < 0 || fromBlock > L)
    throw new ConfigError(`The suffix must start at a block from 0 to ${L}, got ${fromBlock}`);
  return { fromBlock, readout: spec.readout ?? "last", causal: spec.causal ?? true };
}

/** Whether the suffix graph takes the "readout" weights input. */
export const suffixTakesReadout = (spec: SuffixSpec): boolean => spec.readout === "flexible" || spec.readout === "mean";

const BLOCK_PARAMS = [
  "norm1.scale",
  "norm1.shift",
  "att.W_query.weight",
  "att.W_query.bias",
  "att.W_key.weight",
  "att.W_key.bias",
  "att.W_value.weight",
  "att.W_value.bias",
  "att.out_proj.weight",
  "att.out_proj.bias",
  "norm2.scale",
  "norm2.shift",
  "ff.layers.0.weight",
  "ff.layers.0.bias",
  "ff.layers.2.weight",
  "ff.layers.2.bias",
];

/** Names of the suffix parameters, in a fixed order (blocks fromBlock..L-1, final_norm, out_head). */
export function suffixParamNames(model: GptLike, fromBlock = model.cfg.nLayers - 1): string[] {
  const names: string[] = [];
  for (let i = fromBlock; i < model.cfg.nLayers; i++) names.push(...BLOCK_PARAMS.map((n) => `trf_blocks.${i}.${n}`));
  names.push("final_norm.scale", "final_norm.shift", "out_head.weight", "out_head.bias");
  return names.filter((n) => model.params.has(n));
}

/** Options for `buildSuffixOnnx`. */
export interface SuffixGraphOptions extends SuffixSpec {
  /**
   * Also compute the loss (inputs "targets": one-hot float [B, C], "row_weights": float [B], each row's
   * weight in the mean, 1/B for the book's mean) and the gradients ("grad:<param name>").
   */
  backward?: boolean;
  /**
   * Numeric batch and sequence sizes instead of symbolic ones: needed for the backward pass of a suffix of more
   * than one block (the gradient of a row slice pads back to the full, known length).
   */
  batchShape?: readonly [number, number];
}

/**
 * Builds the suffix graph: the model definition (lib/src/model/gpt.ts) from `fromBlock` on with the chosen
 * readout (for one-row readouts the last block computes only that row: `singleQueryBlock`), run with
 * `OnnxOps`; with `backward`, under the gradient tape (`DiffOps`: the backward pass is the autodiff of that
 * definition). Inputs: "hidden" [B, T, E] (prefix output), "readout" [B, T] for flexible/mean readouts and
 * every suffix parameter by its model name; outputs "logits" [B, C] and, with `backward`, "loss" (scalar)
 * and "grad:<name>" per parameter.
 * @throws ConfigError when the model lacks a required parameter
 */
export function buildSuffixOnnx(model: GptLike, opts: SuffixGraphOptions = {}): Uint8Array {
  const cfg = model.cfg,
    L = cfg.nLayers;
  const spec = resolveSuffixSpec(model, opts);
  const names = suffixParamNames(model, spec.fromBlock);
  const required = ["final_norm.scale", "out_head.weight"];
  for (let i = spec.fromBlock; i < L; i++)
    required.push(...["W_query", "W_key", "W_value"].map((w) => `trf_blocks.${i}.att.${w}.weight`));
  for (const req of required) if (!names.includes(req)) throw new ConfigError(`Model has no parameter "${req}"`);
  const C = model.params.get("out_head.weight")!.shape[1] as number;
  const g = new OnnxGraphBuilder(opts.backward ? "suffix_train" : "suffix_forward");
  const base = new OnnxOps(g, { layerNorm: true, gelu: true });
  const input = (n: string) => base.input(n, OnnxDataType.FLOAT, model.params.get(n)!.shape);
  const [B, T] = opts.batchShape ?? ["batch", "seq"];
  const hidden = base.input("hidden", OnnxDataType.FLOAT, [B, T, cfg.embDim]);
  const readoutInput = () => base.input("readout", OnnxDataType.FLOAT, [B, T]);
  const forward = (causal: boolean) => ({ fromBlock: spec.fromBlock, embed: false, head: true, causal }) as const;
  if (!opts.backward) {
    const params = new Map(names.map((n) => [n, input(n)]));
    const readout = readoutOf(spec.readout, readoutInput);
    base.output(
      gptForward(base, (n) => params.get(n), cfg, hidden, { ...forward(spec.causal), readout }),
      "logits",
    );
  } else {
    const d = new DiffOps(base);
    const params = new Map(names.map((n) => [n, d.variable(input(n))]));
    const readout = readoutOf(spec.readout, () => d.lift(readoutInput()));
    const logits = gptForward(d, (n) => params.get(n), cfg, d.lift(hidden), { ...forward(spec.causal), readout });
    const targets = d.lift(base.input("targets", OnnxDataType.FLOAT, [B, C]));
    const rowWeights = d.lift(base.input("row_weights", OnnxDataType.FLOAT, [B]));
    const loss = crossEntropy(d, logits, targets, rowWeights);
    const grads = d.grad(loss, [...params.values()]);
    base.output(logits.value, "logits");
    base.output(loss.value, "loss");
    names.forEach((n, i) => base.output(grads[i], `grad:${n}`));
  }
  const what = spec.fromBlock < L ? `blocks ${spec.fromBlock}..${L - 1} + final norm + head` : "final norm + head";
  return g.build({
    docString: `GPT suffix (${what}, ${spec.readout} readout)${opts.backward ? " with backward" : ""}`,
    opset: ONNX_OPSET,
  });
}
