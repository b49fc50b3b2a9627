/**
 * Choosing a runner: the plain path (lib/src/train/runner.ts) or the exact fast path of the
 * performance engine (frozen prefix computed once per text, last-position suffix), when the engine is
 * part of this build and the model qualifies (frozen embeddings and leading blocks, dropout 0).
 * Both give the same numbers; the training loop sees only the ClassifierRunner interface.
 */
import type { Batch } from "../data/dataLoader";
import { ConfigError } from "../errors";
import type { GPTModel } from "../model/gptModel";
import type { AdamW } from "./adamw";
import { PlainRunner, type ClassifierRunner } from "./runner";

/** What the training loop needs from a fast classifier path (lib/src/engine's FastClassifierPath). */
export interface FastPathLike {
  precompute(rows: readonly Int32Array[]): Promise<unknown>;
  logitsLastToken(batch: Batch): Promise<Float32Array>;
  trainStep(batch: Batch, labels: ArrayLike<number>, optim: { lr: number; weightDecay: number; beta1: number; beta2: number; eps: number }): Promise<number>;
  dispose(): Promise<void>;
}

export interface FastPathFactoryOptions {
  cacheDir?: string;
  log?: (line: string) => void;
  onPrefixProgress?: (done: number, total: number) => void;
}

/** Creates a fast path for a model, or says why it cannot. */
export type FastPathFactory = (model: GPTModel, opts: FastPathFactoryOptions) => Promise<FastPathLike | { reason: string }>;

/** The fast path with AdamW on the optimizer's settings. */
export class FastRunner implements ClassifierRunner {
  readonly kind = "fast";
  constructor(readonly path: FastPathLike, private readonly optimizer?: AdamW) {}

  logits(batch: Batch): Promise<Float32Array> {
    return this.path.logitsLastToken(batch);
  }

  trainStep(batch: Batch): Promise<number> {
    const o = this.optimizer;
    if (!o) throw new Error("FastRunner.trainStep needs an optimizer");
    return this.path.trainStep(batch, batch.labels, { lr: o.lr, weightDecay: o.weightDecay, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps });
  }

  async finish(): Promise<void> {
    await this.path.dispose();
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
  try {
    // Optional module (the performance engine); absent from builds without it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const engine = require("../engine/fastPath") as { createFastClassifierPath?: unknown };
    return typeof engine.createFastClassifierPath === "function" ? (engine.createFastClassifierPath as FastPathFactory) : undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "MODULE_NOT_FOUND" && /engine[\\/]fastPath/.test(e.message)) return undefined;
    throw err;
  }
}

export interface RunnerOptions {
  /** "auto" (default): fast when available and the model qualifies; "plain": the book's loop; "fast": require it. */
  path?: "auto" | "plain" | "fast";
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
export async function createRunner(model: GPTModel, optimizer: AdamW | undefined, opts: RunnerOptions = {}): Promise<ClassifierRunner> {
  const want = opts.path ?? "auto";
  if (want === "plain") return new PlainRunner(model, optimizer);
  const factory = availableFastPath();
  if (!factory) {
    if (want === "fast") throw new ConfigError("The fast path is not part of this build; use --path plain (or auto)");
    return new PlainRunner(model, optimizer);
  }
  const fast = await factory(model, { cacheDir: opts.cacheDir, log: opts.log, onPrefixProgress: opts.onPrefixProgress });
  if ("reason" in fast) {
    if (want === "fast") throw new ConfigError(`The fast path cannot be used: ${fast.reason}`);
    opts.log?.(`Plain training path (the fast path needs a frozen prefix: ${fast.reason})`);
    return new PlainRunner(model, optimizer);
  }
  if (opts.sequences?.length) await fast.precompute(opts.sequences);
  return new FastRunner(fast, optimizer);
}
