/**
 * AdamW over many parameters whose values, gradients and moments live in WebAssembly memory (`AdamWArena`s of
 * adamwKernel.ts, at most 2 GiB each, filled in order): the kernel updates them in place, one thread, no copies.
 * ONNX Runtime reads the values and writes the gradients through the same Float32Arrays (`param`, `gradOutput`),
 * so nothing is allocated or moved per step. Gradient accumulation and clipping happen before the update.
 */
import { clipGradNorm, resolveAdamW, type AdamWSettings } from "./adamw";
import { AdamWArena, ARENA_MAX_BYTES } from "./adamwKernel";

/** The lengths of a parameter's four arrays: values, gradient, m and v. */
const fourOf = (n: number): number[] => [n, n, n, n];

interface Slot {
  readonly arena: AdamWArena;
  readonly p: Float32Array;
  readonly g: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

/** AdamW in WebAssembly memory. Read parameters with `param(name)`; backward passes write into `gradOutput(name)`. */
export class WasmAdamW {
  private readonly slots = new Map<string, Slot>();
  /** Gradient accumulation: true while the gradients of batches since the last step wait in the buffers. */
  private holding = false;
  /** This batch's gradients while accumulating, added to the buffers by `addBatchGradients`. */
  private readonly scratch = new Map<string, Float32Array>();
  private readonly noDecay: ReadonlySet<string>;

  /**
   * @param params initial values by name (copied in)
   * @param opts `noDecay`: names updated without weight decay (Hugging Face's Trainer leaves biases and LayerNorm
   *   weights out of it); `maxArenaBytes`: the size above which parameters go to another arena (default 2 GiB)
   */
  constructor(
    params: ReadonlyMap<string, ArrayLike<number>>,
    opts: { noDecay?: Iterable<string>; maxArenaBytes?: number } = {},
  ) {
    this.noDecay = new Set(opts.noDecay ?? []);
    // Arenas filled in order: each takes parameters (four arrays each) until the next would not fit.
    const groups: Array<Array<[string, ArrayLike<number>]>> = [];
    const max = Math.min(opts.maxArenaBytes ?? ARENA_MAX_BYTES, ARENA_MAX_BYTES);
    let bytes = Infinity;
    for (const entry of params) {
      const need = AdamWArena.bytesFor(fourOf(entry[1].length));
      if (need > max) throw new RangeError(`${entry[0]}: too large for one AdamW arena (${need} bytes of state)`);
      if (bytes + need > max) {
        groups.push([]);
        bytes = 0;
      }
      groups[groups.length - 1].push(entry);
      bytes += need;
    }
    for (const group of groups) {
      const arena = new AdamWArena(AdamWArena.bytesFor(group.flatMap(([, x]) => fourOf(x.length))));
      for (const [n, values] of group) {
        const [p, g, m, v] = [0, 1, 2, 3].map(() => arena.alloc(values.length));
        p.set(values);
        this.slots.set(n, { arena, p, g, m, v });
      }
    }
  }

  /** Current values of a parameter (a view into WebAssembly memory, updated in place by each step). */
  param(name: string): Float32Array {
    return this.slot(name).p;
  }

  /** Gradient buffer of a parameter, to be filled before `step`. */
  grad(name: string): Float32Array {
    return this.slot(name).g;
  }

  private slot(name: string): Slot {
    const s = this.slots.get(name);
    if (!s) throw new Error(`WasmAdamW: no parameter "${name}"`);
    return s;
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

  /** Number of WebAssembly memories the state is spread over. */
  get arenas(): number {
    return new Set([...this.slots.values()].map((s) => s.arena)).size;
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
  step(step: number, settings: AdamWSettings): number | undefined {
    this.holding = false;
    const s = resolveAdamW(settings);
    const norm =
      s.maxGradNorm === undefined
        ? undefined
        : clipGradNorm(
            [...this.slots.values()].map((x) => x.g),
            s.maxGradNorm,
          );
    const noDecay = { ...s, weightDecay: 0 };
    for (const [n, { arena, p, g, m, v }] of this.slots)
      arena.update(p, g, m, v, step, this.noDecay.has(n) ? noDecay : s);
    return norm;
  }

  /** AdamW's moments of every parameter (copies; zeros before a parameter's first step). */
  moments(): Map<string, { m: Float32Array; v: Float32Array }> {
    return new Map([...this.slots].map(([n, s]) => [n, { m: Float32Array.from(s.m), v: Float32Array.from(s.v) }]));
  }

  /**
   * Sets the moments (a checkpoint's, to resume a run); parameters left out keep theirs.
   * @throws Error for moments of another length
   */
  setMoments(moments: ReadonlyMap<string, { m: ArrayLike<number>; v: ArrayLike<number> }>): void {
    for (const [n, slot] of this.slots) {
      const st = moments.get(n);
      if (!st) continue;
      if (st.m.length !== slot.p.length || st.v.length !== slot.p.length)
        throw new Error(`${n}: moments of ${st.m.length} values for a parameter of ${slot.p.length}`);
      slot.m.set(st.m);
      slot.v.set(st.v);
    }
  }

  /** Sets every parameter from `values` and zeroes the moments. */
  reset(values: ReadonlyMap<string, ArrayLike<number>>): void {
    this.holding = false;
    this.scratch.clear();
    for (const [n, slot] of this.slots) {
      slot.p.set(values.get(n)!);
      slot.m.fill(0);
      slot.v.fill(0);
    }
  }

  /** Lets the arenas go (the memory is freed once nothing else holds a view of it). */
  dispose(): void {
    this.slots.clear();
    this.scratch.clear();
  }
}
