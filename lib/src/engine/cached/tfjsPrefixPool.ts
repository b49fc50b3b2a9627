/**
 * The frozen prefix on tfjs when ONNX Runtime cannot load: tfjs-wasm runs one thread per instance under
 * Node, so the pool adds worker threads (one per extra core), each with its own backend and a copy of the
 * prefix blocks' weights, and computes batches on them and on the main thread at once. A worker gets the
 * main thread's embeddings (a gather) and runs the blocks. Same kernels everywhere: the same numbers.
 * Memory: each worker holds the blocks once (~312 MB for 124M); the weights travel in one SharedArrayBuffer.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import type { FrozenParam } from "../../model/frozenParam";
import type { GptLike } from "../onnx/onnxGpt";

/** The model as the pool sees it: config and weights for the workers, the embeddings for the main thread. */
export interface PrefixPoolModel extends GptLike {
  readonly cfg: GptLike["cfg"] & { readonly dropRate: number };
  /** Embeddings [B,T] → [B,T,E] (tfjs fallback for the prefix). */
  embed?(idx: tf.Tensor2D): tf.Tensor3D;
}

type BatchFn = (ids: Int32Array, batch: number) => Promise<Float32Array>;
interface Job {
  id: number;
  resolve: (h: Float32Array) => void;
  reject: (e: Error) => void;
}
interface Slot {
  worker: Worker;
  busy: Job | undefined;
}

/** Worker threads (plus the main thread) computing blocks 0..blocks-1 of a model's frozen prefix. */
export class TfjsPrefixPool {
  private readonly waiting: Array<() => void> = [];
  private nextId = 0;
  private mainBusy = false;

  private constructor(
    private readonly model: PrefixPoolModel,
    private readonly slots: Slot[],
    private readonly mainThread: BatchFn,
  ) {
    for (const slot of slots) {
      slot.worker.on("message", (msg: { id: number; hidden?: Float32Array; error?: string }) => {
        const job = slot.busy;
        if (!job || msg.id !== job.id) return;
        slot.busy = undefined;
        if (msg.error) job.reject(new Error(`prefix worker: ${msg.error}`));
        else job.resolve(msg.hidden!);
        this.waiting.shift()?.();
      });
      // A worker that dies leaves the pool: its batch fails, the remaining threads take the next ones.
      const drop = (err: Error) => {
        const i = this.slots.indexOf(slot);
        if (i < 0) return;
        this.slots.splice(i, 1);
        slot.busy?.reject(err);
        slot.busy = undefined;
        this.waiting.shift()?.();
      };
      slot.worker.on("error", drop);
      slot.worker.on("exit", (code) => drop(new Error(`prefix worker exited (${code})`)));
    }
  }

  /** Threads computing batches: the workers and the main thread. */
  get size(): number {
    return this.slots.length + 1;
  }

  /**
   * Starts `threads - 1` workers (default threads: one per core) and sends them the weights of blocks 0..blocks-1.
   * @param opts.mainThread computes a batch on the main thread (its share of the work)
   * @returns the pool, or undefined when fewer than 2 threads would run, the backend is native (already
   *          multi-threaded) or a worker cannot start (then the main thread computes the prefix alone)
   */
  static async create(
    model: PrefixPoolModel,
    blocks: number,
    opts: { threads?: number; mainThread: BatchFn },
  ): Promise<TfjsPrefixPool | undefined> {
    const threads = opts.threads ?? os.cpus().length;
    const backend = tf.getBackend();
    const script = path.join(__dirname, "tfjsPrefixWorker.js"); // the compiled worker (lib/dist/engine/cached)
    if (threads < 2 || blocks < 1 || (backend !== "wasm" && backend !== "cpu") || !fs.existsSync(script))
      return undefined;
    // Every block's weights in one shared buffer: each worker copies them into its own backend, no per-worker clone.
    const entries = [...model.params]
      .filter(([n]) => /^trf_blocks\.(\d+)\./.test(n) && Number(n.split(".")[1]) < blocks)
      .map(([name, t]) => ({ name, shape: t.shape, offset: 0, length: t.size }));
    let total = 0;
    for (const e of entries) {
      e.offset = total;
      total += e.length;
    }
    const shared = new Float32Array(new SharedArrayBuffer(total * 4));
    for (const e of entries) shared.set(valuesView(model.params.get(e.name)!), e.offset);
    const slots: Slot[] = [];
    try {
      for (let t = 0; t < threads - 1; t++) {
        const worker = new Worker(script, { workerData: { cfg: { ...model.cfg }, blocks, backend } });
        slots.push({ worker, busy: undefined });
        await once(worker, (m) => "started" in m);
        worker.postMessage({ shared: shared.buffer, entries });
        await once(worker, (m) => "ready" in m);
      }
    } catch {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      return undefined;
    }
    return new TfjsPrefixPool(model, slots, opts.mainThread);
  }

  /**
   * The prefix of one batch, on the first free thread (a worker, else the main thread).
   * @param ids token ids, row-major [batch, T] @returns hidden states, row-major [batch, T, E]
   */
  async run(ids: Int32Array, batch: number): Promise<Float32Array> {
    for (;;) {
      // Let the event loop deliver finished workers' messages first: the main thread's own batches run
      // synchronously and would otherwise keep every worker waiting for its next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const slot = this.slots.find((s) => !s.busy);
      if (slot) return this.onWorker(slot, ids, batch);
      if (!this.mainBusy) {
        this.mainBusy = true;
        try {
          return await this.mainThread(ids, batch);
        } finally {
          this.mainBusy = false;
          this.waiting.shift()?.();
        }
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private onWorker(slot: Slot, ids: Int32Array, batch: number): Promise<Float32Array> {
    const T = ids.length / batch;
    const embed = this.model.embed!.bind(this.model);
    const hidden = tf.tidy(() => embed(tf.tensor2d(ids, [batch, T], "int32")).dataSync() as Float32Array);
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      slot.busy = { id, resolve, reject };
      slot.worker.postMessage({ id, hidden, batch }, [hidden.buffer as ArrayBuffer]);
    });
  }

  /** Stops the workers. */
  async dispose(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/**
 * A tensor's values without a copy where the backend allows it (tfjs-wasm: a view of its heap, valid until the
 * next tfjs call), else `dataSync()`. Copying 312 MB of weights through dataSync's copies doubled the peak memory.
 */
function valuesView(t: tf.Tensor | FrozenParam): Float32Array {
  if (!(t instanceof tf.Tensor)) return t.dataSync(); // frozen values outside tfjs
  const backend = tf.backend() as unknown as {
    typedArrayFromHeap?: (t: { dataId: object; shape: number[]; dtype: string }) => Float32Array;
  };
  return backend.typedArrayFromHeap ? backend.typedArrayFromHeap(t) : (t.dataSync() as Float32Array);
}

/** Resolves with the worker's first message that matches; rejects on an error message, error or exit. */
function once(worker: Worker, match: (msg: Record<string, unknown>) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Record<string, unknown>) => {
      if (typeof msg.error === "string") {
        cleanup();
        reject(new Error(msg.error));
      } else if (match(msg)) {
        cleanup();
        resolve();
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`prefix worker exited (${code})`));
    };
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
