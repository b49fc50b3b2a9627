/**
 * AdamW on plain Float32Arrays, the same update as `torch.optim.AdamW` (decoupled weight decay applied
 * first; bias corrections; eps added after dividing sqrt(v) by sqrt(1 - beta2^t)). One fused pass per
 * parameter (reads p, g, m, v once), ~45 ms for the chapter's 7.09 M trainable parameters.
 */

/** AdamW hyperparameters (book: lr 5e-5, weight decay 0.1, PyTorch's betas (0.9, 0.999) and eps 1e-8). */
export interface FastAdamWSettings {
  readonly lr: number;
  readonly weightDecay?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
}

/** Fills defaults: weight decay 0.01 would be PyTorch's default, but the book passes 0.1; we default to the book. */
export function resolveFastAdamW(s: FastAdamWSettings): Required<FastAdamWSettings> {
  return {
    lr: s.lr,
    weightDecay: s.weightDecay ?? 0.1,
    beta1: s.beta1 ?? 0.9,
    beta2: s.beta2 ?? 0.999,
    eps: s.eps ?? 1e-8,
  };
}

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
  s: Required<FastAdamWSettings>,
): void {
  const { lr, weightDecay, beta1, beta2, eps } = s;
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
