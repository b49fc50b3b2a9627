import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { AdamWArena, WasmAdamW, adamwUpdateInPlace, resolveAdamW } from "llm-spam-classifier/engine";

const root = path.resolve(__dirname, "..", "..");

/** torch.optim.AdamW's update (decay first, then the bias-corrected step) in double precision: the reference. */
function torchAdamW(p: number[], g: number[], m: number[], v: number[], t: number, lr: number, wd: number): void {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - lr * wd;
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
    p[i] -= (lr / (1 - b1 ** t)) * (m[i] / denom);
  }
}

/** Deterministic values spread over several orders of magnitude, of both signs. */
const values = (n: number, seed: number, scale: number) =>
  Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * scale * 10 ** ((i % 7) - 3));

test("the committed WebAssembly bytes are what adamw.wat compiles to", () => {
  const r = spawnSync(process.execPath, [path.join(root, "scripts", "build-wasm.mjs"), "--check"], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
});

test("the AdamW kernel equals torch.optim.AdamW's formula over 3 steps (four lanes and the tail)", () => {
  for (const n of [1, 4, 11, 1027]) {
    const arena = new AdamWArena(AdamWArena.bytesFor([n, n, n, n]));
    const [p, g, m, v] = [0, 1, 2, 3].map(() => arena.alloc(n));
    // |p| ≤ 1, so that its float32 rounding (≤ 6e-8) is far below the tolerance, and that below each step (~lr)
    const ref = {
      p: Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + 1)),
      m: Array<number>(n).fill(0),
      v: Array<number>(n).fill(0),
    };
    p.set(ref.p);
    ref.p = Array.from(p); // the float32 start
    const gScale = Array<number>(n).fill(0); // the largest |g| of each element: m and v are sums of its size
    for (let t = 1; t <= 3; t++) {
      const grad = values(n, t + 1, 1e-2);
      g.set(grad);
      grad.forEach((x, i) => (gScale[i] = Math.max(gScale[i], Math.abs(x))));
      torchAdamW(ref.p, Array.from(g), ref.m, ref.v, t, 1e-3, 0.1);
      arena.update(p, g, m, v, t, resolveAdamW({ lr: 1e-3, weightDecay: 0.1 }));
    }
    for (let i = 0; i < n; i++) {
      assert.ok(Math.abs(p[i] - ref.p[i]) <= 1e-6, `n=${n} p[${i}]: ${p[i]} vs ${ref.p[i]}`);
      assert.ok(Math.abs(m[i] - ref.m[i]) <= 1e-6 * gScale[i], `n=${n} m[${i}]: ${m[i]} vs ${ref.m[i]}`);
      assert.ok(Math.abs(v[i] - ref.v[i]) <= 1e-6 * gScale[i] ** 2, `n=${n} v[${i}]: ${v[i]} vs ${ref.v[i]}`);
    }
  }
});

test("adamwUpdateInPlace runs the same kernel on arrays outside any arena", () => {
  const n = 37;
  const arena = new AdamWArena(AdamWArena.bytesFor([n, n, n, n]));
  const inArena = [0, 1, 2, 3].map(() => arena.alloc(n));
  const outside = [0, 1, 2, 3].map(() => new Float32Array(n));
  for (const [p, g] of [inArena, outside]) {
    p.set(values(n, 5, 1));
    g.set(values(n, 6, 1e-3));
  }
  const s = resolveAdamW({ lr: 5e-5 });
  for (let t = 1; t <= 2; t++) {
    arena.update(inArena[0], inArena[1], inArena[2], inArena[3], t, s);
    adamwUpdateInPlace(outside[0], outside[1], outside[2], outside[3], t, s);
  }
  for (const k of [0, 2, 3]) assert.deepEqual(Array.from(outside[k]), Array.from(inArena[k]));
});

test("an arena refuses arrays that are not its own and allocations beyond its size", () => {
  const a = new AdamWArena(AdamWArena.bytesFor([8, 8, 8, 8]));
  const [p, g, m] = [0, 1, 2].map(() => a.alloc(8));
  const s = resolveAdamW({});
  assert.throws(() => a.update(p, g, m, new Float32Array(8), 1, s), /must be one of this arena's/);
  assert.throws(() => a.alloc(9), RangeError);
  assert.throws(() => new AdamWArena(2 ** 31 + 16), RangeError);
});

test("WasmAdamW spreads parameters over arenas and steps each as one: same values as a single arena", () => {
  const sizes = { a: 300, b: 200, c: 7, d: 1 };
  const init = new Map(Object.entries(sizes).map(([n, k], i) => [n, Float32Array.from(values(k, i, 1))]));
  const one = new WasmAdamW(init);
  const many = new WasmAdamW(init, { maxArenaBytes: AdamWArena.bytesFor(Array(4).fill(300)) });
  assert.equal(one.arenas, 1);
  assert.equal(many.arenas, 2); // a alone; b, c and d together
  for (let t = 1; t <= 3; t++) {
    for (const opt of [one, many])
      for (const [n, k] of Object.entries(sizes)) opt.gradOutput(n).set(values(k, t * 10 + k, 1e-3));
    one.step(t, { lr: 1e-3 });
    many.step(t, { lr: 1e-3 });
  }
  for (const n of Object.keys(sizes)) {
    assert.deepEqual(Array.from(many.param(n)), Array.from(one.param(n)), n);
    assert.notDeepEqual(Array.from(one.param(n)), Array.from(init.get(n)!), `${n} moved`);
  }
  const moments = one.moments();
  assert.equal(moments.get("a")!.m.length, 300);
  many.setMoments(moments);
  many.reset(init);
  assert.deepEqual(Array.from(many.param("b")), Array.from(init.get("b")!));
  assert.ok(
    many
      .moments()
      .get("b")!
      .v.every((x) => x === 0),
    "reset zeroes the moments",
  );
  assert.throws(() => new WasmAdamW(init, { maxArenaBytes: 1024 }), /too large for one AdamW arena/);
});
