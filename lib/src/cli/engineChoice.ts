/**
 * `--engine auto|onnx|tfjs` for the gradient-free commands (classify, generate): ONNX Runtime builds a
 * session from the weights first (2–6 s for 124M), then runs a forward pass 10–20× faster than
 * tfjs-wasm, so "auto" takes it when there is enough work to pay for the build. Measured for 124M on a
 * 2-core AMD EPYC, whole command: classify 1 text 12.0 s tfjs / 13.1 s onnx, 8 texts 26.6 s / 17.6 s;
 * generate 15 tokens 4.5 s / 7.8 s, 30 tokens 9.9 s / 5.7 s (in process, model loaded). With the weight cache
 * (2026-12-02, the same machine at load average 7–9): classify 1 text 14.8 s tfjs / 20.7 s onnx, generate 1 token
 * 16.5 s / 28.2 s (`npm start`, whole command); onnx builds its session from the cached arrays without tfjs.
 */
import { ConfigError } from "../errors";
import type { ParsedValues } from "./command";
import { loadOnnxRuntime, onnxRuntimeUnavailableReason } from "../engine/runtime/onnxRuntime";
import { syncReadsAvailable } from "../webgpuAdapter";

/** The --engine lines of a command's help, the descriptions starting at column `column`. */
export function engineHelp(column: number, autoWhen: string): string {
  const pad = " ".repeat(column);
  return [
    `  --engine E${" ".repeat(Math.max(1, column - 12))}auto (default), onnx or tfjs: what runs the forward passes. ONNX Runtime`,
    `${pad}first builds a session from the weights (2–6 s for 124M), then runs 10–20x`,
    `${pad}faster than tfjs; auto takes it for ${autoWhen}`,
  ].join("\n");
}

/**
 * @param work how much work there is (texts, new tokens); @param threshold from how much "auto" picks ONNX Runtime
 * @throws ConfigError for an unknown engine, or onnx asked for where onnxruntime-node cannot load
 */
export function chooseEngine(value: ParsedValues[string], work: number, threshold: number): "onnx" | "tfjs" {
  const want = value === undefined ? "auto" : String(value);
  if (!["auto", "onnx", "tfjs"].includes(want))
    throw new ConfigError(`--engine must be auto, onnx or tfjs, got "${want}"`);
  if (want === "tfjs") return "tfjs";
  // On WebGPU the weights stay on the GPU: ONNX Runtime (CPU) would have to read them back synchronously.
  if (!syncReadsAvailable()) {
    if (want === "onnx")
      throw new ConfigError("--engine onnx cannot read the weights from the WebGPU backend; use --engine tfjs");
    return "tfjs";
  }
  const available = loadOnnxRuntime() !== undefined;
  if (want === "onnx") {
    if (!available)
      throw new ConfigError(
        `--engine onnx: onnxruntime-node cannot load here (${onnxRuntimeUnavailableReason()}); use --engine tfjs`,
      );
    return "onnx";
  }
  return available && work >= threshold ? "onnx" : "tfjs";
}
