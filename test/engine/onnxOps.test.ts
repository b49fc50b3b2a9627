import { test, before } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, loadOnnxRuntime } from "llm-spam-classifier";
import {
  createOrtSession,
  OnnxGraphBuilder,
  OnnxOps,
  OnnxDataType,
  type OnnxFusion,
  type OnnxValue,
  type OrtModule,
} from "llm-spam-classifier/engine";
import { TfjsOps, layers, dimProduct, type Dim, type Ops } from "llm-spam-classifier/model";

// OnnxOps (the primitives as ONNX graph building) against TfjsOps on the same inputs, and each fused
// kernel against the composite definition it stands in for.

let ort: OrtModule | undefined;
before(async () => {
  await initBackend();
  ort = loadOnnxRuntime();
});

type Fn = <T>(o: Ops<T>, xs: T[]) => T;
let seed = 11;
const rand = (shape: number[], lo = -1, hi = 1) => tf.randomUniform(shape, lo, hi, "float32", seed++);

/**
 * Runs `fn` on ONNX Runtime: every input is a graph input (dims symbolic where `symbolic` names them),
 * or an initializer with `asConstants`.
 */
async function runOnnx(
  fn: Fn,
  inputs: tf.Tensor[],
  opts: { symbolic?: (Dim | undefined)[][]; fusion?: OnnxFusion; asConstants?: boolean } = {},
): Promise<{ data: Float32Array; dims: number[] }> {
  const g = new OnnxGraphBuilder("test");
  const ops = new OnnxOps(g, opts.fusion ?? {});
  const vals: OnnxValue[] = inputs.map((t, i) => {
    const int = t.dtype === "int32";
    if (opts.asConstants && !int) return ops.initializer(`x${i}`, t.shape, t.dataSync() as Float32Array);
    const dims = t.shape.map((d, k) => opts.symbolic?.[i]?.[k] ?? d);
    return ops.input(`x${i}`, int ? OnnxDataType.INT32 : OnnxDataType.FLOAT, dims);
  });
  ops.output(fn(ops, vals), "y");
  const session = await createOrtSession(g.build(), { threads: 1 });
  const feeds: Record<string, InstanceType<OrtModule["Tensor"]>> = {};
  inputs.forEach((t, i) => {
    if (opts.asConstants && t.dtype !== "int32") return;
    feeds[`x${i}`] =
      t.dtype === "int32"
        ? new ort!.Tensor("int32", t.dataSync() as Int32Array, t.shape)
        : new ort!.Tensor("float32", t.dataSync() as Float32Array, t.shape);
  });
  const out = (await session.run(feeds)).y;
  await session.release();
  return { data: out.data as Float32Array, dims: [...out.dims] };
}

/** `fn` on ONNX Runtime equals `ref` (default: `fn` itself) on tfjs. */
async function check(
  name: string,
  fn: Fn,
  inputs: tf.Tensor[],
  opts: Parameters<typeof runOnnx>[2] & { ref?: Fn; tol?: number } = {},
): Promise<void> {
  const tfo = new TfjsOps();
  const want = tf.tidy(() => (opts.ref ?? fn)(tfo, inputs));
  const got = await runOnnx(fn, inputs, opts);
  assert.deepEqual(got.dims, want.shape, `${name}: shape`);
  const w = want.dataSync();
  let err = 0;
  got.data.forEach((v, i) => {
    err = Math.max(err, v === w[i] ? 0 : Math.abs(v - w[i]));
  });
  assert.ok(err <= (opts.tol ?? 1e-5), `${name}: off by ${err}`);
  want.dispose();
  tfo.dispose();
}

test("every primitive on ONNX Runtime equals tfjs (symbolic dims resolved from the inputs)", async (t) => {
  if (!ort) return t.skip("onnxruntime-node unavailable");
  const x = rand([2, 3, 4]);
  const ids = tf.tensor2d(
    [
      [1, 4, 1],
      [0, 4, 4],
    ],
    undefined,
    "int32",
  );
  await check("add", (o, [a, b]) => o.add(a, b), [x, rand([4])]);
  await check("sub scalar", (o, [a]) => o.sub(1, a), [x]);
  await check("mul", (o, [a, b]) => o.mul(a, b), [x, rand([2, 1, 4])]);
  await check("div", (o, [a, b]) => o.div(a, b), [x, rand([3, 4], 0.5, 2)]);
  for (const u of ["neg", "exp", "tanh"] as const) await check(u, (o, [a]) => o[u](a), [x]);
  await check("log", (o, [a]) => o.log(a), [rand([2, 3], 0.5, 2)]);
  await check("sqrt", (o, [a]) => o.sqrt(a), [rand([2, 3], 0.5, 2)]);
  await check("erf", (o, [a]) => o.erf(a), [x], { tol: 1e-4 }); // tfjs's erf is an approximation
  await check("sum", (o, [a]) => o.sum(a, [0, 2]), [x]);
  await check("mean keep", (o, [a]) => o.mean(a, -1, true), [x]);
  await check("softmax", (o, [a]) => o.softmax(a), [x]);
  await check("logSoftmax", (o, [a]) => o.logSoftmax(a), [x]);
  for (const transposeA of [false, true])
    for (const transposeB of [false, true]) {
      await check(`matMul 2-D ${transposeA} ${transposeB}`, (o, [a, b]) => o.matMul(a, b, { transposeA, transposeB }), [
        rand([4, 4]),
        rand([4, 4]),
      ]);
      await check(`matMul 4-D ${transposeA} ${transposeB}`, (o, [a, b]) => o.matMul(a, b, { transposeA, transposeB }), [
        rand([2, 3, 4, 4]),
        rand([2, 3, 4, 4]),
      ]);
    }
  await check("matMul broadcast", (o, [a, b]) => o.matMul(a, b), [rand([2, 1, 3, 4]), rand([3, 4, 2])]);
  await check("gather", (o, [tbl, i]) => o.gather(tbl, i), [rand([6, 3]), ids]);
  await check("scatterAddRows (ScatterND, reduction add)", (o, [i, r]) => o.scatterAddRows(i, r, 6), [
    ids,
    rand([2, 3, 5]),
  ]);
  await check("reshape symbolic", (o, [a]) => o.reshape(a, [o.shape(a)[0], 3, 2, 2]), [x], { symbolic: [["batch"]] });
  await check(
    "flatten and unflatten two symbolic dims",
    (o, [a]) => {
      const [B, T] = o.shape(a);
      const flat = o.reshape(a, [dimProduct([B, T]), 4]);
      return o.reshape(o.mul(flat, 2), [B, T, 2, 2]);
    },
    [x],
    { symbolic: [["batch", "seq"]] },
  );
  await check("transpose", (o, [a]) => o.transpose(a, [2, 0, 1]), [x]);
  await check("slice", (o, [a]) => o.slice(a, 1, 1, 2), [x]);
  await check("slice from the end", (o, [a]) => o.slice(a, 1, -1, 1), [x], { symbolic: [[undefined, "seq"]] });
  await check("slice of a symbolic length", (o, [tbl, a]) => o.slice(tbl, 0, 0, o.shape(a)[1]), [rand([5, 4]), x], {
    symbolic: [[], ["batch", "seq"]],
  });
  await check("pad", (o, [a]) => o.pad(a, 1, 2, 1), [x]);
  await check("concat", (o, [a, b]) => o.concat([a, b], -1), [x, rand([2, 3, 2])]);
  await check("broadcastTo symbolic", (o, [a, b]) => o.add(o.broadcastTo(a, o.shape(b)), b), [rand([1, 3, 1]), x], {
    symbolic: [[], ["batch", undefined, undefined]],
  });
  await check("causal mask numeric", (o, [a]) => o.add(o.mul(a, 0), o.exp(o.causalMask(3))), [rand([3, 3])]);
  await check(
    "causal mask symbolic",
    (o, [a]) => o.add(o.mul(a, 0), o.exp(o.causalMask(o.shape(a)[1]))),
    [rand([2, 5, 5])],
    {
      symbolic: [[undefined, "seq", "seq"]],
    },
  );
  tf.dispose([x, ids]);
});

test("fused kernels equal the composite definition (LayerNormalization, Gelu, one MatMul for Q/K/V, contrib Attention)", async (t) => {
  if (!ort) return t.skip("onnxruntime-node unavailable");
  const E = 8;
  const x = rand([2, 5, E], -2, 2);
  await check(
    "layerNorm",
    (o, [a, s, b]) => layers.layerNorm(o, a, { scale: s, shift: b }),
    [x, rand([E]), rand([E])],
    {
      fusion: { layerNorm: true },
      symbolic: [["batch", "seq"]],
    },
  );
  await check("gelu", (o, [a]) => layers.gelu(o, a), [x], { fusion: { gelu: true } });
  await check(
    "linear 3-D",
    (o, [a, w, b]) => layers.linear(o, a, { weight: w, bias: b }),
    [x, rand([E, 6]), rand([6])],
    {
      fusion: { linear: true },
      symbolic: [["batch", "seq"]],
    },
  );
  const att: Fn = (o, [a, wq, wk, wv, bq, bk, bv, wo, bo]) =>
    layers.multiHeadAttention(
      o,
      a,
      {
        query: { weight: wq, bias: bq },
        key: { weight: wk, bias: bk },
        value: { weight: wv, bias: bv },
        out: { weight: wo, bias: bo },
      },
      { nHeads: 2 },
    );
  const attInputs = [
    x,
    ...[0, 1, 2].map(() => rand([E, E])),
    ...[0, 1, 2].map(() => rand([E])),
    rand([E, E]),
    rand([E]),
  ];
  const tfRef = { ref: att };
  // Q/K/V as one MatMul: weights folded into one initializer, or concatenated in the graph when they are inputs.
  await check("attention, fused Q/K/V (initializers)", att, attInputs, {
    ...tfRef,
    fusion: { linear: true },
    asConstants: true,
  });
  await check("attention, fused Q/K/V (inputs)", att, attInputs, {
    ...tfRef,
    fusion: { linear: true },
    symbolic: [["batch", "seq"]],
  });
  await check("attention, contrib Attention op", att, attInputs, {
    ...tfRef,
    fusion: { attention: true },
    asConstants: true,
    tol: 1e-4,
  });
  tf.dispose(attInputs);
});
