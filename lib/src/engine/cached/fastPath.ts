/**
 * The fast exact path for fine-tuning with a frozen prefix: the frozen embeddings and leading blocks are
 * computed once per distinct sequence (ONNX Runtime) and cached, with or without the causal mask; each step
 * runs only the trainable suffix (suffixGraph.ts) for the rows its readout reads (the last position by
 * default; the bonus experiments' first token, last real token or mean too). The book's configuration
 * caches blocks 0..L-2; head-only training caches every block, two trainable blocks cache L-2.
 * `createFastClassifierPath` checks the conditions (embeddings and at least one leading block frozen,
 * dropout 0) and returns `{ reason }` instead of a path when they do not hold, so callers fall back.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../../errors";
import { readoutWeights, type ReadoutKind } from "../../model/gpt";
import type { AdamWSettings } from "../trainers/adamw";
import { suffixLogits } from "./lastTokenSuffix";
import { OnnxGptEngine } from "../runtime/onnxEngine";
import { loadOnnxRuntime, onnxRuntimeUnavailableReason } from "../runtime/onnxRuntime";
import { hashParams, hashSequences, PrefixCache, rowsOf, TokenBatch } from "./prefixCache";
import { suffixParamNames } from "../onnx/suffixGraph";
import { SuffixTrainer } from "./suffixTrainer";
import type { StepOptions } from "../trainers/runnerTypes";
import { TfjsPrefixPool, type PrefixPoolModel } from "./tfjsPrefixPool";
import type { FrozenParam } from "../../model/frozenParam";

/** A GPTModel as the fast path sees it: `GptLike` plus the dropout rate and tfjs forward pieces (embed, block). */
export interface FastPathModel extends PrefixPoolModel {
  /** Block i [B,T,E] → [B,T,E] (tfjs fallback for the prefix). */
  block?(i: number, x: tf.Tensor3D, opts?: { causal?: boolean }): tf.Tensor3D;
}

const isTrainable = (t: tf.Tensor | FrozenParam) => (t as { trainable?: boolean }).trainable === true;

/**
 * How many leading blocks are frozen (0..nLayers): the prefix the fast path caches. The suffix starts there.
 * nLayers when only the final norm and the head train (the bonus experiments' `last_layer`).
 */
export function frozenPrefixDepth(model: FastPathModel): number {
  for (let i = 0; i < model.cfg.nLayers; i++) {
    const p = `trf_blocks.${i}.`;
    for (const [name, t] of model.params) if (name.startsWith(p) && isTrainable(t)) return i;
  }
  return model.cfg.nLayers;
}

/** Why the fast path cannot be used for a model, or undefined when it can. */
export function fastPathIneligibility(model: FastPathModel): string | undefined {
  const cfg = model.cfg;
  if (cfg.dropRate > 0) return `dropRate is ${cfg.dropRate} (the cached prefix needs dropout 0)`;
  if (cfg.nLayers < 1) return "the model has no transformer block";
  if (model.params.has("prompt_embeddings")) return "the model has a soft prompt (prompt tuning)";
  if ((cfg as { lora?: unknown }).lora) return "the model has LoRA adapters in every block (merge them: mergeLora)";
  const depth = frozenPrefixDepth(model);
  const suffix = new Set(suffixParamNames(model, depth));
  for (const [name, t] of model.params) {
    if (!suffix.has(name) && isTrainable(t)) return `"${name}" is trainable (the cached prefix must be frozen)`;
  }
  if (depth === 0) {
    const first = [...model.params].find(([name, t]) => name.startsWith("trf_blocks.0.") && isTrainable(t))![0];
    return `"${first}" is trainable (no frozen block before it to cache)`;
  }
  if (!model.params.has("out_head.weight")) return "the model has no out_head";
  return undefined;
}

/** Options for `createFastClassifierPath`. */
export interface FastPathOptions {
  /** Use ONNX Runtime for the prefix and the suffix (default: when it loads). */
  useOnnx?: boolean;
  /** Folder for an on-disk prefix cache (file named by the hash of the prefix weights and the sequences). */
  cacheDir?: string;
  /** Sequences per prefix batch (default 8). */
  prefixBatchSize?: number;
  /**
   * Without ONNX Runtime: worker threads computing the prefix on tfjs, each with its own backend (default:
   * one per core; 1 computes it on the main thread). tfjs-wasm runs one thread per instance under Node.
   */
  prefixWorkers?: number;
  /** Progress of the prefix pass: (done, total) sequences. */
  onPrefixProgress?: (done: number, total: number) => void;
  /** Logging (cache hits, engine choice). */
  log?: (line: string) => void;
  /** What the classifier reads (default "last"; the bonus experiments' first, flexible, mean). */
  readout?: ReadoutKind;
  /** Causal attention mask (default true); false computes (and caches) the prefix without it. */
  causal?: boolean;
  /** Padding token, for the flexible and mean readouts (default 50256). */
  padTokenId?: number;
  /**
   * Shallower prefix depths to save to cacheDir as well while this one is computed on ONNX Runtime (the same
   * pass, an extra output): for a later configuration that trains more blocks, e.g. the bonus table's
   * last_two_blocks row (depth 10) after its last_block rows (11). Depths already on disk are skipped.
   */
  keepDepths?: readonly number[];
}

/** Statistics of the prefix pass. */
export interface PrefixStats {
  sequences: number;
  computed: number;
  loadedFromDisk: number;
  seconds: number;
  /** Part of `seconds` spent building the ONNX model and session from the weights. */
  buildSeconds: number;
  /** FLOPs of the computed prefix (2 per multiply-add). */
  flops: number;
}

/** A prefix cache file's name: the sequences' hash, the weights' tag (16 hex digits each) and the mask's suffix. */
function prefixFileName(seqHash: string, tag: string, mask: string): string {
  return `prefix-${seqHash.slice(0, 16)}-${tag.slice(0, 16)}${mask}.bin`;
}

/** The fast classifier path of one model. Create with `createFastClassifierPath`. */
export class FastClassifierPath {
  /** Cached prefix outputs. */
  readonly cache: PrefixCache;
  private prefixEngine: OnnxGptEngine | undefined;
  private buildSeconds = 0;
  /** While `precompute` runs: the shallower prefixes it keeps (keepDepths), by depth. */
  private keeping = new Map<number, PrefixCache>();
  /** Statistics of the last `precompute` call. */
  prefixStats: PrefixStats | undefined;

  constructor(
    readonly model: FastPathModel,
    readonly trainer: SuffixTrainer,
    private readonly opts: FastPathOptions,
  ) {
    this.cache = new PrefixCache(model.cfg.embDim);
  }

  /** "onnx" or "tfjs": what computes prefix and suffix. */
  get kind(): "onnx" | "tfjs" {
    return this.trainer.kind;
  }

  /** Blocks in the cached prefix (0..depth-1); the suffix starts at block `depth`. */
  get depth(): number {
    return this.trainer.spec.fromBlock;
  }

  /** FLOPs of the prefix for one sequence of length T (embeddings free; 2 per multiply-add). */
  prefixFlopsPerSequence(T: number): number {
    const E = this.model.cfg.embDim;
    return this.depth * T * (24 * E * E + 4 * T * E);
  }

  /**
   * Worker threads for a tfjs prefix pass (precompute only: a few new texts later are not worth starting
   * them); undefined when the main thread computes alone.
   */
  private async startTfjsPool(): Promise<TfjsPrefixPool | undefined> {
    const t0 = performance.now();
    const pool = await TfjsPrefixPool.create(this.model, this.depth, {
      threads: this.opts.prefixWorkers,
      mainThread: (ids, batch) => this.computePrefixHere(ids, batch),
    });
    this.buildSeconds += (performance.now() - t0) / 1000;
    if (pool)
      this.opts.log?.(
        `prefix on tfjs in ${pool.size} threads (the main thread and ${pool.size - 1} worker${pool.size > 2 ? "s" : ""})`,
      );
    return pool;
  }

  private async computePrefix(ids: Int32Array, batch: number, pool?: TfjsPrefixPool): Promise<Float32Array> {
    if (this.kind === "onnx") {
      if (!this.prefixEngine) {
        const t0 = performance.now();
        this.prefixEngine = await OnnxGptEngine.create(this.model, {
          toBlock: this.depth,
          causal: this.opts.causal,
          keepBefore: [...this.keeping.keys()],
        });
        this.buildSeconds += (performance.now() - t0) / 1000;
      }
      return this.runKeeping(this.prefixEngine, ids, batch, ids);
    }
    return pool ? pool.run(ids, batch) : this.computePrefixHere(ids, batch);
  }

  /**
   * One batch through an ONNX prefix engine; the hidden states it keeps go to their caches (`keeping`).
   * @param ids the batch's token ids [batch, T]; @param input what the engine takes: the ids, or hidden states when
   *   it starts from a shallower prefix
   */
  private async runKeeping(
    engine: OnnxGptEngine,
    ids: Int32Array,
    batch: number,
    input: Int32Array | Float32Array,
  ): Promise<Float32Array> {
    const { out, kept } = await engine.runKeeping(input, batch);
    const T = ids.length / batch;
    for (const [k, hidden] of kept) {
      const cache = this.keeping.get(k)!,
        perRow = hidden.length / batch;
      for (let j = 0; j < batch; j++)
        cache.set(ids.subarray(j * T, (j + 1) * T), hidden.slice(j * perRow, (j + 1) * perRow));
    }
    return out;
  }

  /** The prefix of one batch on this thread's tfjs backend. */
  private async computePrefixHere(ids: Int32Array, batch: number): Promise<Float32Array> {
    const embed = this.model.embed?.bind(this.model),
      block = this.model.block?.bind(this.model);
    if (!embed || !block) throw new ConfigError("tfjs prefix needs model.embed and model.block");
    const T = ids.length / batch;
    let x = tf.tidy(() => embed(tf.tensor2d(ids, [batch, T], "int32")));
    for (let i = 0; i < this.depth; i++) {
      const y = tf.tidy(() => block(i, x, { causal: this.opts.causal }));
      x.dispose();
      x = y;
    }
    const out = (await x.data()) as Float32Array;
    x.dispose();
    return out;
  }

  /**
   * Computes (or loads) the prefix of every given sequence once. Call with all datasets before training.
   * @param rows token id rows (e.g. every row of the train, validation and test sets)
   */
  async precompute(rows: readonly ArrayLike<number>[]): Promise<PrefixStats> {
    const t0 = performance.now();
    this.buildSeconds = 0;
    this.keeping.clear();
    let loaded = 0,
      file: string | undefined,
      tag = "";
    let extended = 0,
      extendedFlops = 0;
    const mask = (this.opts.causal ?? true) ? "" : "-noncausal"; // another prefix, another file
    const seqHash = hashSequences(rows).slice(0, 16);
    if (this.opts.cacheDir) {
      tag = this.prefixTag(this.depth) + mask;
      file = path.join(this.opts.cacheDir, prefixFileName(seqHash, tag, mask));
      loaded = this.cache.load(file, tag);
      if (loaded) this.opts.log?.(`prefix cache: loaded ${loaded} sequences from ${file}`);
      if (this.kind === "onnx")
        ({ extended, flops: extendedFlops } = await this.extendFromShallower(seqHash, mask, rows, loaded === 0));
    }
    const todo = this.cache.missing(rows);
    if (todo.length && !extended && loaded === 0) this.startKeeping(0, seqHash, mask);
    const flops = extendedFlops + todo.reduce((a, r) => a + this.prefixFlopsPerSequence(r.length), 0);
    // The worker pool computes the chapter's (causal) prefix; without the mask the main thread does.
    const pool =
      this.kind === "tfjs" && todo.length && (this.opts.causal ?? true) ? await this.startTfjsPool() : undefined;
    let computed: number;
    try {
      computed = await this.cache.fill(todo, (ids, b) => this.computePrefix(ids, b, pool), {
        batchSize: this.opts.prefixBatchSize ?? 8,
        onProgress: this.opts.onPrefixProgress,
        concurrency: pool?.size ?? 1,
      });
    } finally {
      await pool?.dispose();
    }
    await this.prefixEngine?.release();
    this.prefixEngine = undefined;
    this.saveKept(rows, seqHash, mask);
    computed += extended;
    if (file && computed > 0) {
      this.cache.save(file, tag);
      this.opts.log?.(`prefix cache: saved ${this.cache.size} sequences to ${file}`);
    }
    this.prefixStats = {
      sequences: rows.length,
      computed,
      loadedFromDisk: loaded,
      seconds: (performance.now() - t0) / 1000,
      buildSeconds: this.buildSeconds,
      flops,
    };
    return this.prefixStats;
  }

  /**
   * Starts keeping the shallower prefixes of `keepDepths` between `from` and this depth that cacheDir lacks
   * (ONNX Runtime only: they are extra outputs of the same pass). @returns the depths kept
   */
  private startKeeping(from: number, seqHash: string, mask: string): number[] {
    this.keeping.clear();
    if (this.kind !== "onnx" || !this.opts.cacheDir) return [];
    for (const k of new Set(this.opts.keepDepths ?? [])) {
      if (!(Number.isInteger(k) && from < k && k < this.depth)) continue;
      const file = path.join(this.opts.cacheDir, prefixFileName(seqHash, this.prefixTag(k) + mask, mask));
      if (!fs.existsSync(file)) this.keeping.set(k, new PrefixCache(this.model.cfg.embDim));
    }
    return [...this.keeping.keys()];
  }

  /** Saves the shallower prefixes kept while `rows` were computed, when they hold every row; stops keeping. */
  private saveKept(rows: readonly ArrayLike<number>[], seqHash: string, mask: string): void {
    for (const [k, cache] of this.keeping) {
      if (cache.missing(rows).length) continue;
      const tagK = this.prefixTag(k) + mask,
        fileK = path.join(this.opts.cacheDir!, prefixFileName(seqHash, tagK, mask));
      cache.save(fileK, tagK);
      this.opts.log?.(`prefix cache: kept the ${k}-block prefix of ${cache.size} sequences in ${fileK}`);
    }
    this.keeping.clear();
  }

  /** The prefix cache's tag for a depth: sha256 of the weights before block `depth` (embeddings, blocks 0..depth-1). */
  private prefixTag(depth: number): string {
    const suffix = new Set(suffixParamNames(this.model, depth));
    const prefixNames = [...this.model.params.keys()].filter((n) => !suffix.has(n)).sort();
    return hashParams(this.model.params, prefixNames);
  }

  /**
   * A shallower prefix of the same sequences and weights in cacheDir (e.g. the bonus table's last_block row, run
   * before its head-only row): the missing sequences start from it, and only the blocks between its depth and this
   * one are computed (ONNX Runtime, from hidden states). The deepest such file wins.
   * @returns how many sequences were filled so, and the FLOPs of the blocks computed for them
   */
  private async extendFromShallower(
    seqHash: string,
    mask: string,
    rows: readonly ArrayLike<number>[],
    keep: boolean,
  ): Promise<{ extended: number; flops: number }> {
    const dir = this.opts.cacheDir!,
      start = `prefix-${seqHash}-`;
    const todo = this.cache.missing(rows);
    const candidates = new Set(
      (todo.length && fs.existsSync(dir) ? fs.readdirSync(dir) : [])
        .filter(
          (f) => f.startsWith(start) && f.endsWith(`${mask}.bin`) && f.length === start.length + 16 + mask.length + 4,
        )
        .map((f) => f.slice(start.length, start.length + 16)),
    );
    for (let k = this.depth - 1; k >= 1 && candidates.size; k--) {
      const tagK = this.prefixTag(k) + mask;
      if (!candidates.has(tagK.slice(0, 16))) continue;
      const shallow = new PrefixCache(this.model.cfg.embDim);
      const fileK = path.join(dir, prefixFileName(seqHash, tagK, mask));
      if (!shallow.load(fileK, tagK) || shallow.missing(todo).length) continue;
      const t0 = performance.now();
      const engine = await OnnxGptEngine.create(this.model, {
        fromBlock: k,
        toBlock: this.depth,
        causal: this.opts.causal,
        keepBefore: keep ? this.startKeeping(k, seqHash, mask) : [],
      });
      this.buildSeconds += (performance.now() - t0) / 1000;
      try {
        const extended = await this.cache.fill(
          todo,
          (ids, b) => {
            const T = ids.length / b;
            const chunk = Array.from({ length: b }, (_, j) => ids.subarray(j * T, (j + 1) * T));
            return this.runKeeping(engine, ids, b, shallow.gather(chunk)!);
          },
          { batchSize: this.opts.prefixBatchSize ?? 8, onProgress: this.opts.onPrefixProgress },
        );
        this.opts.log?.(
          `prefix cache: ${extended} sequences from the ${k}-block prefix in ${fileK}, ${this.depth - k} block(s) computed on top`,
        );
        const perBlock = (r: ArrayLike<number>) => this.prefixFlopsPerSequence(r.length) / this.depth;
        return { extended, flops: todo.reduce((a, r) => a + (this.depth - k) * perBlock(r), 0) };
      } finally {
        await engine.release();
      }
    }
    return { extended: 0, flops: 0 };
  }

  /** Hidden states of a batch from the cache, computing missing rows. Row-major [B, T, E]. */
  async hidden(rows: readonly Int32Array[]): Promise<Float32Array> {
    let h = this.cache.gather(rows);
    if (!h) {
      // Sequences not precomputed (e.g. new texts to classify): compute now and keep the engine for the next ones.
      await this.cache.fill(rows, (ids, b) => this.computePrefix(ids, b), {
        batchSize: this.opts.prefixBatchSize ?? 8,
      });
      h = this.cache.gather(rows)!;
    }
    return h;
  }

  /**
   * Last-token logits of a batch (no gradients), with the suffix's current parameters.
   * @param inputBatch token ids [B, T] (tensor or DataLoader batch)
   * @returns logits, row-major [B, classes]
   */
  async logitsLastToken(inputBatch: TokenBatch): Promise<Float32Array> {
    const rows = rowsOf(inputBatch);
    return this.trainer.logits(await this.hidden(rows), rows.length, this.readoutWeightsOf(rows));
  }

  /** The readout's weights [B, T] of a batch (flexible and mean readouts), else undefined. */
  private readoutWeightsOf(rows: readonly Int32Array[]): Float32Array | undefined {
    if (!this.trainer.takesReadout) return undefined;
    const T = rows[0]?.length ?? 0,
      ids = new Int32Array(rows.length * T);
    rows.forEach((r, i) => ids.set(r, i * T));
    return readoutWeights(this.trainer.readout, ids, rows.length, { padTokenId: this.opts.padTokenId });
  }

  /**
   * One AdamW training step on a batch (book: optimizer.zero_grad(); loss.backward(); optimizer.step()); with
   * `opts` one batch of gradient accumulation and the loss's ignore_index (SuffixTrainer.trainStep).
   * @param inputBatch token ids [B, T] (tensor or DataLoader batch); @param targetBatch class ids [B]
   * @returns the batch loss before the update
   */
  async trainStep(
    inputBatch: TokenBatch,
    targetBatch: tf.Tensor1D | ArrayLike<number>,
    optim: AdamWSettings,
    opts: StepOptions = {},
  ): Promise<number> {
    const rows = rowsOf(inputBatch);
    const labels = targetBatch instanceof tf.Tensor ? targetBatch.dataSync() : targetBatch;
    const { loss } = await this.trainer.trainStep(await this.hidden(rows), rows.length, labels, optim, {
      ...opts,
      readoutWeights: this.readoutWeightsOf(rows),
    });
    return loss;
  }

  /**
   * Seam for a tfjs training loop: the frozen trunk's output from the cache (no gradient).
   * Every row must have been precomputed (`precompute`), else this throws.
   * @returns hidden states [B, T, E] (caller disposes)
   */
  frozenTrunk(inputBatch: TokenBatch): tf.Tensor3D {
    const rows = rowsOf(inputBatch);
    const h = this.cache.gather(rows);
    if (!h)
      throw new ConfigError("frozenTrunk: some sequences are not cached; call precompute() with every dataset first");
    return tf.tensor3d(h, [rows.length, rows[0].length, this.model.cfg.embDim]);
  }

  /**
   * Seam for a tfjs training loop: the classifier's logits from the trunk's output, differentiable w.r.t. the
   * model's suffix variables (tf.variableGrads works). Uses the model's variables, so call `syncToModel()`
   * first if `trainStep` was used.
   * @param readout the readout weights [B, T] for the flexible and mean readouts
   * @returns [B, classes]
   */
  suffix(features: tf.Tensor3D, readout?: tf.Tensor2D): tf.Tensor2D {
    return suffixLogits(this.model, features, this.trainer.spec, readout);
  }

  /** Writes the suffix parameters trained by `trainStep` into the model's variables. */
  syncToModel(): void {
    this.trainer.syncToModel();
  }

  /** Syncs the model, frees sessions and the cache. */
  async dispose(): Promise<void> {
    this.trainer.syncToModel();
    await this.prefixEngine?.release();
    this.prefixEngine = undefined;
    await this.trainer.dispose();
    this.cache.clear();
  }
}

/**
 * Creates the fast path for a classifier model whose embeddings and blocks 0..L-2 are frozen and whose
 * dropout is 0 (the book's ch06 setup).
 * @returns the path, or `{ reason }` when the conditions do not hold (then use the plain path)
 */
export async function createFastClassifierPath(
  model: FastPathModel,
  opts: FastPathOptions = {},
): Promise<FastClassifierPath | { reason: string }> {
  const reason = fastPathIneligibility(model);
  if (reason) return { reason };
  const useOnnx = opts.useOnnx ?? loadOnnxRuntime() !== undefined;
  if (!useOnnx && opts.useOnnx !== false)
    opts.log?.(`onnxruntime-node unavailable (${onnxRuntimeUnavailableReason()}); fast path runs on tfjs`);
  const trainer = await SuffixTrainer.create(model, {
    useOnnx,
    suffix: { fromBlock: frozenPrefixDepth(model), readout: opts.readout, causal: opts.causal },
  });
  return new FastClassifierPath(model, trainer, opts);
}
