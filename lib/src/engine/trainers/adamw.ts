/**
 * AdamW on plain Float32Arrays, the same update as `torch.optim.AdamW` (decoupled weight decay applied
 * first; bias corrections; eps added after dividing sqrt(v) by sqrt(1 - beta2^t)). One fused pass per
 * parameter (reads p, g, m, v once), ~45 ms for the chapter's 7.09 M trainable parameters. This is the one
 * AdamW of the library: the tfjs `AdamW` (train/adamw.ts), `ParallelAdamW` (two threads) and the fast
 * paths all run it, with one settings type.
 */

/**
 * AdamW's settings, PyTorch's names in camelCase. Defaults: the book's lr 5e-5 and weight decay 0.1 (PyTorch's
 * default decay is 0.01, the book passes 0.1), PyTorch's betas (0.9, 0.999) and eps 1e-8.
 */
export interface AdamWSettings {
  readonly lr?: number;
  readonly weightDecay?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
}

/** Settings with every default filled in. */
export type ResolvedAdamW = Required<AdamWSettings>;

/** Fills in the defaults. */
export function resolveAdamW(s: AdamWSettings = {}): ResolvedAdamW {
  return { lr: s.lr ?? 5e-5, weightDecay: s.weightDecay ?? 0.1, betas: s.betas ?? [0.9, 0.999], eps: s.eps ?? 1e-8 };
}

/** @deprecated the same as `AdamWSettings` (one settings type for every AdamW). */
export type FastAdamWSettings = AdamWSettings;
/** @deprecated the same as `resolveAdamW`. */
export const resolveFastAdamW = resolveAdamW;

/**
 * One AdamW update in place.
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
  const { lr, weightDecay, betas, eps } = s;
  const [beta1, beta2] = betas;
  const decay = 1 - lr * weightDecay;
  const stepSize = lr / (1 - beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  const c1 = 1 - beta1,
    c2 = 1 - beta2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + c1 * gi;
    const vi = beta2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - stepSize * (mi / (Math.sqrt(vi) / bc2Sqrt + eps));
  }
}
