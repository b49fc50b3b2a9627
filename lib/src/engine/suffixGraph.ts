/**
 * ONNX graph of the classifier's trainable suffix (last block + final norm + head) at the LAST position
 * (or another readout: first, flexible with input "readout", mean; with or without the causal mask),
 * from the frozen prefix's hidden states, with the parameters as graph INPUTS (they change every step).
 * With `backward`, the graph also computes the cross-entropy loss and the gradient of every suffix
 * parameter: the gradient tape over the model definition (checked against tfjs autodiff of the whole block
 * in test/engine/suffixGraph.test.ts).
 */
import { ConfigError } from "../errors";
import { DiffOps } from "../model/autodiff";
import { gptForward, readoutOf, type ReadoutKind } from "../model/gpt";
import { crossEntropy } from "../model/layers";
import { OnnxGraphBuilder, ONNX_OPSET } from "./onnxGraph";
import { OnnxOps } from "./onnxOps";
import { OnnxDataType } from "./onnxProto";
import type { GptLike } from "./onnxGpt";

/** Names and shapes of the suffix parameters, in a fixed order (block L-1, final_norm, out_head). */
export function suffixParamNames(model: GptLike): string[] {
  const p = `trf_blocks.${model.cfg.nLayers - 1}`;
  const names = [
    `${p}.norm1.scale`,
    `${p}.norm1.shift`,
    `${p}.att.W_query.weight`,
    `${p}.att.W_query.bias`,
    `${p}.att.W_key.weight`,
    `${p}.att.W_key.bias`,
    `${p}.att.W_value.weight`,
    `${p}.att.W_value.bias`,
    `${p}.att.out_proj.weight`,
    `${p}.att.out_proj.bias`,
    `${p}.norm2.scale`,
    `${p}.norm2.shift`,
    `${p}.ff.layers.0.weight`,
    `${p}.ff.layers.0.bias`,
    `${p}.ff.layers.2.weight`,
    `${p}.ff.layers.2.bias`,
    "final_norm.scale",
    "final_norm.shift",
    "out_head.weight",
    "out_head.bias",
  ];
  return names.filter((n) => model.params.has(n));
}

/** Options for `buildSuffixOnnx`. */
export interface SuffixGraphOptions {
  /**
   * Also compute the loss (inputs "targets": one-hot float [B, C], "row_weights": float [B], each row's
   * weight in the mean, 1/B for the book's mean) and the gradients ("grad:<param name>").
   */
  backward?: boolean;
  /** What the classifier reads (default "last"); flexible and mean take input "readout" [B, T] (readoutWeights). */
  readout?: ReadoutKind;
  /** Causal attention mask in the last block (default true). */
  causal?: boolean;
}

/**
 * Builds the suffix graph: the model definition (lib/src/model/gpt.ts) from the last block on, read at the
 * last position (its `singleQueryBlock` never forms the keys and values of every position), run with
 * `OnnxOps`; with `backward`, under the gradient tape (`DiffOps`: the backward pass is the autodiff of that
 * definition). Inputs: "hidden" [B, T, E] (prefix output) and every suffix parameter by its model name;
 * outputs "logits" [B, C] and, with `backward`, "loss" (scalar) and "grad:<name>" per parameter.
 * @throws ConfigError when the model lacks a required parameter
 */
export function buildSuffixOnnx(model: GptLike, opts: SuffixGraphOptions = {}): Uint8Array {
  const cfg = model.cfg,
    L = cfg.nLayers;
  const names = suffixParamNames(model);
  const pre = `trf_blocks.${L - 1}`;
  for (const req of [
    `${pre}.att.W_query.weight`,
    `${pre}.att.W_key.weight`,
    `${pre}.att.W_value.weight`,
    "out_head.weight",
  ])
    if (!names.includes(req)) throw new ConfigError(`Model has no parameter "${req}"`);
  const C = model.params.get("out_head.weight")!.shape[1] as number;
  const g = new OnnxGraphBuilder(opts.backward ? "suffix_train" : "suffix_forward");
  const base = new OnnxOps(g, { layerNorm: true, gelu: true });
  const input = (n: string) => base.input(n, OnnxDataType.FLOAT, model.params.get(n)!.shape);
  const kind = opts.readout ?? "last",
    causal = opts.causal ?? true;
  const part = { fromBlock: L - 1, embed: false, head: true, causal } as const;
  const hidden = base.input("hidden", OnnxDataType.FLOAT, ["batch", "seq", cfg.embDim]);
  const readoutInput = () => base.input("readout", OnnxDataType.FLOAT, ["batch", "seq"]);
  if (!opts.backward) {
    const params = new Map(names.map((n) => [n, input(n)]));
    base.output(
      gptForward(base, (n) => params.get(n), cfg, hidden, { ...part, readout: readoutOf(kind, readoutInput) }),
      "logits",
    );
  } else {
    const d = new DiffOps(base);
    const params = new Map(names.map((n) => [n, d.variable(input(n))]));
    const readout = readoutOf(kind, () => d.lift(readoutInput()));
    const logits = gptForward(d, (n) => params.get(n), cfg, d.lift(hidden), { ...part, readout });
    const targets = d.lift(base.input("targets", OnnxDataType.FLOAT, ["batch", C]));
    const rowWeights = d.lift(base.input("row_weights", OnnxDataType.FLOAT, ["batch"]));
    const loss = crossEntropy(d, logits, targets, rowWeights);
    const grads = d.grad(loss, [...params.values()]);
    base.output(logits.value, "logits");
    base.output(loss.value, "loss");
    names.forEach((n, i) => base.output(grads[i], `grad:${n}`));
  }
  return g.build({
    docString: `GPT suffix (block ${L - 1} + final norm + head, ${kind} readout${causal ? "" : ", no causal mask"})${opts.backward ? " with backward" : ""}`,
    opset: ONNX_OPSET,
  });
}
