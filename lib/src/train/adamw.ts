/**
 * AdamW exactly as `torch.optim.AdamW` (book 6.7: lr 5e-5, weight_decay 0.1, betas (0.9, 0.999),
 * eps 1e-8): decoupled decay `p ← p·(1 − lr·wd)` first, then the Adam step with bias corrections.
 * tfjs has no AdamW, and its Adam keeps moments by position and uses eps 1e-7; this one keys them by
 * parameter name.
 */
import * as tf from "@tensorflow/tfjs";

export interface AdamWSettings {
  lr?: number;
  weightDecay?: number;
  betas?: readonly [number, number];
  eps?: number;
}

export class AdamW {
  readonly lr: number;
  readonly weightDecay: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  /** Number of steps taken. */
  t = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  /** @param params the trainable parameters, by name (e.g. `model.trainableParams()`). */
  constructor(
    readonly params: ReadonlyMap<string, tf.Variable>,
    s: AdamWSettings = {},
  ) {
    this.lr = s.lr ?? 5e-5;
    this.weightDecay = s.weightDecay ?? 0.1;
    this.betas = s.betas ?? [0.9, 0.999];
    this.eps = s.eps ?? 1e-8;
  }

  /** One update from gradients by parameter name (missing names are skipped, like params without grad). */
  step(grads: Readonly<Record<string, tf.Tensor>>): void {
    this.t++;
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** this.t,
      bc2 = 1 - b2 ** this.t;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads[name];
        if (!g) continue;
        if (!this.m.has(name)) {
          this.m.set(name, tf.variable(tf.zerosLike(p), false));
          this.v.set(name, tf.variable(tf.zerosLike(p), false));
        }
        const m = this.m.get(name)!,
          v = this.v.get(name)!;
        p.assign(p.mul(1 - this.lr * this.weightDecay));
        m.assign(m.mul(b1).add(g.mul(1 - b1)));
        v.assign(v.mul(b2).add(g.square().mul(1 - b2)));
        const denom = v.sqrt().div(Math.sqrt(bc2)).add(this.eps);
        p.assign(p.sub(m.div(denom).mul(this.lr / bc1)));
      }
    });
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
