/**
 * Native matmuls for tfjs: routes tfjs's `BatchMatMul` kernel (wasm or cpu backend) to ONNX Runtime for
 * large products. tfjs-wasm multiplies on one thread at ~15–20 GFLOP/s (transposed or batched operands on a
 * naive loop at ~1–2); ONNX Runtime's MLAS reaches ~250 GFLOP/s on two cores here. Small products stay on
 * tfjs. Float32 throughout (summation order differs: results equal within float32 rounding).
 *
 * ONNX Runtime's JS API is asynchronous, a tfjs kernel is synchronous: we call the synchronous native
 * binding that onnxruntime-node's own session wrapper calls (`dist/binding`, pinned onnxruntime-node 1.30).
 * When that cannot load, `enableOrtMatMul()` returns false and tfjs keeps its kernel.
 * While enabled, the BatchMatMul gradient passes transposes as matmul flags (see `flagGradient`).
 */
import * as tf from "@tensorflow/tfjs";
import { OnnxGraphBuilder } from "../onnx/onnxGraph";
import { OnnxDataType } from "../onnx/onnxProto";
import { loadOnnxRuntime, ortSessionOptions } from "./onnxRuntime";

interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(
    feeds: Record<string, unknown>,
    fetches: Record<string, null>,
    options: object,
  ): Record<string, { data: Float32Array }>;
  dispose(): void;
}
interface Binding {
  binding: { InferenceSession: new () => BindingSession };
  initOrt(): void;
}

interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: tf.DataType;
}
/** The parts of tfjs's wasm and cpu backends the kernel uses (their `makeOutput`s differ; cpu kernels use `makeTensorInfo`). */
interface WasmLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: unknown): TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): TensorInfo;
  typedArrayFromHeap?(t: TensorInfo): Float32Array;
}

/** One session per (transposeA, transposeB): rank-3 a, b → [batch, M, N] with numpy batch broadcasting. */
function buildMatMul(transposeA: boolean, transposeB: boolean): Uint8Array {
  const g = new OnnxGraphBuilder("batch_matmul");
  let a = g.input("a", OnnxDataType.FLOAT, ["ba", "a1", "a2"]);
  let b = g.input("b", OnnxDataType.FLOAT, ["bb", "b1", "b2"]);
  if (transposeA) a = g.op("Transpose", [a], { perm: [0, 2, 1] });
  if (transposeB) b = g.op("Transpose", [b], { perm: [0, 2, 1] });
  g.node("MatMul", [a, b], {}, ["y"]);
  g.output("y", OnnxDataType.FLOAT, ["batch", "m", "n"]);
  return g.build();
}

/**
 * One session per (transposeA, transposeB) for plain 2-D products (every Linear layer and its weight
 * gradient): `Gemm` applies the transposes inside MLAS's packing, where `Transpose` + `MatMul` would first
 * copy the operand (the weight gradients xᵀ·dy ran at a third of the plain matmul's speed that way).
 */
function buildGemm(transposeA: boolean, transposeB: boolean): Uint8Array {
  const g = new OnnxGraphBuilder("gemm");
  const a = g.input("a", OnnxDataType.FLOAT, ["a1", "a2"]);
  const b = g.input("b", OnnxDataType.FLOAT, ["b1", "b2"]);
  g.node("Gemm", [a, b], { transA: transposeA ? 1 : 0, transB: transposeB ? 1 : 0 }, ["y"]);
  g.output("y", OnnxDataType.FLOAT, ["m", "n"]);
  return g.build();
}

/** Sums a broadcast gradient back to an input's shape (batch dims that were 1 or absent). */
function reduceTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  let r = g;
  const extra = r.rank - shape.length;
  if (extra > 0) r = tf.sum(r, [...Array(extra).keys()]);
  const axes = shape.map((d, i) => (d === 1 && r.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0);
  return axes.length ? tf.sum(r, axes, true) : r;
}

/**
 * BatchMatMul gradient that keeps transposes as matmul flags (ONNX Runtime applies them inside the product;
 * explicit tfjs-wasm transposes would cost more than the matmul itself).
 */
const flagGradient: tf.GradConfig = {
  kernelName: "BatchMatMul",
  inputsToSave: ["a", "b"],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const d = dy as tf.Tensor;
    const { transposeA: tA, transposeB: tB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    // d(a) and d(b) of op(a) @ op(b) for each pair of flags, as products with flags (no explicit transposes).
    const mm = (x: tf.Tensor, y: tf.Tensor, tx: boolean, ty: boolean) => () => tf.matMul(x, y, tx, ty);
    const [da, db] = !tA
      ? !tB
        ? [mm(d, b, false, true), mm(a, d, true, false)]
        : [mm(d, b, false, false), mm(d, a, true, false)]
      : !tB
        ? [mm(b, d, false, true), mm(a, d, false, false)]
        : [mm(b, d, true, true), mm(d, a, true, true)];
    return { a: () => reduceTo(da(), a.shape), b: () => reduceTo(db(), b.shape) };
  },
};

function setGradient(config: tf.GradConfig): void {
  const warn = console.warn;
  console.warn = () => {}; // tfjs warns "Overriding the gradient for 'BatchMatMul'"
  try {
    tf.registerGradient(config);
  } finally {
    console.warn = warn;
  }
}

let state:
  | {
      previousGradient: tf.GradConfig | undefined;
      sessions: BindingSession[];
      gemms: BindingSession[];
      /** acquireOrtMatMul holders; the kernel stays routed while any is held (or after enableOrtMatMul). */
      holders: number;
      ort: NonNullable<ReturnType<typeof loadOnnxRuntime>>;
      originals: Map<string, tf.KernelConfig>;
      minFlops: number;
      calls: number;
      flops: number;
    }
  | undefined;

/** Number of matmuls and FLOPs ONNX Runtime did for tfjs since `enableOrtMatMul`. */
export function ortMatMulStats(): { enabled: boolean; calls: number; flops: number } {
  return { enabled: state !== undefined, calls: state?.calls ?? 0, flops: state?.flops ?? 0 };
}

function kernelFor(backendName: string, original: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const s = state!;
    const { a, b } = args.inputs as unknown as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const ra = a.shape.length,
      rb = b.shape.length;
    const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2],
      K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1),
      batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batch = Math.max(batchA, batchB),
      flops = 2 * batch * M * N * K;
    if (
      a.dtype !== "float32" ||
      b.dtype !== "float32" ||
      flops < s.minFlops ||
      (batchA !== batchB && batchA !== 1 && batchB !== 1)
    ) {
      return original.kernelFunc(args);
    }
    const backend = args.backend as unknown as WasmLike;
    const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), M, N];
    const a3 = [batchA, a.shape[ra - 2], a.shape[ra - 1]],
      b3 = [batchB, b.shape[rb - 2], b.shape[rb - 1]];
    const which = (transposeA ? 2 : 0) + (transposeB ? 1 : 0);
    const plain2d = batchA === 1 && batchB === 1;
    const session = plain2d ? s.gemms[which] : s.sessions[which];
    const dimsA = plain2d ? a3.slice(1) : a3,
      dimsB = plain2d ? b3.slice(1) : b3;
    let out: TensorInfo;
    if (backend.typedArrayFromHeap) {
      // wasm: allocate the output first (may grow the heap), then zero-copy views of the inputs.
      out = backend.makeOutput(outShape, "float32");
      const feeds = {
        a: new s.ort.Tensor("float32", backend.typedArrayFromHeap(a), dimsA),
        b: new s.ort.Tensor("float32", backend.typedArrayFromHeap(b), dimsB),
      };
      backend.typedArrayFromHeap(out).set(session.run(feeds, { y: null }, {}).y.data);
    } else {
      const feeds = {
        a: new s.ort.Tensor("float32", backend.readSync(a.dataId) as Float32Array, dimsA),
        b: new s.ort.Tensor("float32", backend.readSync(b.dataId) as Float32Array, dimsB),
      };
      out = backend.makeTensorInfo(outShape, "float32", session.run(feeds, { y: null }, {}).y.data);
    }
    s.calls++;
    s.flops += flops;
    return out;
  };
}

/**
 * Routes tfjs BatchMatMul (the current backend, wasm or cpu) with at least `minFlops` FLOPs to ONNX Runtime.
 * Idempotent. Call after `initBackend()`.
 * @returns true when enabled, false when onnxruntime-node (or its binding) is unavailable or the backend is native
 */
export function enableOrtMatMul(opts: { minFlops?: number; threads?: number } = {}): boolean {
  if (state) {
    state.minFlops = opts.minFlops ?? state.minFlops;
    return true;
  }
  const backendName = tf.getBackend();
  if (backendName !== "wasm" && backendName !== "cpu") return false;
  const ort = loadOnnxRuntime();
  if (!ort) return false;
  let binding: Binding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- ORT's internal binding, loaded on demand
    binding = require("onnxruntime-node/dist/binding") as Binding;
    binding.initOrt();
  } catch {
    return false;
  }
  // No spinning: tfjs-wasm's element-wise kernels run on the main thread between the matmuls.
  const options = ortSessionOptions({ threads: opts.threads, spinning: false });
  const open = (build: (ta: boolean, tb: boolean) => Uint8Array) =>
    [false, true].flatMap((ta) =>
      [false, true].map((tb) => {
        const bytes = build(ta, tb);
        const s = new binding.binding.InferenceSession();
        s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, options);
        return s;
      }),
    );
  const original = tf.getKernel("BatchMatMul", backendName);
  if (!original) return false;
  state = {
    previousGradient: tf.getGradient("BatchMatMul"),
    sessions: open(buildMatMul),
    gemms: open(buildGemm),
    holders: 0,
    ort,
    originals: new Map([[backendName, original]]),
    minFlops: opts.minFlops ?? 2e6,
    calls: 0,
    flops: 0,
  };
  tf.unregisterKernel("BatchMatMul", backendName);
  tf.registerKernel({ ...original, kernelFunc: kernelFor(backendName, original) });
  setGradient(flagGradient);
  return true;
}

/** Restores tfjs's own BatchMatMul kernel and frees the sessions. */
export function disableOrtMatMul(): void {
  if (!state) return;
  for (const [backendName, original] of state.originals) {
    tf.unregisterKernel("BatchMatMul", backendName);
    tf.registerKernel(original);
  }
  if (state.previousGradient) setGradient(state.previousGradient);
  [...state.sessions, ...state.gemms].forEach((s) => s.dispose());
  state = undefined;
}

/**
 * Routes tfjs's matmuls to ONNX Runtime for as long as the returned release function has not been called
 * (reference-counted: the kernel goes back to tfjs's when the last holder releases, unless `enableOrtMatMul`
 * had enabled it before). The plain training runner holds it for its lifetime. `ORT_MATMUL=0` turns it off.
 * @returns the release function, or undefined when ONNX Runtime cannot take tfjs's matmuls here
 */
export function acquireOrtMatMul(): (() => void) | undefined {
  if (process.env.ORT_MATMUL === "0") return undefined;
  const wasEnabled = state !== undefined;
  if (!enableOrtMatMul()) return undefined;
  const s = state!;
  if (wasEnabled && s.holders === 0) s.holders = Number.POSITIVE_INFINITY; // enabled by hand: never released here
  s.holders++;
  let released = false;
  return () => {
    if (released || state !== s) return;
    released = true;
    if (--s.holders === 0) disableOrtMatMul();
  };
}
