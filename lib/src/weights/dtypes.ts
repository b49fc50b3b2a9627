/** Tensor element types as the two file formats name them, and conversion of stored bytes to float32. */
import { DataFormatError } from "../errors";

/** TensorFlow's DataType enum (types.proto). */
export const TF_DTYPES: Readonly<Record<number, string>> = {
  1: "DT_FLOAT",
  2: "DT_DOUBLE",
  3: "DT_INT32",
  4: "DT_UINT8",
  5: "DT_INT16",
  6: "DT_INT8",
  7: "DT_STRING",
  8: "DT_COMPLEX64",
  9: "DT_INT64",
  10: "DT_BOOL",
  11: "DT_QINT8",
  12: "DT_QUINT8",
  13: "DT_QINT32",
  14: "DT_BFLOAT16",
  15: "DT_QINT16",
  16: "DT_QUINT16",
  17: "DT_UINT16",
  18: "DT_COMPLEX128",
  19: "DT_HALF",
  20: "DT_RESOURCE",
  21: "DT_VARIANT",
  22: "DT_UINT32",
  23: "DT_UINT64",
};

/** safetensors dtype names and their sizes in bytes (per the format's spec). */
export const SAFETENSORS_DTYPES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
  C64: 8,
  F4: 0.5,
  F6_E2M3: 0.75,
  F6_E3M2: 0.75,
};

const FLOAT_WIDTHS: Readonly<Record<string, number>> = {
  F32: 4,
  DT_FLOAT: 4,
  F16: 2,
  DT_HALF: 2,
  BF16: 2,
  DT_BFLOAT16: 2,
  F64: 8,
  DT_DOUBLE: 8,
};
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 0x1f,
    f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Converts little-endian stored bytes of a float type to float32. F32 bytes at a 4-byte aligned offset
 * are returned as a view over the same memory (no copy: a 500 MB checkpoint stays one copy); other
 * types and unaligned F32 bytes give a new array.
 * @param dtype as the file names it (`F32`/`DT_FLOAT`, `F16`/`DT_HALF`, `BF16`/`DT_BFLOAT16`, `F64`/`DT_DOUBLE`).
 * @param what the tensor name, for the error message.
 * @throws DataFormatError for any other dtype, or a byte count that is not a multiple of the element size.
 */
export function toFloat32(bytes: Uint8Array, dtype: string, what: string): Float32Array {
  const width = FLOAT_WIDTHS[dtype];
  if (width && bytes.byteLength % width !== 0)
    throw new DataFormatError(`${what}: ${bytes.byteLength} bytes is not a whole number of ${dtype} values`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32":
    case "DT_FLOAT": {
      if (bytes.byteOffset % 4 === 0 && LITTLE_ENDIAN)
        return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case "F16":
    case "DT_HALF": {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case "BF16":
    case "DT_BFLOAT16": {
      const out = new Float32Array(bytes.byteLength / 2);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) u[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case "F64":
    case "DT_DOUBLE": {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    default:
      throw new DataFormatError(
        `${what} has dtype ${dtype}; only float tensors (F32, F16, BF16, F64) can be loaded as weights`,
      );
  }
}

/** A reader's entries whose names start with `prefix`, sorted by name (like `tf.train.list_variables`). */
export function sortedEntries<T extends { name: string }>(entries: ReadonlyMap<string, T>, prefix = ""): T[] {
  return [...entries.values()].filter((e) => e.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : 1));
}
