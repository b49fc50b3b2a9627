/**
 * CRC-32C (Castagnoli), and the "masked" form TensorFlow and LevelDB store in files.
 * Checking a 500 MB GPT-2 checkpoint is the bulk of the work: `@node-rs/crc32` (an optional dependency: prebuilt
 * SSE4.2/ARMv8 CRC instructions, ~10 GB/s) does it when installed for this platform; otherwise the table-driven
 * slicing-by-8 below (~0.8 GB/s on one core) does.
 */
import type * as NodeRsCrc32 from "@node-rs/crc32";

let native: typeof NodeRsCrc32.crc32c | null | undefined;

/** The native CRC-32C, or null where `@node-rs/crc32` has no binary for this platform. */
function nativeCrc32c(): typeof NodeRsCrc32.crc32c | null {
  if (native === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional native module, loaded on first use
      native = (require("@node-rs/crc32") as typeof NodeRsCrc32).crc32c;
    } catch {
      native = null;
    }
  }
  return native;
}
const TABLE = (() => {
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++)
    for (let s = 1; s < 8; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n] >>> 8) ^ t[t[(s - 1) * 256 + n] & 0xff];
  return t;
})();

/** CRC-32C of `data`, continuing from `crc` (native when available, else slicing-by-8). */
export function crc32c(data: Uint8Array, crc = 0): number {
  const fast = data.length >= 4096 ? nativeCrc32c() : null;
  if (fast) return fast(Buffer.from(data.buffer, data.byteOffset, data.byteLength), crc) >>> 0;
  return crc32cJs(data, crc);
}

/** CRC-32C in JavaScript: table-driven slicing-by-8 (eight bytes per step through eight 256-entry tables). */
export function crc32cJs(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    c =
      TABLE[7 * 256 + (c & 0xff)] ^
      TABLE[6 * 256 + ((c >>> 8) & 0xff)] ^
      TABLE[5 * 256 + ((c >>> 16) & 0xff)] ^
      TABLE[4 * 256 + (c >>> 24)] ^
      TABLE[3 * 256 + data[i + 4]] ^
      TABLE[2 * 256 + data[i + 5]] ^
      TABLE[256 + data[i + 6]] ^
      TABLE[data[i + 7]];
  }
  for (; i < n; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** LevelDB/TensorFlow mask: rotate right by 15 and add a constant (so CRCs of CRCs don't collide). */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
