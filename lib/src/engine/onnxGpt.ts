/**
 * Builds the ONNX graph of a GPTModel (or a range of it) from the model's own weights:
 * token + position embedding, transformer blocks [fromBlock, toBlock), optionally final norm + head.
 * Same maths as lib/src/model (book ch. 4): pre-LayerNorm blocks, eps 1e-5, GELU (tanh approximation),
 * causal attention with scores / sqrt(headDim) and a -Infinity mask, residuals; linear layers as 2-D
 * MatMuls on [B*T, E] with the (GPT-2 Conv1D layout) [in, out] weights; Q, K and V fused into one MatMul.
 */
import type * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import { OnnxGraphBuilder, ONNX_OPSET } from "./onnxGraph";
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
  readonly params: ReadonlyMap<string, tf.Tensor>;
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

/** One parameter: its shape now, its values (a copy) when the graph is serialised. @throws ConfigError when missing. */
function read(model: GptLike, name: string): { data: () => Float32Array; shape: number[] } {
  const t = model.params.get(name);
  if (!t) throw new ConfigError(`Model has no parameter "${name}"`);
  return { data: () => t.dataSync() as Float32Array, shape: t.shape };
}

/** Concatenates [E, E] matrices (row-major) column-wise into [E, k*E]. */
function concatColumns(mats: Float32Array[], rows: number, cols: number): Float32Array {
  const k = mats.length,
    out = new Float32Array(rows * cols * k);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) out.set(mats[j].subarray(r * cols, (r + 1) * cols), (r * k + j) * cols);
  }
  return out;
}

/** Graph-building context: the builder plus symbolic shape values. */
interface Ctx {
  g: OnnxGraphBuilder;
  model: GptLike;
  E: number;
  H: number;
  D: number;
  T1: string;
  gelu: "op" | "tanh";
  fused: boolean;
}

function linear(c: Ctx, x: string, prefix: string, bias = true): string {
  const w = read(c.model, `${prefix}.weight`);
  const y = c.g.op("MatMul", [x, c.g.floatInit(`${prefix}.weight`, w.shape, w.data)]);
  if (!bias) return y;
  const b = read(c.model, `${prefix}.bias`);
  return c.g.op("Add", [y, c.g.floatInit(`${prefix}.bias`, b.shape, b.data)]);
}

function layerNorm(c: Ctx, x: string, prefix: string): string {
  const s = read(c.model, `${prefix}.scale`),
    b = read(c.model, `${prefix}.shift`);
  return c.g.op(
    "LayerNormalization",
    [x, c.g.floatInit(`${prefix}.scale`, s.shape, s.data), c.g.floatInit(`${prefix}.shift`, b.shape, b.data)],
    { axis: -1, epsilon: { float: 1e-5 } },
  );
}

function gelu(c: Ctx, x: string): string {
  if (c.gelu === "op") return c.g.op("Gelu", [x], { approximate: "tanh" });
  // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
  const g = c.g;
  const x3 = g.op("Pow", [x, g.scalar(3)]);
  const inner = g.op("Mul", [
    g.scalar(Math.sqrt(2 / Math.PI)),
    g.op("Add", [x, g.op("Mul", [g.scalar(0.044715), x3])]),
  ]);
  return g.op("Mul", [g.op("Mul", [g.scalar(0.5), x]), g.op("Add", [g.scalar(1), g.op("Tanh", [inner])])]);
}

/**
 * Causal self-attention with ONNX Runtime's fused contrib op (com.microsoft Attention, unidirectional): QKV
 * projection, scaled scores, causal softmax and context in one kernel. Masked scores get -10000 before the
 * softmax instead of -Infinity: exp(-10000 - max) is 0 in float32 as well.
 */
function fusedAttention(c: Ctx, x: string, i: number): string {
  const { g, model, E, H } = c,
    p = `trf_blocks.${i}.att`;
  const ws = ["W_query", "W_key", "W_value"].map((n) => read(model, `${p}.${n}.weight`).data);
  const w = g.floatInit(`${p}.W_qkv.weight`, [E, 3 * E], () =>
    concatColumns(
      ws.map((d) => d()),
      E,
      E,
    ),
  );
  const bs = ["W_query", "W_key", "W_value"].map((n) => model.params.get(`${p}.${n}.bias`));
  const b = g.floatInit(`${p}.W_qkv.bias`, [3 * E], () =>
    bs.every((t) => t)
      ? concatColumns(
          bs.map((t) => t!.dataSync() as Float32Array),
          1,
          E,
        )
      : new Float32Array(3 * E),
  );
  const x3 = g.op("Reshape", [x, g.op("Concat", [g.ints([-1]), c.T1, g.ints([E])], { axis: 0 })]); // [B, T, E]
  const ctx = g.node("Attention", [x3, w, b], { num_heads: H, unidirectional: 1 }, 1, "com.microsoft")[0]; // [B, T, E]
  return linear(c, g.op("Reshape", [ctx, g.ints([-1, E])]), `${p}.out_proj`);
}

/** Causal self-attention on the flat residual stream x [N=B*T, E] → [N, E]. */
function attention(c: Ctx, x: string, i: number, mask: string): string {
  if (c.fused) return fusedAttention(c, x, i);
  const { g, model, E, H, D } = c,
    p = `trf_blocks.${i}.att`;
  const ws = ["W_query", "W_key", "W_value"].map((n) => read(model, `${p}.${n}.weight`).data);
  let qkv = g.op("MatMul", [
    x,
    g.floatInit(`${p}.W_qkv.weight`, [E, 3 * E], () =>
      concatColumns(
        ws.map((d) => d()),
        E,
        E,
      ),
    ),
  ]); // [N, 3E]
  if (model.cfg.qkvBias) {
    const bs = ["W_query", "W_key", "W_value"].map((n) => read(model, `${p}.${n}.bias`).data);
    qkv = g.op("Add", [
      qkv,
      g.floatInit(`${p}.W_qkv.bias`, [3 * E], () =>
        concatColumns(
          bs.map((d) => d()),
          1,
          E,
        ),
      ),
    ]);
  }
  const [q, k, v] = g.node("Split", [qkv, g.ints([E, E, E])], { axis: 1 }, 3);
  const heads = g.op("Concat", [g.ints([-1]), c.T1, g.ints([H, D])], { axis: 0 });
  const split = (t: string, perm: number[]) => g.op("Transpose", [g.op("Reshape", [t, heads])], { perm });
  const qh = split(q, [0, 2, 1, 3]); // [B, H, T, D]
  const kt = split(k, [0, 2, 3, 1]); // [B, H, D, T]
  const vh = split(v, [0, 2, 1, 3]); // [B, H, T, D]
  const scores = g.op("Add", [g.op("Div", [g.op("MatMul", [qh, kt]), g.scalar(Math.sqrt(D))]), mask]); // [B, H, T, T]
  const ctx = g.op("MatMul", [g.op("Softmax", [scores], { axis: -1 }), vh]); // [B, H, T, D]
  const merged = g.op("Reshape", [g.op("Transpose", [ctx], { perm: [0, 2, 1, 3] }), g.ints([-1, E])]); // [N, E]
  return linear(c, merged, `${p}.out_proj`);
}

function block(c: Ctx, x: string, i: number, mask: string): string {
  const p = `trf_blocks.${i}`;
  const x1 = c.g.op("Add", [x, attention(c, layerNorm(c, x, `${p}.norm1`), i, mask)]);
  const h = gelu(c, linear(c, layerNorm(c, x1, `${p}.norm2`), `${p}.ff.layers.0`));
  return c.g.op("Add", [x1, linear(c, h, `${p}.ff.layers.2`)]);
}

/** Options for `buildGptOnnx`. */
export interface BuildGptOnnxOptions extends OnnxGptPart {
  /** GELU as the opset-20 `Gelu` op (default) or composed from Tanh/Pow/Mul. */
  gelu?: "op" | "tanh";
  /** Attention as ONNX Runtime's fused `com.microsoft.Attention` (default false: standard ONNX ops only). */
  fusedAttention?: boolean;
}

/**
 * Serialises (part of) a GPT model as an ONNX ModelProto (opset 20, float32 initializers).
 * Inputs: "input_ids" int32 [batch, seq] when the part starts with the embeddings, else "hidden_in" float [batch, seq, E].
 * Output: "hidden" [batch, seq, E]; or with `head` "logits" [batch, seq, outDim] ([batch, outDim] with lastTokenOnly).
 * @param model a GPTModel (or anything with its `cfg` and `params`)
 * @throws ConfigError for an invalid part or missing parameters
 */
export function buildGptOnnx(model: GptLike, opts: BuildGptOnnxOptions = {}): Uint8Array {
  const cfg = model.cfg,
    part = resolvePart(cfg, opts);
  const E = cfg.embDim,
    H = cfg.nHeads,
    D = E / H,
    C = cfg.contextLength;
  if (!Number.isInteger(D)) throw new ConfigError(`embDim ${E} is not divisible by nHeads ${H}`);
  const g = new OnnxGraphBuilder(`gpt_blocks_${part.fromBlock}_${part.toBlock}`);

  let x: string, shape: string;
  if (part.embed) {
    const ids = g.input("input_ids", OnnxDataType.INT32, ["batch", "seq"]);
    shape = g.op("Shape", [ids]);
    const tok = read(model, "tok_emb.weight"),
      pos = read(model, "pos_emb.weight");
    const T = g.op("Gather", [shape, g.int64Init(g.fresh("one"), [], [1])], { axis: 0 }); // scalar seq
    const positions = g.op("Range", [g.int64Init(g.fresh("zero"), [], [0]), T, g.int64Init(g.fresh("one"), [], [1])]);
    const tokEmb = g.op("Gather", [g.floatInit("tok_emb.weight", tok.shape, tok.data), ids], { axis: 0 }); // [B, T, E]
    const posEmb = g.op("Gather", [g.floatInit("pos_emb.weight", pos.shape, pos.data), positions], { axis: 0 }); // [T, E]
    x = g.op("Add", [tokEmb, posEmb]);
  } else {
    x = g.input("hidden_in", OnnxDataType.FLOAT, ["batch", "seq", E]);
    shape = g.op("Shape", [x], { end: 2 });
  }
  const T1 = g.op("Slice", [shape, g.ints([1]), g.ints([2])]); // [1] = seq
  const c: Ctx = { g, model, E, H, D, T1, gelu: opts.gelu ?? "op", fused: opts.fusedAttention ?? false };

  // Causal mask: 0 on and below the diagonal, -Infinity above; sliced to [T, T].
  const maskData = new Float32Array(C * C);
  for (let r = 0; r < C; r++) maskData.fill(-Infinity, r * C + r + 1, (r + 1) * C);
  const mask = g.op("Slice", [
    g.floatInit("causal_mask", [C, C], maskData),
    g.ints([0, 0]),
    g.op("Concat", [T1, T1], { axis: 0 }),
    g.ints([0, 1]),
  ]);

  x = g.op("Reshape", [x, g.ints([-1, E])]); // [N, E]
  for (let i = part.fromBlock; i < part.toBlock; i++) x = block(c, x, i, mask);
  const bt = g.op("Concat", [g.ints([-1]), T1, g.ints([E])], { axis: 0 });
  x = g.op("Reshape", [x, bt]); // [B, T, E]

  if (!part.head) {
    g.node("Identity", [x], {}, ["hidden"]);
    g.output("hidden", OnnxDataType.FLOAT, ["batch", "seq", E]);
  } else {
    if (part.lastTokenOnly) {
      const last = g.op("Sub", [g.op("Squeeze", [T1]), g.int64Init(g.fresh("one"), [], [1])]);
      x = g.op("Gather", [x, last], { axis: 1 }); // [B, E]
    }
    const headW = model.params.get("out_head.weight");
    if (!headW) throw new ConfigError('Model has no parameter "out_head.weight"');
    const y = linear(c, layerNorm(c, x, "final_norm"), "out_head", model.params.has("out_head.bias"));
    g.node("Identity", [y], {}, ["logits"]);
    const outDim = headW.shape[1] as number;
    g.output("logits", OnnxDataType.FLOAT, part.lastTokenOnly ? ["batch", outDim] : ["batch", "seq", outDim]);
  }
  return g.build({
    docString: `GPT blocks [${part.fromBlock}, ${part.toBlock})${part.head ? " + head" : ""}`,
    opset: ONNX_OPSET,
  });
}
