/**
 * AdamW exactly as `torch.optim.AdamW` (book 6.7: lr 5e-5, weight_decay 0.1, betas (0.9, 0.999),
 * eps 1e-8): decoupled decay `p ← p·(1 − lr·wd)` first, then the Adam step with bias corrections.
 * tfjs has no AdamW (and its Adam uses eps 1e-7), so this one keys its moments by parameter name and runs
 * the library's one AdamW update (engine/trainers/adamw.ts) on them: the moments live in Float32Arrays, outside
 * the tfjs (WASM) heap, and only the updated parameters go back into it. On WebGPU the same update runs as
 * tensor ops on the device (moments in GPU memory): no round trip per step, and Node's WebGPU has no
 * synchronous read.
 */
import * as tf from "@tensorflow/tfjs";
import {
  adamwUpdateInPlace,
  clipGradNorm,
  resolveAdamW,
  type AdamWSettings,
  type ResolvedAdamW,
} from "../engine/trainers/adamw";
import { syncReadsAvailable } from "../webgpuAdapter";

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
  /** Clip the gradients' global norm to this before each step (PyTorch's clip_grad_norm_); undefined: no clipping. */
  readonly maxGradNorm: number | undefined;
  /** The gradients' global norm at the last step, before clipping (when maxGradNorm is set). */
  lastGradNorm: number | undefined;
  /** Number of steps taken. */
  t = 0;
  private readonly moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  /** The moments as tensors, for the on-device update (WebGPU). */
  private readonly deviceMoments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();

  /** @param params the trainable parameters, by name (e.g. `model.trainableParams()`). */
  constructor(
    readonly params: ReadonlyMap<string, tf.Variable>,
    s: AdamWSettings = {},
  ) {
    ({
      lr: this.lr,
      weightDecay: this.weightDecay,
      betas: this.betas,
      eps: this.eps,
      maxGradNorm: this.maxGradNorm,
    } = resolveAdamW(s));
  }

  /** The settings (for optimizers of other engines that take over, e.g. the fast path). */
  get settings(): ResolvedAdamW {
    const s = { lr: this.lr, weightDecay: this.weightDecay, betas: this.betas, eps: this.eps };
    return this.maxGradNorm === undefined ? s : { ...s, maxGradNorm: this.maxGradNorm };
  }

  /** One update from gradients by parameter name (missing names are skipped, like params without grad). */
  step(grads: Readonly<Record<string, tf.Tensor>>): void {
    this.t++;
    const s = this.settings;
    if (!syncReadsAvailable()) return this.stepOnDevice(grads, s);
    const present = [...this.params.keys()].filter((n) => grads[n]);
    const host = new Map(present.map((n) => [n, grads[n].dataSync() as Float32Array]));
    if (s.maxGradNorm !== undefined) {
      const copies = new Map([...host].map(([n, g]) => [n, Float32Array.from(g)])); // dataSync's arrays are tfjs's
      this.lastGradNorm = clipGradNorm([...copies.values()], s.maxGradNorm);
      for (const [n, g] of copies) host.set(n, g);
    }
    for (const name of present) {
      const p = this.params.get(name)!;
      let st = this.moments.get(name);
      if (!st) {
        st = { m: new Float32Array(p.size), v: new Float32Array(p.size) };
        this.moments.set(name, st);
      }
      const values = Float32Array.from(p.dataSync());
      adamwUpdateInPlace(values, host.get(name)!, st.m, st.v, this.t, s);
      tf.tidy(() => p.assign(tf.tensor(values, p.shape)));
    }
  }

  /** adamwUpdateInPlace's update as tensor ops (float32 throughout, as there). */
  private stepOnDevice(grads: Readonly<Record<string, tf.Tensor>>, s: ResolvedAdamW): void {
    const [beta1, beta2] = s.betas;
    const decay = 1 - s.lr * s.weightDecay;
    const stepSize = s.lr / (1 - beta1 ** this.t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.t);
    const present = [...this.params.keys()].filter((n) => grads[n]);
    // clip_grad_norm_ on the device: one scalar coefficient for every gradient
    const coef =
      s.maxGradNorm === undefined || present.length === 0
        ? undefined
        : tf.tidy(() => {
            const norm = tf.sqrt(tf.addN(present.map((n) => tf.sum(tf.square(grads[n])))));
            return tf.minimum(1, tf.div(s.maxGradNorm!, tf.add(norm, 1e-6)));
          });
    for (const name of present) {
      const p = this.params.get(name)!;
      const g0 = grads[name];
      const old = this.deviceMoments.get(name);
      const next = tf.tidy(() => {
        const g = coef ? tf.mul(g0, coef) : g0;
        const m = tf.add(tf.mul(old?.m ?? tf.zerosLike(p), beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(old?.v ?? tf.zerosLike(p), beta2), tf.mul(tf.square(g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), s.eps);
        p.assign(tf.sub(tf.mul(p, decay), tf.mul(tf.div(m, denom), stepSize)));
        return { m, v };
      });
      if (old) tf.dispose([old.m, old.v]);
      this.deviceMoments.set(name, next);
    }
    coef?.dispose();
  }

  /**
   * A copy of the state (step count and moments), for a checkpoint. On WebGPU the moments live on the device:
   * read them to the host first (`await readableOnHost(optimizer.deviceTensors())`).
   */
  stateDict(): AdamWState {
    const moments = new Map([...this.moments].map(([n, s]) => [n, { m: s.m.slice(), v: s.v.slice() }]));
    for (const [n, s] of this.deviceMoments)
      moments.set(n, { m: Float32Array.from(s.m.dataSync()), v: Float32Array.from(s.v.dataSync()) });
    return { t: this.t, moments };
  }

  /** The moments held as tensors (WebGPU), e.g. to read them to the host before stateDict. */
  deviceTensors(): tf.Tensor[] {
    return [...this.deviceMoments.values()].flatMap((s) => [s.m, s.v]);
  }

  /** Restores a state from stateDict (a resumed run continues as if never stopped). */
  loadStateDict(state: AdamWState): void {
    this.t = state.t;
    this.moments.clear();
    for (const { m, v } of this.deviceMoments.values()) tf.dispose([m, v]);
    this.deviceMoments.clear();
    const onDevice = !syncReadsAvailable();
    for (const [n, s] of state.moments) {
      const shape = this.params.get(n)?.shape;
      if (onDevice && shape) this.deviceMoments.set(n, { m: tf.tensor(s.m, shape), v: tf.tensor(s.v, shape) });
      else this.moments.set(n, { m: s.m.slice(), v: s.v.slice() });
    }
  }

  /** Frees the moment buffers. */
  dispose(): void {
    this.moments.clear();
    for (const { m, v } of this.deviceMoments.values()) tf.dispose([m, v]);
    this.deviceMoments.clear();
  }
}
