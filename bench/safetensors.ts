/** Minimal safetensors reader for the benchmark (F32 tensors only): header JSON + raw little-endian data. */
import * as fs from "node:fs";

export interface RawTensor {
  shape: number[];
  data: Float32Array;
}

/** Reads every tensor of a safetensors file as float32. @throws Error for other dtypes or a bad file */
export function readSafetensorsF32(file: string): Map<string, RawTensor> {
  const fd = fs.openSync(file, "r");
  try {
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    const headBuf = Buffer.alloc(headerLen);
    fs.readSync(fd, headBuf, 0, headerLen, 8);
    const header = JSON.parse(headBuf.toString("utf8")) as Record<
      string,
      { dtype: string; shape: number[]; data_offsets: [number, number] }
    >;
    const out = new Map<string, RawTensor>();
    for (const [name, info] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      if (info.dtype !== "F32") throw new Error(`${file}: ${name} has dtype ${info.dtype}, expected F32`);
      const [start, end] = info.data_offsets;
      const data = new Float32Array((end - start) / 4);
      const bytes = new Uint8Array(data.buffer);
      for (let done = 0; done < bytes.length;)
        done += fs.readSync(fd, bytes, done, bytes.length - done, 8 + headerLen + start + done);
      out.set(name, { shape: info.shape, data });
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** [rows, cols] row-major → [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
