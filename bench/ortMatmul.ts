/**
 * ONNX Runtime plain-matmul throughput: the reference for "prefix pass ≥ 60% of ORT's matmul GFLOP/s".
 * Single-node graphs, weights as initializers, median of `reps` runs after warm-up.
 */
import { loadOnnxRuntime } from "llm-spam-classifier";
import { createOrtSession, OnnxDataType, OnnxGraphBuilder } from "llm-spam-classifier/engine";

export interface MatmulResult {
  shape: string;
  ms: number;
  gflops: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Times [m,k] @ [k,n] for the linear layers of GPT-2 small on a batch of 8 × 120 tokens. */
export async function measureOrtMatmul(reps = 15): Promise<MatmulResult[]> {
  const ort = loadOnnxRuntime();
  if (!ort) return [];
  const out: MatmulResult[] = [];
  for (const [m, k, n] of [
    [960, 768, 3072],
    [960, 3072, 768],
    [960, 768, 2304],
  ]) {
    const g = new OnnxGraphBuilder("matmul");
    const a = g.input("a", OnnxDataType.FLOAT, [m, k]);
    const w = g.floatInit(
      "w",
      [k, n],
      Float32Array.from({ length: k * n }, (_, i) => Math.sin(i) * 0.02),
    );
    g.node("MatMul", [a, w], {}, ["y"]);
    g.output("y", OnnxDataType.FLOAT, [m, n]);
    const session = await createOrtSession(g.build());
    const x = new ort.Tensor(
      "float32",
      Float32Array.from({ length: m * k }, (_, i) => Math.cos(i)),
      [m, k],
    );
    for (let i = 0; i < 3; i++) await session.run({ a: x });
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await session.run({ a: x });
      times.push(performance.now() - t0);
    }
    await session.release();
    const ms = median(times);
    out.push({ shape: `${m}x${k} @ ${k}x${n}`, ms, gflops: (2 * m * k * n) / (ms * 1e6) });
  }
  return out;
}
