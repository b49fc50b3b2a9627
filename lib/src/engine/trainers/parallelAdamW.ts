/**
 * AdamW over many Float32Array parameters on two threads: a worker thread updates about half of the
 * elements (whole tensors, moved to it and back with zero-copy ArrayBuffer transfers; its m and v stay in the
 * worker) while the main thread updates the rest. Same arithmetic as `adamwUpdateInPlace` (its source runs in
 * the worker). Falls back to the main thread alone when a worker cannot start.
 */
import { Worker } from "node:worker_threads";
import { adamwUpdateInPlace, clipGradNorm, resolveAdamW, type AdamWSettings } from "./adamw";

interface Slot {
  p: Float32Array;
  g: Float32Array;
  m?: Float32Array;
  v?: Float32Array;
}
interface WireItem {
  name: string;
  /** Updated without weight decay (Hugging Face's Trainer: biases and LayerNorm weights). */
  noDecay: boolean;
  p: ArrayBuffer;
  g: ArrayBuffer;
}

const workerSource = (updateSource: string) => `
const { parentPort } = require("node:worker_threads");
const adamwUpdateInPlace = ${updateSource};
const state = new Map();
parentPort.on("message", (msg) => {
  if (msg.reset) { state.clear(); return; }
  if (msg.getState) { parentPort.postMessage({ state: [...state].map(([name, st]) => ({ name, m: st.m, v: st.v })) }); return; }
  if (msg.setState) { for (const it of msg.setState) state.set(it.name, { m: it.m, v: it.v }); return; }
  for (const it of msg.items) {
    const p = new Float32Array(it.p), g = new Float32Array(it.g);
    let st = state.get(it.name);
    if (!st) { st = { m: new Float32Array(p.length), v: new Float32Array(p.length) }; state.set(it.name, st); }
    adamwUpdateInPlace(p, g, st.m, st.v, msg.step, it.noDecay ? { ...msg.settings, weightDecay: 0 } : msg.settings);
  }
  parentPort.postMessage({ items: msg.items }, msg.items.flatMap((it) => [it.p, it.g]));
});`;

/** Two-thread AdamW. Parameters and gradient buffers are owned here; read them with `param(name)` / `grad(name)`. */
export class ParallelAdamW {
  private readonly slots = new Map<string, Slot>();
  private readonly remote = new Set<string>();
  private worker: Worker | undefined;
  /** Gradient accumulation: true while the gradients of batches since the last step wait in the buffers. */
  private holding = false;
  /** This batch's gradients while accumulating, added to the buffers by `addBatchGradients`. */
  private readonly scratch = new Map<string, Float32Array>();
  private readonly noDecay: ReadonlySet<string>;

  /**
   * @param params initial values by name (each must own its ArrayBuffer; kept, not copied)
   * @param opts `threads` (default 2); `noDecay`: names updated without weight decay (Hugging Face's Trainer
   *   leaves biases and LayerNorm weights out of it)
   */
  constructor(params: ReadonlyMap<string, Float32Array>, opts: { threads?: number; noDecay?: Iterable<string> } = {}) {
    this.noDecay = new Set(opts.noDecay ?? []);
    for (const [n, p] of params) {
      if (p.byteOffset !== 0 || p.byteLength !== p.buffer.byteLength)
        throw new Error(`${n}: parameter must own its buffer`);
      this.slots.set(n, { p, g: new Float32Array(p.length) });
    }
    if ((opts.threads ?? 2) > 1) {
      try {
        this.worker = new Worker(workerSource(adamwUpdateInPlace.toString()), { eval: true });
        this.worker.unref();
        // Greedy split by size: the worker gets about half of the elements.
        let local = 0,
          remote = 0;
        for (const [n, s] of [...this.slots].sort((a, b) => b[1].p.length - a[1].p.length)) {
          if (remote < local) {
            this.remote.add(n);
            remote += s.p.length;
          } else local += s.p.length;
        }
      } catch {
        this.worker = undefined;
      }
    }
    for (const [n, s] of this.slots)
      if (!this.remote.has(n)) {
        s.m = new Float32Array(s.p.length);
        s.v = new Float32Array(s.p.length);
      }
  }

  /** Number of threads doing updates (1 or 2). */
  get threads(): number {
    return this.worker ? 2 : 1;
  }

  /** Current values of a parameter (a view that is replaced after each step: don't keep it across steps). */
  param(name: string): Float32Array {
    return this.slots.get(name)!.p;
  }

  /** Gradient buffer of a parameter, to be filled before `step` (also replaced after each step). */
  grad(name: string): Float32Array {
    return this.slots.get(name)!.g;
  }

  /** True while gradients of earlier batches wait in the buffers (gradient accumulation, see `holdStep`). */
  get accumulating(): boolean {
    return this.holding;
  }

  /**
   * Where a batch's backward pass writes the gradient of `name`: the gradient buffer itself, or, while
   * accumulating, a scratch buffer that `addBatchGradients` adds to it.
   */
  gradOutput(name: string): Float32Array {
    if (!this.holding) return this.grad(name);
    const buf = new Float32Array(this.grad(name).length);
    this.scratch.set(name, buf);
    return buf;
  }

  /** Adds the batch's gradients written to `gradOutput`'s scratch buffers into the gradient buffers. */
  addBatchGradients(): void {
    for (const [n, g] of this.scratch) {
      const sum = this.grad(n);
      for (let i = 0; i < sum.length; i++) sum[i] += g[i];
    }
    this.scratch.clear();
  }

  /** Keeps the gradients for the next batches instead of stepping (the book's `accumulation_steps`). */
  holdStep(): void {
    this.holding = true;
  }

  /** Parameter names. */
  names(): string[] {
    return [...this.slots.keys()];
  }

  /**
   * One AdamW update of every parameter from its gradient buffer, the gradients first clipped to
   * `settings.maxGradNorm` when it is set.
   * @param step 1-based step number
   * @returns the gradients' global norm before clipping (undefined without maxGradNorm)
   */
  async step(step: number, settings: AdamWSettings): Promise<number | undefined> {
    this.holding = false;
    const s = resolveAdamW(settings);
    const norm =
      s.maxGradNorm === undefined
        ? undefined
        : clipGradNorm(
            [...this.slots.values()].map((x) => x.g),
            s.maxGradNorm,
          );
    let reply: Promise<WireItem[]> | undefined;
    if (this.worker && this.remote.size) {
      const w = this.worker;
      const items: WireItem[] = [...this.remote].map((name) => ({
        name,
        noDecay: this.noDecay.has(name),
        p: this.slots.get(name)!.p.buffer as ArrayBuffer,
        g: this.slots.get(name)!.g.buffer as ArrayBuffer,
      }));
      reply = new Promise<WireItem[]>((resolve, reject) => {
        const onMessage = (msg: { items: WireItem[] }) => {
          w.off("error", reject);
          w.unref();
          resolve(msg.items);
        };
        w.once("message", onMessage);
        w.once("error", reject);
      });
      w.ref();
      w.postMessage(
        { step, settings: s, items },
        items.flatMap((it) => [it.p, it.g]),
      );
    }
    for (const [n, slot] of this.slots)
      if (!this.remote.has(n))
        adamwUpdateInPlace(slot.p, slot.g, slot.m!, slot.v!, step, this.noDecay.has(n) ? { ...s, weightDecay: 0 } : s);
    if (reply)
      for (const it of await reply) {
        const slot = this.slots.get(it.name)!;
        slot.p = new Float32Array(it.p);
        slot.g = new Float32Array(it.g);
      }
    return norm;
  }

  /** AdamW's moments of every parameter (copies; the worker's included; zeros before a parameter's first step). */
  async moments(): Promise<Map<string, { m: Float32Array; v: Float32Array }>> {
    const out = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const [n, s] of this.slots)
      if (!this.remote.has(n)) out.set(n, { m: Float32Array.from(s.m!), v: Float32Array.from(s.v!) });
    if (this.worker && this.remote.size) {
      const w = this.worker;
      const reply = new Promise<Array<{ name: string; m: Float32Array; v: Float32Array }>>((resolve, reject) => {
        w.once("message", (msg: { state: Array<{ name: string; m: Float32Array; v: Float32Array }> }) => {
          w.off("error", reject);
          w.unref();
          resolve(msg.state);
        });
        w.once("error", reject);
      });
      w.ref();
      w.postMessage({ getState: true });
      for (const it of await reply) out.set(it.name, { m: it.m, v: it.v });
    }
    for (const [n, s] of this.slots)
      if (!out.has(n)) out.set(n, { m: new Float32Array(s.p.length), v: new Float32Array(s.p.length) });
    return out;
  }

  /**
   * Sets the moments (a checkpoint's, to resume a run); parameters left out keep theirs.
   * @throws Error for moments of another length
   */
  setMoments(moments: ReadonlyMap<string, { m: ArrayLike<number>; v: ArrayLike<number> }>): void {
    const remote: Array<{ name: string; m: Float32Array; v: Float32Array }> = [];
    for (const [n, slot] of this.slots) {
      const st = moments.get(n);
      if (!st) continue;
      if (st.m.length !== slot.p.length || st.v.length !== slot.p.length)
        throw new Error(`${n}: moments of ${st.m.length} values for a parameter of ${slot.p.length}`);
      if (this.remote.has(n)) remote.push({ name: n, m: Float32Array.from(st.m), v: Float32Array.from(st.v) });
      else {
        slot.m!.set(st.m);
        slot.v!.set(st.v);
      }
    }
    if (remote.length) this.worker!.postMessage({ setState: remote });
  }

  /** Sets every parameter from `values` and zeroes the moments. */
  reset(values: ReadonlyMap<string, ArrayLike<number>>): void {
    this.holding = false;
    this.scratch.clear();
    for (const [n, slot] of this.slots) {
      slot.p.set(values.get(n)!);
      slot.m?.fill(0);
      slot.v?.fill(0);
    }
    this.worker?.postMessage({ reset: true });
  }

  /** Stops the worker. */
  async dispose(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
