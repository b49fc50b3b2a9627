/**
 * NumPy's legacy `np.random.RandomState` (MT19937), ported so that pandas' `sample(...,
 * random_state=123)` picks the same rows as in the book. pandas calls
 * `RandomState(seed).choice(n, size, replace=False)`, which is `permutation(n)[:size]`, and
 * `permutation` is a Fisher–Yates shuffle from the end drawing bounded integers by masked rejection.
 */

const N = 624;
const M = 397;

export class RandomState {
  private readonly mt = new Uint32Array(N);
  private pos = N;

  /** Seeds like `np.random.RandomState(seed)` with an integer seed (0 ≤ seed < 2³²). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next raw 32-bit output of MT19937 (tempered). */
  nextUint32(): number {
    if (this.pos >= N) this.twist();
    let y = this.mt[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.pos = 0;
  }

  /** A float in [0, 1) with 53 random bits, like `random_sample()`. */
  randomSample(): number {
    const a = this.nextUint32() >>> 5, b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A uniform integer in [0, max] by masked rejection (NumPy's `random_interval`, max < 2³²). */
  randomInterval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1; mask |= mask >>> 2; mask |= mask >>> 4; mask |= mask >>> 8; mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    while ((value = (this.nextUint32() & mask) >>> 0) > max);
    return value;
  }

  /** Shuffles `arr` in place like `RandomState.shuffle` (Fisher–Yates from the end). */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.randomInterval(i);
      const t = arr[i]; arr[i] = arr[j]; arr[j] = t;
    }
    return arr;
  }

  /** `RandomState.permutation(n)`: a shuffled `[0, 1, …, n-1]`. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** `RandomState.choice(n, size, replace=False)` without weights: `permutation(n)[:size]`. */
  choiceWithoutReplacement(n: number, size: number): number[] {
    if (size > n) throw new RangeError(`cannot take a sample of ${size} from ${n} items without replacement`);
    return this.permutation(n).slice(0, size);
  }
}
