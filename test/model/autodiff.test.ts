import { test, before } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, GPTModel } from "llm-spam-classifier";
import {
  DiffOps,
  TfjsOps,
  gptForward,
  layers,
  readoutWeights,
  type Ops,
  type Readout,
  type Tracked,
} from "llm-spam-classifier/model";

// Every primitive's VJP (autodiff.ts), run on tfjs, against tfjs's own autodiff (tf.grads) of the same
// function, on random inputs with a random output cotangent.

before(async () => {
  await initBackend();
});

type Fn = <T>(o: Ops<T>, xs: T[]) => T;

let seed = 1;
const rand = (shape: number[], lo = -1, hi = 1) => tf.randomUniform(shape, lo, hi, "float32", seed++);

/** Max |a - b| relative to max(1, max|b|). */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1, tf.max(tf.abs(b)).dataSync()[0]));
}

/** Checks DiffOps' gradients of `fn` w.r.t. every input against tf.grads. */
function checkVjp(name: string, fn: Fn, inputs: tf.Tensor[], tol = 1e-5): void {
  const tfo = new TfjsOps();
  tf.tidy(() => {
    const out = fn(tfo, inputs);
    const seedT = rand(out.shape);
    const want = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(fn(tfo, xs), seedT)))(inputs);
    const d = new DiffOps(tfo);
    const vars = inputs.map((x) => d.variable(x));
    const y = fn<Tracked<tf.Tensor>>(d, vars);
    assert.ok(relErr(y.value, out) <= 1e-6, `${name}: forward differs`);
    const got = d.grad(y, vars, seedT);
    got.forEach((g, i) => {
      assert.deepEqual(g.shape, inputs[i].shape, `${name}: shape of gradient ${i}`);
      const e = relErr(g, want[i]);
      assert.ok(e <= tol, `${name}: gradient ${i} off by ${e}`);
    });
  });
  tfo.dispose();
}

test("elementwise VJPs (with broadcasting and scalar operands) equal tf.grads", () => {
  const a = () => rand([2, 3, 4]);
  const pos = (shape: number[]) => rand(shape, 0.5, 2);
  checkVjp("add", (o, [x, y]) => o.add(x, y), [a(), rand([4])]);
  checkVjp("add keepdims broadcast", (o, [x, y]) => o.add(x, y), [a(), rand([2, 1, 4])]);
  checkVjp("sub", (o, [x, y]) => o.sub(x, y), [rand([3, 1]), a()]);
  checkVjp("sub scalar", (o, [x]) => o.sub(1, x), [a()]);
  checkVjp("mul", (o, [x, y]) => o.mul(x, y), [a(), rand([1, 3, 1])]);
  checkVjp("mul self", (o, [x]) => o.mul(o.mul(x, x), 0.5), [a()]);
  checkVjp("div", (o, [x, y]) => o.div(x, y), [a(), pos([3, 4])]);
  checkVjp("div scalar", (o, [x]) => o.div(x, 3), [a()]);
  checkVjp("neg", (o, [x]) => o.neg(x), [a()]);
  checkVjp("exp", (o, [x]) => o.exp(x), [a()]);
  checkVjp("log", (o, [x]) => o.log(x), [pos([2, 3, 4])]);
  checkVjp("sqrt", (o, [x]) => o.sqrt(x), [pos([2, 3, 4])]);
  checkVjp("tanh", (o, [x]) => o.tanh(x), [rand([2, 3, 4], -3, 3)]);
  checkVjp("erf", (o, [x]) => o.erf(x), [rand([2, 3, 4], -2, 2)], 1e-4); // tfjs's erf is an approximation
});

test("reduction, softmax and matMul VJPs equal tf.grads", () => {
  checkVjp("sum keep", (o, [x]) => o.sum(x, -1, true), [rand([2, 3, 4])]);
  checkVjp("sum two axes", (o, [x]) => o.sum(x, [0, 2]), [rand([2, 3, 4])]);
  checkVjp("mean", (o, [x]) => o.mean(x, 1), [rand([2, 3, 4])]);
  checkVjp("mean keep", (o, [x]) => o.mean(x, -1, true), [rand([2, 3, 4])]);
  checkVjp("softmax", (o, [x]) => o.softmax(x), [rand([2, 3, 5], -3, 3)]);
  checkVjp("logSoftmax", (o, [x]) => o.logSoftmax(x), [rand([4, 5], -3, 3)]);
  for (const transposeA of [false, true])
    for (const transposeB of [false, true]) {
      const a = transposeA ? rand([2, 3, 5, 4]) : rand([2, 3, 4, 5]);
      const b = transposeB ? rand([2, 3, 6, 5]) : rand([2, 3, 5, 6]);
      checkVjp(`matMul ${transposeA} ${transposeB}`, (o, [x, y]) => o.matMul(x, y, { transposeA, transposeB }), [a, b]);
    }
  checkVjp("matMul 2-D", (o, [x, y]) => o.matMul(x, y), [rand([4, 5]), rand([5, 3])]);
  checkVjp("matMul broadcast batch", (o, [x, y]) => o.matMul(x, y), [rand([2, 1, 4, 5]), rand([3, 5, 2])]);
});

test("indexing and shape VJPs equal tf.grads (gather's is a scatter-add of the rows, repeated ids summed)", () => {
  const ids = tf.tensor2d(
    [
      [1, 4, 1],
      [0, 4, 4],
    ],
    undefined,
    "int32",
  );
  // ids are data: a constant of the tape under DiffOps
  const idsOf = <T>(o: Ops<T>): T => (o instanceof DiffOps ? o.lift(ids) : ids) as T;
  checkVjp("gather", (o, [t]) => o.gather(t, idsOf(o)), [rand([6, 3])]);
  checkVjp("scatterAddRows", (o, [r]) => o.scatterAddRows(idsOf(o), r, 6), [rand([2, 3, 3])]);
  checkVjp("reshape", (o, [x]) => o.reshape(x, [6, 4]), [rand([2, 3, 4])]);
  checkVjp("transpose", (o, [x]) => o.transpose(x, [2, 0, 1]), [rand([2, 3, 4])]);
  checkVjp("slice", (o, [x]) => o.slice(x, 1, 1, 2), [rand([2, 4, 3])]);
  checkVjp("slice from the end", (o, [x]) => o.slice(x, -2, -1, 1), [rand([2, 4, 3])]);
  checkVjp("pad", (o, [x]) => o.pad(x, 0, 2, 1), [rand([2, 3])]);
  checkVjp("concat", (o, [x, y]) => o.concat([x, y], -1), [rand([2, 3]), rand([2, 2])]);
  checkVjp("broadcastTo", (o, [x]) => o.broadcastTo(x, [2, 3, 4]), [rand([3, 1])]);
  ids.dispose();
});

/** DiffOps without its fused layers: every layer through the primitives' VJPs. */
function compositeOnly<T>(d: DiffOps<T>): DiffOps<T> {
  return Object.create(d, { fused: { value: undefined } }) as DiffOps<T>;
}

for (const [how, wrap] of [
  ["hand-derived VJPs (layer norm, GELU)", <T>(d: DiffOps<T>) => d],
  ["composites through the primitives' VJPs", compositeOnly],
] as const) {
  test(`the layers' gradients equal tf.grads of the composite definition: ${how}`, () => {
    const E = 8;
    const fn =
      (f: Fn): Fn =>
      (o, xs) =>
        f(o instanceof DiffOps ? (wrap(o) as unknown as typeof o) : o, xs);
    checkVjp(
      "layerNorm",
      fn((o, [x, s, b]) => layers.layerNorm(o, x, { scale: s, shift: b })),
      [rand([2, 3, E]), rand([E]), rand([E])],
    );
    checkVjp(
      "gelu",
      fn((o, [x]) => layers.gelu(o, x)),
      [rand([2, 3, E], -3, 3)],
    );
    checkVjp(
      "geluErf",
      fn((o, [x]) => layers.geluErf(o, x)),
      [rand([2, 3, E], -3, 3)],
      1e-4,
    );
    for (const causal of [true, false]) {
      checkVjp(
        `attention causal=${causal}`,
        fn((o, [x, wq, wk, wv, wo, bo]) =>
          layers.multiHeadAttention(
            o,
            x,
            { query: { weight: wq }, key: { weight: wk }, value: { weight: wv }, out: { weight: wo, bias: bo } },
            { nHeads: 2, causal },
          ),
        ),
        [rand([2, 5, E]), rand([E, E]), rand([E, E]), rand([E, E]), rand([E, E]), rand([E])],
      );
    }
    // BERT's post-LayerNorm block with a padding mask (the last two keys of row 1 hidden).
    const keep = tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [2, 5]);
    checkVjp(
      "postNormBlock with a padding mask",
      fn((o, [x, wq, wk, wv, wo, s1, b1, wf, wp, s2, b2]) => {
        const m = (o instanceof DiffOps ? o.lift(keep) : keep) as unknown as typeof x;
        const mask = layers.paddingMask(o, m);
        return layers.postNormBlock(
          o,
          x,
          {
            att: { query: { weight: wq }, key: { weight: wk }, value: { weight: wv }, out: { weight: wo } },
            norm1: { scale: s1, shift: b1 },
            ff: { fc: { weight: wf }, proj: { weight: wp } },
            norm2: { scale: s2, shift: b2 },
          },
          { nHeads: 2, mask, eps: 1e-12 },
        );
      }),
      [
        rand([2, 5, E]),
        rand([E, E]),
        rand([E, E]),
        rand([E, E]),
        rand([E, E]),
        rand([E], 0.5, 1.5),
        rand([E]),
        rand([E, 2 * E]),
        rand([2 * E, E]),
        rand([E], 0.5, 1.5),
        rand([E]),
      ],
      1e-3,
    );
    keep.dispose();
  });
}

/** A tiny GPT with random weights (LayerNorms random too, so their gradients are not special). */
function tinyModel(): GPTModel {
  const model = new GPTModel(
    { vocabSize: 20, contextLength: 8, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true },
    { seed: 3 },
  );
  model.replaceOutHead(3, { seed: 4 });
  for (const [name, v] of model.params)
    if (name.endsWith(".scale") || name.endsWith(".shift") || name.endsWith(".bias")) {
      const r = rand(v.shape, 0.5, 1.5);
      model.setParam(name, r);
      r.dispose();
    }
  return model;
}

test("the whole GPT under the tape: every parameter's gradient equals tfjs autodiff, for each readout", () => {
  const model = tinyModel();
  const names = [...model.params.keys()];
  const B = 2,
    T = 6;
  const ids = Int32Array.from([3, 7, 1, 19, 19, 19, 4, 4, 9, 2, 11, 19]);
  const tfo = new TfjsOps();
  const readouts = ["last", "first", "flexible", "mean"] as const;
  for (const kind of readouts)
    for (const causal of kind === "last" ? [true, false] : [true]) {
      tf.tidy(() => {
        const idsT = tf.tensor2d(ids, [B, T], "int32");
        const w = readoutWeights(kind, ids, B, { padTokenId: 19 });
        const targets = tf.oneHot(tf.tensor1d([2, 0], "int32"), 3);
        const readoutOf = <T>(wt: T | undefined): Readout<T> =>
          kind === "flexible"
            ? { kind: "position", weights: wt! }
            : kind === "mean"
              ? { kind: "mean", weights: wt! }
              : { kind };
        const lossTf = () =>
          layers.crossEntropy(
            tfo,
            gptForward(tfo, (n) => (model.params.has(n) ? model.tensor(n) : undefined), model.cfg, idsT, {
              head: true,
              causal,
              readout: readoutOf(w && tf.tensor2d(w, [B, T])),
            }),
            targets,
          ) as tf.Scalar;
        const { value, grads } = tf.variableGrads(
          lossTf,
          names.map((n) => model.variable(n)),
        );
        const d = new DiffOps(tfo);
        const vars = new Map(names.map((n) => [n, d.variable(model.variable(n))]));
        const loss = layers.crossEntropy(
          d,
          gptForward(d, (n) => vars.get(n), model.cfg, d.lift(idsT), {
            head: true,
            causal,
            readout: readoutOf(w && d.lift(tf.tensor2d(w, [B, T]))),
          }),
          d.lift(targets),
        );
        assert.ok(Math.abs(loss.value.dataSync()[0] - value.dataSync()[0]) < 1e-6, `${kind}: loss`);
        const got = d.grad(loss, [...vars.values()]);
        names.forEach((n, i) => {
          const e = relErr(got[i], grads[model.variable(n).name]);
          assert.ok(e < 1e-5, `${kind} causal=${causal}: gradient of ${n} off by ${e}`);
        });
      });
    }
  tfo.dispose();
  model.dispose();
});

test("readouts read what the bonus experiments read: last, first, last real token, mean of every position's logits", () => {
  const model = tinyModel();
  const B = 2,
    T = 6;
  const ids = Int32Array.from([3, 7, 1, 19, 19, 19, 4, 4, 9, 2, 11, 19]);
  const tfo = new TfjsOps();
  tf.tidy(() => {
    const idsT = tf.tensor2d(ids, [B, T], "int32");
    const full = model.forward(idsT); // [B, T, C], the book's model(x)
    const lookup = (n: string) => (model.params.has(n) ? model.tensor(n) : undefined);
    const read = (readout: Readout<tf.Tensor>) =>
      gptForward(tfo, lookup, model.cfg, idsT, { head: true, readout }).arraySync() as number[][];
    const fullA = full.arraySync();
    const close = (a: number[][], b: number[][]) => a.every((r, i) => r.every((v, j) => Math.abs(v - b[i][j]) < 1e-5));
    assert.ok(close(read({ kind: "last" }), [fullA[0][T - 1], fullA[1][T - 1]]));
    assert.ok(close(read({ kind: "first" }), [fullA[0][0], fullA[1][0]]));
    const flex = tf.tensor2d(readoutWeights("flexible", ids, B, { padTokenId: 19 })!, [B, T]);
    assert.ok(close(read({ kind: "position", weights: flex }), [fullA[0][2], fullA[1][4]]));
    const meanW = tf.tensor2d(readoutWeights("mean", ids, B)!, [B, T]);
    assert.ok(close(read({ kind: "mean", weights: meanW }), full.mean(1).arraySync() as number[][]));
  });
  tfo.dispose();
  model.dispose();
});
