/**
 * BERT's ONNX graphs: the model definition (lib/src/model/bert.ts) run with `OnnxOps`, forward only (fused
 * LayerNormalization, exact Gelu, one MatMul for Q/K/V), or under the gradient tape for a training step
 * (trainingGraph.ts's `buildClassifierTrainingGraph`). Inputs "input_ids" int32 [batch, seq] and
 * "attention_mask" float [batch, seq] (1 for tokens, 0 for [PAD]); output "logits" [batch, numLabels].
 */
import { ConfigError } from "../../errors";
import { bertForward, type BertConfig } from "../../model/bert";
import { OnnxGraphBuilder, ONNX_OPSET } from "./onnxGraph";
import { initializerLookup } from "./onnxGpt";
import { OnnxOps } from "./onnxOps";
import { OnnxDataType } from "./onnxProto";
import { buildClassifierTrainingGraph, type ParamLike, type TrainingGraph } from "./trainingGraph";

/** What the BERT graph builders read of a model: a BertModel, or its weights as arrays. */
export interface BertWeights {
  readonly cfg: BertConfig;
  readonly params: ReadonlyMap<string, ParamLike>;
}

/** The classes of a model's head. @throws ConfigError without one */
export function bertClasses(model: BertWeights): number {
  const head = model.params.get("classifier.weight");
  if (!head) throw new ConfigError('Model has no parameter "classifier.weight"');
  return head.shape[1];
}

/**
 * The forward graph of a BERT classifier (symbolic batch and sequence): ModelProto bytes, opset 20.
 * @param opts `paramInputs`: parameters fed at every run (e.g. those being trained) instead of initializers;
 *   `fusedAttention`: ONNX Runtime's contrib Attention kernel (default true) or the composite
 */
export function buildBertOnnx(
  model: BertWeights,
  opts: { paramInputs?: Iterable<string>; fusedAttention?: boolean } = {},
): Uint8Array {
  bertClasses(model);
  const g = new OnnxGraphBuilder("bert_classifier");
  // Attention as ONNX Runtime's fused kernel with the padding as its raw key mask (tested equal to the composite).
  const ops = new OnnxOps(g, { layerNorm: true, gelu: true, linear: true, attention: opts.fusedAttention ?? true });
  const ids = ops.input("input_ids", OnnxDataType.INT32, ["batch", "seq"]);
  const attentionMask = ops.input("attention_mask", OnnxDataType.FLOAT, ["batch", "seq"]);
  const logits = bertForward(ops, initializerLookup(ops, model, new Set(opts.paramInputs)), model.cfg, ids, {
    attentionMask,
  });
  ops.output(logits, "logits");
  return g.build({ docString: "BERT for sequence classification", opset: ONNX_OPSET });
}

/**
 * The training graph of one batch shape: the forward graph's inputs plus "targets" and "row_weights"
 * (see trainingGraph.ts), outputs "loss", "logits" and "grad:<name>" for each trainable parameter.
 * @throws ConfigError for unknown parameter names or a model without a head
 */
export function buildBertTrainingGraph(
  model: BertWeights,
  opts: { batch: number; seq: number; trainable: readonly string[]; frozen?: "initializers" | "inputs" },
): TrainingGraph {
  const { batch: B, seq: T } = opts;
  const graph = buildClassifierTrainingGraph({
    name: "bert_train",
    docString: `BERT classifier training step (${B}x${T})`,
    params: model.params,
    classes: bertClasses(model),
    batch: B,
    trainable: opts.trainable,
    frozen: opts.frozen,
    forward: (d, base, lookup) => {
      const ids = d.lift(base.input("input_ids", OnnxDataType.INT32, [B, T]));
      const attentionMask = d.lift(base.input("attention_mask", OnnxDataType.FLOAT, [B, T]));
      return bertForward(d, lookup, model.cfg, ids, { attentionMask });
    },
  });
  return { ...graph, takesReadout: false };
}
