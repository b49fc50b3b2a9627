/**
 * The one AdamW update of the library, `torch.optim.AdamW`'s arithmetic in float32 (adamw.wat: decoupled weight
 * decay first, then the bias-corrected Adam step), as a WebAssembly SIMD kernel over Float32Arrays that live in
 * WebAssembly memory (`AdamWArena`). It is our own code: no JS library runs AdamW over plain arrays (tfjs has no
 * AdamW, and its element-wise ops would make a tensor per operation). Four lanes at a time the update is bound by
 * memory: ~9 ms for the 14.2 M parameters of two GPT-2 blocks on one thread of the 2-core AMD EPYC, where the JS
 * loop it replaces took ~35 ms on two threads (and ~70 ms inside a training run, with its buffers moved between
 * threads every step). An arena is its own memory: not the tfjs heap, and never moved or collected while in use.
 */
import { ADAMW_WASM_BASE64 } from "./adamwWasmBytes";

/** What one step of the kernel needs of AdamW's settings (`ResolvedAdamW` fits). */
export interface AdamWStepSettings {
  readonly lr: number;
  readonly weightDecay: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
}

type Kernel = (
  p: number,
  g: number,
  m: number,
  v: number,
  n: number,
  beta1: number,
  beta2: number,
  c1: number,
  c2: number,
  decay: number,
  stepSize: number,
  invBc2Sqrt: number,
  eps: number,
) => void;

/** The WebAssembly API used here (the library's TypeScript libs, ES2022 and Node's, do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;
const kernelModule = () => (compiled ??= new wasm.Module(Buffer.from(ADAMW_WASM_BASE64, "base64")));

const PAGE_BYTES = 65536;
/** The largest arena: 2 GiB (a WebAssembly memory holds at most 4 GiB; byte offsets stay positive i32s). */
export const ARENA_MAX_BYTES = 2 ** 31;
/** Arrays start on 16-byte boundaries (the kernel's four-lane loads). */
const ALIGN = 16;
const aligned = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

/** Float32Arrays in one WebAssembly memory of fixed size, and AdamW's update over them. */
export class AdamWArena {
  private readonly memory: { readonly buffer: ArrayBuffer };
  private readonly kernel: Kernel;
  private used = 0;

  /** Bytes an arena needs for arrays of these lengths. */
  static bytesFor(lengths: Iterable<number>): number {
    let bytes = 0;
    for (const n of lengths) bytes += aligned(n * 4);
    return bytes;
  }

  /** @param bytes its size (see `bytesFor`); @throws RangeError above `ARENA_MAX_BYTES` */
  constructor(readonly bytes: number) {
    if (!(bytes <= ARENA_MAX_BYTES)) throw new RangeError(`an AdamW arena holds at most 2 GiB, asked for ${bytes}`);
    // The whole size at once: growing a memory would detach every array already handed out.
    this.memory = new wasm.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE_BYTES)) });
    const instance = new wasm.Instance(kernelModule(), { env: { memory: this.memory } });
    this.kernel = instance.exports.adamw as Kernel;
  }

  /** Bytes not handed out yet. */
  get free(): number {
    return this.bytes - this.used;
  }

  /** A new array of n zeros in this arena. @throws RangeError when it does not fit */
  alloc(n: number): Float32Array {
    const size = aligned(n * 4);
    if (size > this.free) throw new RangeError(`an AdamW arena has ${this.free} bytes free, ${size} needed`);
    const a = new Float32Array(this.memory.buffer, this.used, n);
    this.used += size;
    return a;
  }

  /** Whether `a` is an array of this arena. */
  holds(a: Float32Array): boolean {
    return a.buffer === this.memory.buffer;
  }

  /**
   * One AdamW step in place: p, and its moments m and v, from the gradient g (four arrays of this arena, of one
   * length). @param step 1-based step number, for the bias corrections
   */
  update(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, step: number, s: AdamWStepSettings): void {
    for (const a of [p, g, m, v]) {
      if (!this.holds(a)) throw new Error("AdamWArena.update: every array must be one of this arena's");
      if (a.length !== p.length) throw new Error(`AdamWArena.update: arrays of ${a.length} and ${p.length} values`);
    }
    const [beta1, beta2] = s.betas;
    this.kernel(
      p.byteOffset,
      g.byteOffset,
      m.byteOffset,
      v.byteOffset,
      p.length,
      beta1,
      beta2,
      1 - beta1,
      1 - beta2,
      1 - s.lr * s.weightDecay,
      s.lr / (1 - beta1 ** step),
      1 / Math.sqrt(1 - beta2 ** step),
      s.eps,
    );
  }
}
