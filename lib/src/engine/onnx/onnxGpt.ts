/**
 * Builds the ONNX graph of a GPTModel (or a range of it) from the model's own weights: token + position
 * embedding, transformer blocks [fromBlock, toBlock), optionally final norm + head. The maths is the model
 * definition (lib/src/model/gpt.ts, layers.ts) run with `OnnxOps`; ONNX Runtime's fused kernels stand in
 * for LayerNorm, GELU and the Q/K/V projections (each tested equal to the composite).
 */
import type * as tf from "@tensorflow/tfjs";
import type { FrozenParam } from "../../model/frozenParam";
import { ConfigError } from "../../errors";
import { gptForward, readoutOf, type ParamLookup, type Readout, type ReadoutKind } from "../../model/gpt";
import { OnnxGraphBuilder, ONNX_OPSET } from "./onnxGraph";
import { OnnxOps, type OnnxValue } from "./onnxOps";
import { OnnxDataType } from "./onnxProto";

/** What the ONNX builder needs from a GPTModel (structural: any object with `cfg` and `params` fits). */
export interface GptLike {
  readonly cfg: {
    readonly vocabSize: number;
    readonly contextLength: number;
    readonly embDim: number;
    readonly nHeads: number;
    readonly nLayers: number;
    readonly qkvBias: boolean;
  };
  /** tfjs tensors (variables), or frozen values outside tfjs (FrozenParam; `tensorOf` gives their tensor). */
  readonly params: ReadonlyMap<string, tf.Tensor | FrozenParam>;
}

/**
 * What the ONNX graph builder reads of a model: its config and, per parameter, the shape and values. A GPTModel
 * (tfjs variables) or its weights as arrays (ArrayGpt: classify and generate without building tfjs variables).
 */
export interface GptWeights {
  readonly cfg: GptLike["cfg"];
  readonly params: ReadonlyMap<string, { readonly shape: readonly number[]; dataSync(): ArrayLike<number> }>;
}

/** Which part of the model the graph computes. */
export interface OnnxGptPart {
  /** First block (default 0). The graph starts with the embeddings only when fromBlock is 0 and `embed` is not false. */
  fromBlock?: number;
  /** One past the last block (default nLayers). */
  toBlock?: number;
  /** Start from token ids with the embeddings (default: fromBlock === 0). Otherwise the input is hidden states [B,T,E]. */
  embed?: boolean;
  /** Append final norm + out_head (default false): output "logits" instead of "hidden". */
  head?: boolean;
  /** With `head`: compute norm + head for the last position only → logits [B, outDim] (the classifier's view). */
  lastTokenOnly?: boolean;
}

/** Resolved part with defaults applied. */
export interface ResolvedPart {
  fromBlock: number;
  toBlock: number;
  embed: boolean;
  head: boolean;
  lastTokenOnly: boolean;
}

/** Applies defaults and validates a part against the model config. @throws ConfigError */
export function resolvePart(cfg: GptLike["cfg"], part: OnnxGptPart = {}): ResolvedPart {
  const fromBlock = part.fromBlock ?? 0,
    toBlock = part.toBlock ?? cfg.nLayers;
  if (!(
    Number.isInteger(fromBlock) &&
    Number.isInteger(toBlock) &&
    0 <= fromBlock &&
    fromBlock <= toBlock &&
    toBlock <= cfg.nLayers
  )) {
    throw new ConfigError(`Invalid block range [${fromBlock}, ${toBlock}) for a model with ${cfg.nLayers} blocks`);
  }
  const embed = part.embed ?? fromBlock === 0;
  if (embed && fromBlock !== 0) throw new ConfigError("embed=true needs fromBlock=0");
  const head = part.head ?? false;
  if (head && toBlock !== cfg.nLayers) throw new ConfigError("head=true needs toBlock=nLayers");
  return { fromBlock, toBlock, embed, head, lastTokenOnly: head && (part.lastTokenOnly ?? false) };
}

/** Options for `buildGptOnnx`. */
export interface BuildGptOnnxOptions extends OnnxGptPart {
  /** GELU as the opset-20 `Gelu` op (default) or composed from Tanh/Mul (the definition's composite). */
  gelu?: "op" | "tanh";
  /** Attention as ONNX Runtime's fused `com.microsoft.Attention` (default false: standard ONNX ops only). */
  fusedAttention?: boolean;
  /**
   * One MatMul for the Q, K and V projections, their weights concatenated (default true). With the weights as
   * inputs the concatenation runs in the session (a copy of them); false keeps three MatMuls.
   */
  fuseLinear?: boolean;
  /** Parameters fed as graph inputs (by their names) at every run instead of initializers, e.g. those being trained. */
  paramInputs?: Iterable<string>;
  /**
   * With `head`: the classifier's readout ("last" is `lastTokenOnly`): logits [batch, outDim]. "flexible" and
   * "mean" take their weights as input "readout" float [batch, seq] (see `readoutWeights`).
   */
  readout?: ReadoutKind;
  /** Causal attention mask (default true). */
  causal?: boolean;
  /**
   * Also output the hidden states entering these blocks (fromBlock < k < toBlock), as "hidden_<k>" [batch, seq, E]:
   * a shallower prefix of the same pass, for a later configuration that trains more blocks.
   */
  keepBefore?: readonly number[];
}

/**
 * The model's parameters (GPT-2's or BERT's) as ONNX initializers, or as graph inputs for the names in `inputs`
 * (created on first use; each initializer's values are copied when the graph is serialised, one at a time).
 */
export function initializerLookup(
  ops: OnnxOps,
  model: Pick<GptWeights, "params">,
  inputs: ReadonlySet<string> = new Set(),
): ParamLookup<OnnxValue> {
  const made = new Map<string, OnnxValue>();
  return (name) => {
    let v = made.get(name);
    const t = model.params.get(name);
    if (!v && t) {
      v = inputs.has(name)
        ? ops.input(name, OnnxDataType.FLOAT, t.shape)
        : ops.initializer(name, t.shape, () => t.dataSync() as Float32Array);
      made.set(name, v);
    }
    return v;
  };
}

/**
 * Serialises (part of) a GPT model as an ONNX ModelProto (opset 20, float32 initializers): the model
 * definition of lib/src/model/gpt.ts run with `OnnxOps` (fused LayerNormalization, Gelu and Q/K/V MatMul).
 * Inputs: "input_ids" int32 [batch, seq] when the part starts with the embeddings, else "hidden_in" float [batch, seq, E].
 * Output: "hidden" [batch, seq, E]; or with `head` "logits" [batch, seq, outDim] ([batch, outDim] with lastTokenOnly
 * or a readout); "hidden_<k>" for each depth in `keepBefore`.
 * @param model a GPTModel (or anything with its `cfg` and `params`)
 * @throws ConfigError for an invalid part or missing parameters
 */
export function buildGptOnnx(model: GptWeights, opts: BuildGptOnnxOptions = {}): Uint8Array {
  const cfg = model.cfg,
    part = resolvePart(cfg, opts);
  if (cfg.embDim % cfg.nHeads !== 0)
    throw new ConfigError(`embDim ${cfg.embDim} is not divisible by nHeads ${cfg.nHeads}`);
  const g = new OnnxGraphBuilder(`gpt_blocks_${part.fromBlock}_${part.toBlock}`);
  const ops = new OnnxOps(g, {
    layerNorm: true,
    gelu: opts.gelu !== "tanh",
    linear: opts.fuseLinear ?? true,
    attention: opts.fusedAttention ?? false,
  });
  const input = part.embed
    ? ops.input("input_ids", OnnxDataType.INT32, ["batch", "seq"])
    : ops.input("hidden_in", OnnxDataType.FLOAT, ["batch", "seq", cfg.embDim]);
  const kind = part.head ? (opts.readout ?? (part.lastTokenOnly ? "last" : undefined)) : undefined;
  const readout: Readout<OnnxValue> = kind
    ? readoutOf(kind, () => ops.input("readout", OnnxDataType.FLOAT, ["batch", "seq"]))
    : { kind: "all" };
  const param = initializerLookup(ops, model, new Set(opts.paramInputs));
  // The blocks run in stretches between the kept depths: the same forward, with outputs in between.
  const kept = [...new Set(opts.keepBefore ?? [])].sort((a, b) => a - b);
  for (const k of kept)
    if (!(Number.isInteger(k) && part.fromBlock < k && k < part.toBlock))
      throw new ConfigError(
        `Cannot keep the hidden states before block ${k} of blocks [${part.fromBlock}, ${part.toBlock})`,
      );
  let x = input,
    from = part.fromBlock,
    embed = part.embed;
  for (const k of kept) {
    x = gptForward(ops, param, cfg, x, { fromBlock: from, toBlock: k, embed, causal: opts.causal });
    ops.output(x, `hidden_${k}`);
    [from, embed] = [k, false];
  }
  const y = gptForward(ops, param, cfg, x, {
    fromBlock: from,
    toBlock: part.toBlock,
    embed,
    head: part.head,
    readout,
    causal: opts.causal,
  });
  ops.output(y, part.head ? "logits" : "hidden");
  return g.build({
    docString: `GPT blocks [${part.fromBlock}, ${part.toBlock})${part.head ? " + head" : ""}`,
    opset: ONNX_OPSET,
  });
}
