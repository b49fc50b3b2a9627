/**
 * ONNX graph of the classifier's trainable suffix (last block + final norm + head) at the LAST position,
 * from the frozen prefix's hidden states, with the parameters as graph INPUTS (they change every step).
 * With `backward`, the graph also computes the mean cross-entropy loss and the gradient of every suffix
 * parameter (hand-derived backward pass; checked against tfjs autodiff in test/engine/suffixGraph.test.ts).
 *
 * Attention for the last query without materialising K and V (see lastTokenSuffix.ts for the identity):
 *   u_h = W_k,h q_h;  scores_t = (x̂_t·(s⊙u_h) + b·u_h + b_k,h·q_h)/√D;  ctx_h = (Σ_t a_t x̂_t ⊙ s + b) W_v,h + b_v,h
 * Layouts: [H, B, ·] for per-head matmuls (batch = heads), [B, H, ·] for per-sequence matmuls (batch = sequences).
 */
import { ConfigError } from "../errors";
import { OnnxGraphBuilder, ONNX_OPSET } from "./onnxGraph";
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
  /** Also compute loss (input "targets": one-hot float [B, C]) and gradients ("grad:<param name>"). */
  backward?: boolean;
}

/**
 * Builds the suffix graph. Inputs: "hidden" [B, T, E] (prefix output), every suffix parameter by its model
 * name, and with `backward` "targets" [B, C]. Outputs: "logits" [B, C]; with `backward` also "loss" (scalar)
 * and "grad:<name>" for each parameter (same shape as the parameter).
 * @throws ConfigError when the model lacks a required parameter
 */
export function buildSuffixOnnx(model: GptLike, opts: SuffixGraphOptions = {}): Uint8Array {
  const cfg = model.cfg,
    E = cfg.embDim,
    H = cfg.nHeads,
    D = E / H,
    L = cfg.nLayers;
  const g = new OnnxGraphBuilder(opts.backward ? "suffix_train" : "suffix_forward");
  const names = suffixParamNames(model);
  const pre = `trf_blocks.${L - 1}`;
  for (const req of [
    `${pre}.att.W_query.weight`,
    `${pre}.att.W_key.weight`,
    `${pre}.att.W_value.weight`,
    "out_head.weight",
  ]) {
    if (!names.includes(req)) throw new ConfigError(`Model has no parameter "${req}"`);
  }
  const P: Record<string, string> = {};
  for (const n of names) P[n] = g.input(n, OnnxDataType.FLOAT, model.params.get(n)!.shape);
  const has = (n: string) => n in P;
  const C = model.params.get("out_head.weight")!.shape[1] as number;

  // Op shorthands.
  const op = (t: string, ins: string[], a = {}) => g.op(t, ins, a);
  const add = (a: string, b: string) => op("Add", [a, b]),
    sub = (a: string, b: string) => op("Sub", [a, b]);
  const mul = (a: string, b: string) => op("Mul", [a, b]),
    mm = (a: string, b: string) => op("MatMul", [a, b]);
  const T = (x: string, perm: number[]) => op("Transpose", [x], { perm });
  const rs = (x: string, shape: number[]) => op("Reshape", [x, g.ints(shape)]);
  const sum = (x: string, axes: number[], keep = 0) => op("ReduceSum", [x, g.ints(axes)], { keepdims: keep });
  const mean = (x: string, axes: number[], keep = 1) => op("ReduceMean", [x, g.ints(axes)], { keepdims: keep });
  const k = (v: number) => g.scalar(v);
  const unsq = (x: string, axes: number[]) => op("Unsqueeze", [x, g.ints(axes)]);
  const norm = (x: string) => {
    // → {xh, rstd}
    const xc = sub(x, mean(x, [-1]));
    const rstd = op("Reciprocal", [op("Sqrt", [add(mean(mul(xc, xc), [-1]), k(1e-5))])]);
    return { xh: mul(xc, rstd), rstd };
  };
  const linear = (x: string, n: string) =>
    has(`${n}.bias`) ? add(mm(x, P[`${n}.weight`]), P[`${n}.bias`]) : mm(x, P[`${n}.weight`]);

  // ---------------- forward
  const X = g.input("hidden", OnnxDataType.FLOAT, ["batch", "seq", E]);
  const shape = op("Shape", [X]);
  const lastIdx = sub(
    op("Gather", [shape, g.int64Init(g.fresh("one"), [], [1])], { axis: 0 }),
    g.int64Init(g.fresh("one"), [], [1]),
  );
  const { xh: Xh } = norm(X); // [B, T, E], constant
  const XhT = T(Xh, [0, 2, 1]); // [B, E, T]
  const Xlast = op("Gather", [X, lastIdx], { axis: 1 }); // [B, E]
  const XhLast = op("Gather", [Xh, lastIdx], { axis: 1 }); // [B, E]
  const s1 = P[`${pre}.norm1.scale`],
    b1 = P[`${pre}.norm1.shift`];
  const hL = add(mul(XhLast, s1), b1); // [B, E]
  const q = linear(hL, `${pre}.att.W_query`); // [B, E]
  const qhT = T(rs(q, [-1, H, D]), [1, 0, 2]); // [H, B, D]
  const WkT3 = T(rs(P[`${pre}.att.W_key.weight`], [E, H, D]), [1, 2, 0]); // [H, D, E]
  const u = mm(qhT, WkT3); // [H, B, E]
  let c = sum(mul(u, b1), [-1]); // [H, B]
  const bk = P[`${pre}.att.W_key.bias`];
  if (bk) c = add(c, sum(T(rs(mul(q, bk), [-1, H, D]), [1, 0, 2]), [-1]));
  const cB = T(c, [1, 0]); // [B, H]
  const raw = mm(T(mul(u, s1), [1, 0, 2]), XhT); // [B, H, T]
  const scores = op("Div", [add(raw, unsq(cB, [-1])), k(Math.sqrt(D))]);
  const a = op("Softmax", [scores], { axis: -1 }); // [B, H, T]
  const zh = mm(a, Xh); // [B, H, E]
  const zH = T(add(mul(zh, s1), b1), [1, 0, 2]); // [H, B, E]
  const Wv3T = T(rs(P[`${pre}.att.W_value.weight`], [E, H, D]), [1, 0, 2]); // [H, E, D]
  let ctx = rs(T(mm(zH, Wv3T), [1, 0, 2]), [-1, E]); // [B, E]
  if (has(`${pre}.att.W_value.bias`)) ctx = add(ctx, P[`${pre}.att.W_value.bias`]);
  const x1 = add(Xlast, linear(ctx, `${pre}.att.out_proj`)); // [B, E]
  const n2 = norm(x1);
  const s2 = P[`${pre}.norm2.scale`];
  const h2 = add(mul(n2.xh, s2), P[`${pre}.norm2.shift`]);
  const f1 = linear(h2, `${pre}.ff.layers.0`); // [B, 4E]
  const kG = Math.sqrt(2 / Math.PI);
  const th = op("Tanh", [mul(k(kG), add(f1, mul(k(0.044715), mul(f1, mul(f1, f1)))))]);
  const gel = mul(mul(k(0.5), f1), add(k(1), th));
  const x2 = add(x1, linear(gel, `${pre}.ff.layers.2`));
  const nf = norm(x2);
  const sf = P["final_norm.scale"];
  const hf = add(mul(nf.xh, sf), P["final_norm.shift"]);
  const logits = linear(hf, "out_head"); // [B, C]
  g.node("Identity", [logits], {}, ["logits"]);
  g.output("logits", OnnxDataType.FLOAT, ["batch", C]);

  if (opts.backward) {
    const grads: Record<string, string> = {};
    const acc = (n: string, v: string) => {
      grads[n] = grads[n] ? add(grads[n], v) : v;
    };
    const linBack = (x: string, dy: string, n: string): string => {
      // returns dx
      acc(`${n}.weight`, mm(T(x, [1, 0]), dy));
      if (has(`${n}.bias`)) acc(`${n}.bias`, sum(dy, [0]));
      return mm(dy, T(P[`${n}.weight`], [1, 0]));
    };
    const normBack = (xh: string, rstd: string, dh: string, s: string, n: string): string => {
      // LayerNorm: returns dx
      acc(`${n}.scale`, sum(mul(dh, xh), [0]));
      acc(`${n}.shift`, sum(dh, [0]));
      const dxh = mul(dh, s);
      return mul(rstd, sub(sub(dxh, mean(dxh, [-1])), mul(xh, mean(mul(dxh, xh), [-1]))));
    };

    const Y = g.input("targets", OnnxDataType.FLOAT, ["batch", C]);
    const Bf = op("Cast", [op("Gather", [shape, g.int64Init(g.fresh("zero"), [], [0])], { axis: 0 })], {
      to: OnnxDataType.FLOAT,
    });
    const lsm = op("LogSoftmax", [logits], { axis: -1 });
    g.node("Neg", [mean(sum(mul(lsm, Y), [-1]), [0], 0)], {}, ["loss"]);
    g.output("loss", OnnxDataType.FLOAT, []);

    const invSqrtD = k(1 / Math.sqrt(D));
    const dlogits = op("Div", [sub(op("Exp", [lsm]), Y), Bf]); // [B, C]
    const dhf = linBack(hf, dlogits, "out_head");
    const dx2 = normBack(nf.xh, nf.rstd, dhf, sf, "final_norm");
    const dgel = linBack(gel, dx2, `${pre}.ff.layers.2`);
    // d gelu / d f1 = 0.5 (1 + th) + 0.5 f1 (1 - th²) kG (1 + 3·0.044715 f1²)
    const dGelu = add(
      mul(k(0.5), add(k(1), th)),
      mul(mul(mul(k(0.5 * kG), f1), sub(k(1), mul(th, th))), add(k(1), mul(k(3 * 0.044715), mul(f1, f1)))),
    );
    const dh2 = linBack(h2, mul(dgel, dGelu), `${pre}.ff.layers.0`);
    const dx1 = add(dx2, normBack(n2.xh, n2.rstd, dh2, s2, `${pre}.norm2`));
    const dctx = linBack(ctx, dx1, `${pre}.att.out_proj`); // [B, E]
    if (has(`${pre}.att.W_value.bias`)) acc(`${pre}.att.W_value.bias`, sum(dctx, [0]));
    const dctxH = T(rs(dctx, [-1, H, D]), [1, 0, 2]); // [H, B, D]
    acc(`${pre}.att.W_value.weight`, rs(T(mm(T(zH, [0, 2, 1]), dctxH), [1, 0, 2]), [E, E]));
    const dz = T(mm(dctxH, T(Wv3T, [0, 2, 1])), [1, 0, 2]); // [B, H, E]
    acc(`${pre}.norm1.scale`, sum(mul(dz, zh), [0, 1]));
    acc(`${pre}.norm1.shift`, sum(dz, [0, 1]));
    const da = mm(mul(dz, s1), XhT); // [B, H, T]
    const draw = mul(mul(a, sub(da, sum(mul(da, a), [-1], 1))), invSqrtD); // [B, H, T]
    const dcB = sum(draw, [-1]); // [B, H]
    const dw = T(mm(draw, Xh), [1, 0, 2]); // [H, B, E]
    const dcH = unsq(T(dcB, [1, 0]), [-1]); // [H, B, 1]
    acc(`${pre}.norm1.scale`, sum(mul(dw, u), [0, 1]));
    acc(`${pre}.norm1.shift`, sum(mul(dcH, u), [0, 1]));
    const du = add(mul(dw, s1), mul(dcH, b1)); // [H, B, E]
    acc(`${pre}.att.W_key.weight`, rs(T(mm(T(qhT, [0, 2, 1]), du), [2, 0, 1]), [E, E]));
    let dq = rs(T(mm(du, T(WkT3, [0, 2, 1])), [1, 0, 2]), [-1, E]); // [B, E]
    if (bk) {
      const dcB3 = unsq(dcB, [-1]); // [B, H, 1]
      acc(`${pre}.att.W_key.bias`, rs(sum(mul(dcB3, rs(q, [-1, H, D])), [0]), [E]));
      dq = add(dq, rs(mul(dcB3, rs(bk, [H, D])), [-1, E]));
    }
    const dhL = linBack(hL, dq, `${pre}.att.W_query`);
    acc(`${pre}.norm1.scale`, sum(mul(dhL, XhLast), [0]));
    acc(`${pre}.norm1.shift`, sum(dhL, [0]));

    for (const n of names) {
      if (!grads[n]) throw new Error(`internal: no gradient for ${n}`);
      g.node("Identity", [grads[n]], {}, [`grad:${n}`]);
      g.output(`grad:${n}`, OnnxDataType.FLOAT, model.params.get(n)!.shape);
    }
  }
  return g.build({
    docString: `GPT suffix (block ${L - 1} + final norm + head, last position)${opts.backward ? " with backward" : ""}`,
    opset: ONNX_OPSET,
  });
}
