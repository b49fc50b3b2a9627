/**
 * AdamW's settings and the update on plain Float32Arrays, the same update as `torch.optim.AdamW` (decoupled weight
 * decay applied first; bias corrections; eps added after dividing sqrt(v) by sqrt(1 - beta2^t)). The arithmetic is
 * written once, in the WebAssembly kernel of adamwKernel.ts: `WasmAdamW` (the fast, native and BERT paths) keeps its
 * parameters in the kernel's memory, and `adamwUpdateInPlace` (the tfjs `AdamW`, train/adamw.ts) copies any arrays
 * through it. One settings type for all of them.
 */
import { AdamWArena } from "./adamwKernel";

/**
 * AdamW's settings, PyTorch's names in camelCase. Defaults: the book's lr 5e-5 and weight decay 0.1 (PyTorch's
 * default decay is 0.01, the book passes 0.1), PyTorch's betas (0.9, 0.999) and eps 1e-8.
 */
export interface AdamWSettings {
  readonly lr?: number;
  readonly weightDecay?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  /**
   * Clip the gradients' global 2-norm to this before each step, as `torch.nn.utils.clip_grad_norm_(params,
   * max_norm)` before `optimizer.step()` (Hugging Face's Trainer: `max_grad_norm`, default 1.0). Default: none,
   * as in the book.
   */
  readonly maxGradNorm?: number;
}

/** Settings with every default filled in (`maxGradNorm` stays optional: no clipping). */
export type ResolvedAdamW = Required<Omit<AdamWSettings, "maxGradNorm">> & { readonly maxGradNorm?: number };

/** Fills in the defaults. @throws RangeError for a maxGradNorm that is not a positive number */
export function resolveAdamW(s: AdamWSettings = {}): ResolvedAdamW {
  const r = { lr: s.lr ?? 5e-5, weightDecay: s.weightDecay ?? 0.1, betas: s.betas ?? [0.9, 0.999], eps: s.eps ?? 1e-8 };
  if (s.maxGradNorm === undefined) return r;
  if (!(s.maxGradNorm > 0 && Number.isFinite(s.maxGradNorm)))
    throw new RangeError(`maxGradNorm must be a positive number, got ${s.maxGradNorm}`);
  return { ...r, maxGradNorm: s.maxGradNorm };
}

/**
 * Scales gradients in place to a global 2-norm of at most `max` (PyTorch's clip_grad_norm_: every gradient times
 * min(1, max / (norm + 1e-6)), the norm summed in double precision here). @returns the norm before clipping
 */
export function clipGradNorm(grads: readonly Float32Array[], max: number): number {
  let sq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const coef = Math.min(1, max / (norm + 1e-6));
  if (coef < 1) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}

/** @deprecated the same as `AdamWSettings` (one settings type for every AdamW). */
export type FastAdamWSettings = AdamWSettings;
/** @deprecated the same as `resolveAdamW`. */
export const resolveFastAdamW = resolveAdamW;

/** `adamwUpdateInPlace`'s scratch arena: four arrays as long as the longest parameter seen (kept between calls). */
let scratch: { arena: AdamWArena; capacity: number; arrays: Float32Array[] } | undefined;

/**
 * One AdamW update in place, of arrays anywhere: they are copied into a scratch arena, updated by the kernel and
 * copied back (for arrays already in an arena, see `AdamWArena.update`).
 * @param step 1-based step number (after incrementing), for the bias corrections
 */
export function adamwUpdateInPlace(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  step: number,
  s: ResolvedAdamW,
): void {
  const n = p.length;
  if (!scratch || scratch.capacity < n) {
    const arena = new AdamWArena(AdamWArena.bytesFor([n, n, n, n]));
    scratch = { arena, capacity: n, arrays: [0, 1, 2, 3].map(() => arena.alloc(n)) };
  }
  const [sp, sg, sm, sv] = scratch.arrays.map((a) => a.subarray(0, n));
  sp.set(p);
  sg.set(g);
  sm.set(m);
  sv.set(v);
  scratch.arena.update(sp, sg, sm, sv, step, s);
  p.set(sp);
  m.set(sm);
  v.set(sv);
}
