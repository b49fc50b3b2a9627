/**
 * Choosing a runner: the fastest exact path for a model and a configuration (the bonus experiments' readout,
 * mask, ignore_index, padding): the fast path (frozen prefix computed once per text, last block trained at
 * the readout) when the model's frozen layers allow it, else the native one (every layer on ONNX Runtime),
 * else the plain path (lib/src/train/runner.ts). All give the same numbers; the training loop sees only the
 * ClassifierRunner interface. On WebGPU the plain path trains every layer with tfjs on the device: the fast
 * and native paths run on ONNX Runtime's CPU and read the weights synchronously, which WebGPU in Node cannot.
 */
import * as os from "node:os";
import type { Batch } from "../data/dataLoader";
import type { AdamWSettings } from "../engine/trainers/adamw";
import { createFastClassifierPath } from "../engine/cached/fastPath";
import { createOrtTrainerPath } from "../engine/trainers/ortTrainer";
import { createPlainAcceleration } from "../engine/trainers/plainAcceleration";
import type { ClassifierHeadOptions, ClassifierRunner, TrainStepOptions } from "../engine/trainers/runnerTypes";
import { ConfigError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import type { AdamW } from "./adamw";
import { PlainRunner } from "./runner";
import { syncReadsAvailable } from "../webgpuAdapter";

/** What the training loop needs from a fast classifier path (lib/src/engine's FastClassifierPath). */
export interface FastPathLike {
  precompute(rows: readonly Int32Array[]): Promise<unknown>;
  logitsLastToken(batch: Batch): Promise<Float32Array>;
  trainStep(
    batch: Batch,
    labels: ArrayLike<number>,
    optim: AdamWSettings,
    opts?: { lossScale?: number; update?: boolean; ignoreIndex?: number },
  ): Promise<number>;
  dispose(): Promise<void>;
  /** Blocks in the cached prefix (the fast path's; the native trainer caches none). */
  readonly depth?: number;
}

/** The fast path (or the native trainer, which has the same interface) with AdamW on the optimizer's settings. */
export class FastRunner implements ClassifierRunner {
  constructor(
    readonly path: FastPathLike,
    private readonly optimizer?: AdamW,
    readonly kind: "fast" | "native" = "fast",
    /** The loss's ignore_index (default -100). */
    readonly ignoreIndex = -100,
  ) {}

  /** The fast path's cached blocks (for the memory estimate). */
  get prefixDepth(): number | undefined {
    return this.kind === "fast" ? this.path.depth : undefined;
  }

  logits(batch: Batch): Promise<Float32Array> {
    return this.path.logitsLastToken(batch);
  }

  trainStep(batch: Batch, opts?: TrainStepOptions): Promise<number> {
    const o = this.optimizer;
    if (!o) throw new Error("FastRunner.trainStep needs an optimizer");
    return this.path.trainStep(batch, batch.labels, o.settings, { ...opts, ignoreIndex: this.ignoreIndex });
  }

  async finish(): Promise<void> {
    await this.path.dispose();
  }
}

/**
 * The plain runner, with the engine's native help unless `native` is false: the frozen trunk on ONNX
 * Runtime (computed for every batch) and tfjs's matmuls on ONNX Runtime. Same numbers within float32
 * rounding; `native: false` (or ONNX_DISABLE=1) computes every layer with tfjs's own kernels.
 */
export async function createPlainRunner(
  model: GPTModel,
  optimizer: AdamW | undefined,
  opts: { native?: boolean; head?: ClassifierHeadOptions; log?: (line: string) => void } = {},
): Promise<PlainRunner> {
  if (opts.native === false) {
    opts.log?.("Plain path: every layer in tfjs");
    return new PlainRunner(model, optimizer, opts.head);
  }
  const { description, ...native } = await createPlainAcceleration(model, { causal: opts.head?.causal });
  opts.log?.(`Plain path: ${description}`);
  return new PlainRunner(model, optimizer, { ...opts.head, ...native });
}

/** The most bytes the fast path's prefix cache takes when the path is chosen automatically: half the machine's memory. */
export function fastCacheLimitBytes(): number {
  return os.totalmem() / 2;
}

/** What a training run needs of its path beyond the model's trainable layers (createRunner chooses by it). */
export interface RunnerNeeds {
  /** Readout, causal mask and ignore_index (default: the chapter's). */
  head?: ClassifierHeadOptions;
  /** Batches of different lengths (no padding): one compiled native graph per length would be too many. */
  variableLength?: boolean;
}

/**
 * Why the fast or the native path cannot run a configuration (undefined: it can, as far as the configuration
 * goes; the model's trainable layers decide the rest). The fast path caches the frozen prefix of any depth (with
 * or without the causal mask) and trains the blocks after it at any readout; the native path runs any trainable set, readout
 * and mask with one compiled graph per batch shape. Both accumulate gradients and apply an ignore_index; the
 * plain path runs everything.
 */
export function pathLimits(needs: RunnerNeeds = {}): { fast?: string; native?: string } {
  const native = needs.variableLength
    ? "batches of different lengths (no padding) would each compile a graph: the plain path runs them"
    : undefined;
  return { native };
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
  /** The configuration's readout, mask, loss and batches (the bonus experiments' options); see pathLimits. */
  needs?: RunnerNeeds;
  /** The most bytes the fast path's prefix cache may take with path "auto" (default: half the machine's memory). */
  maxCacheBytes?: number;
  /** On-disk prefix cache folder. */
  cacheDir?: string;
  /** Shallower prefix depths the fast path saves to cacheDir as well, for later runs (FastPathOptions.keepDepths). */
  keepPrefixDepths?: readonly number[];
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
  const head = opts.needs?.head ?? {};
  if (!syncReadsAvailable()) {
    // WebGPU: autodiff on the GPU; ONNX Runtime's CPU paths would copy every weight off it (synchronously).
    if (want === "fast" || want === "native")
      throw new ConfigError(
        `The ${want} path runs on ONNX Runtime's CPU and cannot read the weights from WebGPU: use the plain path (or another backend)`,
      );
    opts.log?.("Plain training path on WebGPU: every layer in tfjs, forward and backward on the device");
    return createPlainRunner(model, optimizer, { native: false, head });
  }
  const plain = () => createPlainRunner(model, optimizer, { native: opts.native, head, log: opts.log });
  if (want === "plain") return plain();
  const limits = pathLimits(opts.needs);
  // The fast path holds every text's frozen prefix (E floats a token): too much for IMDb's 50,000 reviews × 256
  // tokens (39 GB at 124M), so "auto" computes every batch anew there instead.
  const cacheBytes = (opts.sequences ?? []).reduce((a, s) => a + s.length, 0) * model.cfg.embDim * 4;
  if (want === "auto" && !limits.fast && cacheBytes > (opts.maxCacheBytes ?? fastCacheLimitBytes()))
    limits.fast = `its cache of every text's frozen prefix would take ${(cacheBytes / 1e9).toFixed(1)} GB`;
  let why = "";
  if (want !== "native" && limits.fast) {
    if (want === "fast") throw new ConfigError(`The fast path cannot be used: ${limits.fast}`);
    why = `the fast path: ${limits.fast}`;
  } else if (want !== "native") {
    const fast = await createFastClassifierPath(model, {
      cacheDir: opts.cacheDir,
      keepDepths: opts.keepPrefixDepths,
      log: opts.log,
      onPrefixProgress: opts.onPrefixProgress,
      readout: head.readout,
      causal: head.causal,
      padTokenId: head.padTokenId,
    });
    if (!("reason" in fast)) {
      if (opts.sequences?.length) await fast.precompute(opts.sequences);
      return new FastRunner(fast, optimizer, "fast", head.ignoreIndex);
    }
    if (want === "fast") throw new ConfigError(`The fast path cannot be used: ${fast.reason}`);
    why = `the fast path needs a frozen prefix: ${fast.reason}`;
  }
  // Every layer on ONNX Runtime, forward and backward (engine/trainers/ortTrainer.ts), when ONNX Runtime and the model allow.
  if (limits.native) {
    if (want === "native") throw new ConfigError(`The native path cannot be used: ${limits.native}`);
    opts.log?.(`Plain training path (${why}; native: ${limits.native})`);
    return plain();
  }
  const native = await createOrtTrainerPath(model, {
    readout: head.readout,
    causal: head.causal,
    padTokenId: head.padTokenId,
  });
  if (!("reason" in native)) {
    opts.log?.(`Native training path: every layer on ONNX Runtime, forward and backward${why ? ` (${why})` : ""}`);
    return new FastRunner(native, optimizer, "native", head.ignoreIndex);
  }
  if (want === "native") throw new ConfigError(`The native path cannot be used: ${native.reason}`);
  opts.log?.(`Plain training path (${why}; native: ${native.reason})`);
  return plain();
}
