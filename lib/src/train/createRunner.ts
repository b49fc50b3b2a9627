/**
 * Choosing a runner: the plain path (lib/src/train/runner.ts) or the exact fast path of the
 * performance engine (frozen prefix computed once per text, last-position suffix), when the engine is
 * part of this build and the model qualifies (frozen embeddings and leading blocks, dropout 0).
 * Both give the same numbers; the training loop sees only the ClassifierRunner interface.
 */
import type { Batch } from "../data/dataLoader";
import { ConfigError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import type { AdamW, AdamWSettings } from "./adamw";
import { PlainRunner, type ClassifierRunner, type PlainRunnerOptions } from "./runner";

/** What the training loop needs from a fast classifier path (lib/src/engine's FastClassifierPath). */
export interface FastPathLike {
  precompute(rows: readonly Int32Array[]): Promise<unknown>;
  logitsLastToken(batch: Batch): Promise<Float32Array>;
  trainStep(batch: Batch, labels: ArrayLike<number>, optim: AdamWSettings): Promise<number>;
  dispose(): Promise<void>;
}

export interface FastPathFactoryOptions {
  cacheDir?: string;
  log?: (line: string) => void;
  onPrefixProgress?: (done: number, total: number) => void;
}

/** Creates a fast path for a model, or says why it cannot. */
export type FastPathFactory = (
  model: GPTModel,
  opts: FastPathFactoryOptions,
) => Promise<FastPathLike | { reason: string }>;

/** The fast path (or the native trainer, which has the same interface) with AdamW on the optimizer's settings. */
export class FastRunner implements ClassifierRunner {
  constructor(
    readonly path: FastPathLike,
    private readonly optimizer?: AdamW,
    readonly kind: "fast" | "native" = "fast",
  ) {}

  logits(batch: Batch): Promise<Float32Array> {
    return this.path.logitsLastToken(batch);
  }

  trainStep(batch: Batch): Promise<number> {
    const o = this.optimizer;
    if (!o) throw new Error("FastRunner.trainStep needs an optimizer");
    return this.path.trainStep(batch, batch.labels, o.settings);
  }

  async finish(): Promise<void> {
    await this.path.dispose();
  }
}

/** Creates the native trainer (lib/src/engine/ortTrainer.ts) for a model, or says why it cannot. */
export type NativeTrainerFactory = (model: GPTModel) => Promise<FastPathLike | { reason: string }>;

/** Native engines for the plain path (lib/src/engine/plainAcceleration.ts). */
export type PlainAccelerationFactory = (model: GPTModel) => Promise<PlainRunnerOptions & { description: string }>;

/** Loads an optional module of the performance engine; undefined when this build has none. */
function optionalEngineModule<T>(name: string): T | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module this build may lack (run-time path)
    return require(`../engine/${name}`) as T;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "MODULE_NOT_FOUND" && new RegExp(`engine[\\\\/]${name}`).test(e.message)) return undefined;
    throw err;
  }
}

let registered: FastPathFactory | undefined;

/** Registers the fast path used by createRunner (the performance engine does this; tests may too). */
export function registerFastPath(factory: FastPathFactory | undefined): void {
  registered = factory;
}

/** The registered fast path, else the engine's `createFastClassifierPath` when this build has it. */
export function availableFastPath(): FastPathFactory | undefined {
  if (registered) return registered;
  const engine = optionalEngineModule<{ createFastClassifierPath?: unknown }>("fastPath");
  return typeof engine?.createFastClassifierPath === "function"
    ? (engine.createFastClassifierPath as FastPathFactory)
    : undefined;
}

/**
 * The plain runner, with the engine's native help unless `native` is false: the frozen trunk on ONNX
 * Runtime (computed for every batch) and tfjs's matmuls on ONNX Runtime. Same numbers within float32
 * rounding; `native: false` (or ONNX_DISABLE=1) computes every layer with tfjs's own kernels.
 */
export async function createPlainRunner(
  model: GPTModel,
  optimizer: AdamW | undefined,
  opts: { native?: boolean; log?: (line: string) => void } = {},
): Promise<PlainRunner> {
  const factory =
    opts.native === false
      ? undefined
      : optionalEngineModule<{ createPlainAcceleration?: PlainAccelerationFactory }>("plainAcceleration")
          ?.createPlainAcceleration;
  if (!factory) {
    opts.log?.("Plain path: every layer in tfjs");
    return new PlainRunner(model, optimizer);
  }
  const { description, ...native } = await factory(model);
  opts.log?.(`Plain path: ${description}`);
  return new PlainRunner(model, optimizer, native);
}

export interface RunnerOptions {
  /**
   * "auto" (default): fast when available and the model qualifies, else native when ONNX Runtime can train
   * it, else plain; "plain": the book's loop; "fast" / "native": require that path.
   */
  path?: "auto" | "plain" | "fast" | "native";
  /** The plain path's native help (frozen trunk and matmuls on ONNX Runtime; see createPlainRunner). Default true. */
  native?: boolean;
  /** Every sequence the run will see (train, validation, test), to compute the frozen prefix once up front. */
  sequences?: readonly Int32Array[];
  /** On-disk prefix cache folder. */
  cacheDir?: string;
  log?: (line: string) => void;
  onPrefixProgress?: (done: number, total: number) => void;
}

/**
 * Chooses the runner for a model and its optimizer (see RunnerOptions.path).
 * @throws ConfigError when path "fast" is asked for but unavailable or not applicable.
 */
export async function createRunner(
  model: GPTModel,
  optimizer: AdamW | undefined,
  opts: RunnerOptions = {},
): Promise<ClassifierRunner> {
  const want = opts.path ?? "auto";
  const plain = () => createPlainRunner(model, optimizer, { native: opts.native, log: opts.log });
  if (want === "plain") return plain();
  let why = "";
  if (want !== "native") {
    const factory = availableFastPath();
    if (!factory) {
      if (want === "fast") throw new ConfigError("The fast path is not part of this build; use --path plain (or auto)");
      why = "the fast path is not part of this build";
    } else {
      const fast = await factory(model, {
        cacheDir: opts.cacheDir,
        log: opts.log,
        onPrefixProgress: opts.onPrefixProgress,
      });
      if (!("reason" in fast)) {
        if (opts.sequences?.length) await fast.precompute(opts.sequences);
        return new FastRunner(fast, optimizer);
      }
      if (want === "fast") throw new ConfigError(`The fast path cannot be used: ${fast.reason}`);
      why = `the fast path needs a frozen prefix: ${fast.reason}`;
    }
  }
  // Every layer on ONNX Runtime, forward and backward (engine/ortTrainer.ts), when this build and the model allow.
  const nativeFactory = optionalEngineModule<{ createOrtTrainerPath?: NativeTrainerFactory }>(
    "ortTrainer",
  )?.createOrtTrainerPath;
  const native = nativeFactory
    ? await nativeFactory(model)
    : { reason: "the native trainer is not part of this build" };
  if (!("reason" in native)) {
    opts.log?.(`Native training path: every layer on ONNX Runtime, forward and backward${why ? ` (${why})` : ""}`);
    return new FastRunner(native, optimizer, "native");
  }
  if (want === "native") throw new ConfigError(`The native path cannot be used: ${native.reason}`);
  opts.log?.(`Plain training path (${why}; native: ${native.reason})`);
  return plain();
}
