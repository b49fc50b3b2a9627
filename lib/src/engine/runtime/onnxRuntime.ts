/**
 * Lazy loading of onnxruntime-node (CPU binaries shipped in the npm package) and session creation with
 * our defaults. When the package or its native library cannot load, `loadOnnxRuntime()` returns undefined
 * and callers fall back to tfjs; `ONNX_DISABLE=1` forces that fallback (tests, comparisons).
 */
import * as os from "node:os";
import type * as Ort from "onnxruntime-node";

/** The onnxruntime-node module type. */
export type OrtModule = typeof Ort;
/** An ONNX Runtime inference session. */
export type OrtSession = Ort.InferenceSession;

let cached: { ort?: OrtModule; reason?: string } | undefined;

/**
 * Loads onnxruntime-node once.
 * @returns the module, or undefined when it cannot load (see `onnxRuntimeUnavailableReason()`).
 */
export function loadOnnxRuntime(): OrtModule | undefined {
  if (cached) return cached.ort;
  if (process.env.ONNX_DISABLE === "1") {
    cached = { reason: "disabled by ONNX_DISABLE=1" };
    return undefined;
  }
  try {
    // Synchronous and on first use (the callers are synchronous); a load failure means "unavailable".
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional native module, loaded on demand
    const ort = require("onnxruntime-node") as OrtModule;
    cached = { ort };
  } catch (err) {
    cached = { reason: err instanceof Error ? err.message.split("\n")[0] : String(err) };
  }
  return cached.ort;
}

/** Why onnxruntime-node is unavailable (undefined when it loaded or was not tried). */
export function onnxRuntimeUnavailableReason(): string | undefined {
  return cached?.reason;
}

/** Version string of the loaded onnxruntime-node, or undefined. */
export function onnxRuntimeVersion(): string | undefined {
  return loadOnnxRuntime()?.env.versions.node;
}

/** Options for `createOrtSession`. */
export interface OrtSessionOptions {
  /** Intra-op threads; default `os.cpus().length` (env ORT_THREADS overrides). */
  threads?: number;
  /** Graph optimisation level; default "all". */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /**
   * Let idle intra-op threads spin (default true: fastest for back-to-back runs). Set false for sessions that
   * alternate with other CPU work (the training step's AdamW), so ORT's threads don't compete with it.
   */
  spinning?: boolean;
}

/**
 * Our session options for the CPU execution provider (shared by `createOrtSession` and the matmul
 * sessions of ortMatMul.ts, which load models through onnxruntime-node's binding directly).
 */
export function ortSessionOptions(opts: OrtSessionOptions = {}): Ort.InferenceSession.SessionOptions {
  const envThreads = Number(process.env.ORT_THREADS);
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: opts.threads ?? (envThreads > 0 ? envThreads : os.cpus().length),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: opts.optimization ?? "all",
    logSeverityLevel: 3, // errors only (no "removing unused initializer" warnings)
    ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {}),
  };
}

/**
 * Creates an inference session from ModelProto bytes on the CPU execution provider.
 * @throws Error when onnxruntime-node is unavailable or the model is rejected.
 */
export async function createOrtSession(modelBytes: Uint8Array, opts: OrtSessionOptions = {}): Promise<OrtSession> {
  const ort = loadOnnxRuntime();
  if (!ort) throw new Error(`onnxruntime-node is unavailable: ${onnxRuntimeUnavailableReason()}`);
  return ort.InferenceSession.create(modelBytes, ortSessionOptions(opts));
}
