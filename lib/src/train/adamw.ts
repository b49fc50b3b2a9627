/**
 * AdamW exactly as `torch.optim.AdamW` (book 6.7: lr 5e-5, weight_decay 0.1, betas (0.9, 0.999),
 * eps 1e-8): decoupled decay `p ← p·(1 − lr·wd)` first, then the Adam step with bias corrections.
 * tfjs has no AdamW (and its Adam uses eps 1e-7), so this one keys its moments by parameter name and runs
 * the library's one AdamW update (engine/trainers/adamw.ts) on them: the moments live in Float32Arrays, outside
 * the tfjs (WASM) heap, and only the updated parameters go back into it.
 */
import * as tf from "@tensorflow/tfjs";
import { adamwUpdateInPlace, resolveAdamW, type AdamWSettings, type ResolvedAdamW } from "../engine/trainers/adamw";

export type { AdamWSettings } from "../engine/trainers/adamw";

/** AdamW's state between steps (for checkpoints): the step count and each parameter's moments. */
export interface AdamWState {
  t: number;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
}

export class AdamW {
  /** The learning rate of the next step (a schedule may change it between steps, as PyTorch's LR schedulers do). */
  lr: number;
  readonly weightDecay: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  /** Number of steps taken. */
  t = 0;
  private readonly moments = new Map<string, { m: Float32Array; v: Float32Array }>();

  /** @param params the trainable parameters, by name (e.g. `model.trainableParams()`). */
  constructor(
    readonly params: ReadonlyMap<string, tf.Variable>,
    s: AdamWSettings = {},
  ) {
    ({ lr: this.lr, weightDecay: this.weightDecay, betas: this.betas, eps: this.eps } = resolveAdamW(s));
  }

  /** The settings (for optimizers of other engines that take over, e.g. the fast path). */
  get settings(): ResolvedAdamW {
    return { lr: this.lr, weightDecay: this.weightDecay, betas: this.betas, eps: this.eps };
  }

  /** One update from gradients by parameter name (missing names are skipped, like params without grad). */
  step(grads: Readonly<Record<string, tf.Tensor>>): void {
    this.t++;
    const s = this.settings;
    for (const [name, p] of this.params) {
      const g = grads[name];
      if (!g) continue;
      let st = this.moments.get(name);
      if (!st) {
        st = { m: new Float32Array(p.size), v: new Float32Array(p.size) };
        this.moments.set(name, st);
      }
      const values = Float32Array.from(p.dataSync());
      adamwUpdateInPlace(values, g.dataSync() as Float32Array, st.m, st.v, this.t, s);
      tf.tidy(() => p.assign(tf.tensor(values, p.shape)));
    }
  }

  /** A copy of the state (step count and moments), for a checkpoint. */
  stateDict(): AdamWState {
    const moments = new Map([...this.moments].map(([n, s]) => [n, { m: s.m.slice(), v: s.v.slice() }]));
    return { t: this.t, moments };
  }

  /** Restores a state from stateDict (a resumed run continues as if never stopped). */
  loadStateDict(state: AdamWState): void {
    this.t = state.t;
    this.moments.clear();
    for (const [n, s] of state.moments) this.moments.set(n, { m: s.m.slice(), v: s.v.slice() });
  }

  /** Frees the moment buffers. */
  dispose(): void {
    this.moments.clear();
  }
}
