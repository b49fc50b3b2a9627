/**
 * Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header
 * (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`) and the raw bytes.
 * Sharded models list their files in `model.safetensors.index.json` (`weight_map`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError, ShapeMismatchError } from "../errors";
import { writePartsAtomic } from "../util/atomic";
import { readFileRange } from "../util/readRange";
import { SAFETENSORS_DTYPES, sortedEntries, toFloat32 } from "./dtypes";
import type { TensorInfo } from "./tfCheckpoint";

/** Headers larger than this are refused (the format's own reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry extends TensorInfo {
  file: string;
  /** Absolute byte offsets of the tensor's data in `file`. */
  begin: number;
  end: number;
}

function parseHeader(file: string): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const what = path.basename(file);
    if (size < 8) throw new DataFormatError(`${what} is too short to be a safetensors file`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES))
      throw new DataFormatError(
        `${what}: header claims ${n} bytes (limit ${MAX_HEADER_BYTES}); not a safetensors file?`,
      );
    if (Number(n) + 8 > size)
      throw new DataFormatError(
        `${what}: header claims ${n} bytes but the file has only ${size}; the file is truncated`,
      );
    const headerBuf = Buffer.alloc(Number(n));
    fs.readSync(fd, headerBuf, 0, headerBuf.length, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString("utf8"));
    } catch (err) {
      throw new DataFormatError(`${what}: header is not valid JSON`, { cause: err });
    }
    if (typeof header !== "object" || header === null || Array.isArray(header))
      throw new DataFormatError(`${what}: header is not a JSON object`);
    const dataStart = 8 + Number(n);
    const entries: SafetensorsEntry[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        metadata = raw as Record<string, string>;
        continue;
      }
      const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const dtype = String(info.dtype);
      if (!(dtype in SAFETENSORS_DTYPES))
        throw new DataFormatError(`${what}: tensor "${name}" has unknown dtype "${dtype}"`);
      const shape = info.shape,
        offsets = info.data_offsets;
      if (
        !Array.isArray(shape) ||
        !shape.every((d) => Number.isInteger(d) && d >= 0) ||
        !Array.isArray(offsets) ||
        offsets.length !== 2
      ) {
        throw new DataFormatError(`${what}: tensor "${name}" has a malformed shape or data_offsets`);
      }
      const [b, e] = offsets as number[];
      const expected = shape.reduce((a: number, d: number) => a * d, 1) * SAFETENSORS_DTYPES[dtype];
      if (!(Number.isInteger(b) && Number.isInteger(e) && b >= 0 && e - b === Math.ceil(expected)))
        throw new DataFormatError(
          `${what}: tensor "${name}" has ${e - b} bytes, expected ${expected} for ${dtype}[${shape.join(",")}]`,
        );
      if (dataStart + e > size)
        throw new DataFormatError(`${what}: tensor "${name}" runs past the end of the file; the file is truncated`);
      entries.push({ name, dtype, shape: shape as number[], file, begin: dataStart + b, end: dataStart + e });
    }
    return { entries, metadata };
  } finally {
    fs.closeSync(fd);
  }
}

/** A safetensors model: one file, or the shards listed by a `*.safetensors.index.json`. */
export class SafetensorsFile {
  readonly entries = new Map<string, SafetensorsEntry>();
  readonly metadata: Record<string, string> = {};

  /**
   * Reads the header(s); tensor bytes are read on demand.
   * @param file a `.safetensors` file or a sharded model's `model.safetensors.index.json`.
   * @throws DataFormatError for a missing, truncated or malformed file (oversized header, unknown dtype, bad offsets).
   */
  constructor(readonly file: string) {
    const files = file.endsWith(".index.json") ? this.shardFiles(file) : [file];
    for (const f of files) {
      if (!fs.existsSync(f)) throw new DataFormatError(`No such safetensors file: ${f}`);
      const { entries, metadata } = parseHeader(f);
      Object.assign(this.metadata, metadata);
      for (const e of entries) this.entries.set(e.name, e);
    }
  }

  private shardFiles(indexFile: string): string[] {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(fs.readFileSync(indexFile, "utf8")) as typeof index;
    } catch (err) {
      throw new DataFormatError(`${indexFile} is not valid JSON`, { cause: err });
    }
    if (!index.weight_map) throw new DataFormatError(`${indexFile} has no "weight_map"`);
    return [...new Set(Object.values(index.weight_map))].map((f) => path.resolve(path.dirname(indexFile), f));
  }

  /** Tensors with dtype and shape, sorted by name; `prefix` keeps only names starting with it. */
  listVariables(prefix = ""): SafetensorsEntry[] {
    return sortedEntries(this.entries, prefix);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The stored bytes of one tensor (only that tensor is read). */
  readBytes(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new DataFormatError(`${path.basename(this.file)} has no tensor "${name}"`);
    return readFileRange(e.file, e.begin, e.end - e.begin);
  }

  /** One tensor as float32 (F32, F16, BF16, F64) with its shape. @throws DataFormatError for other dtypes. */
  readTensor(name: string): { data: Float32Array; shape: number[] } {
    const e = this.entries.get(name);
    if (!e) throw new DataFormatError(`${path.basename(this.file)} has no tensor "${name}"`);
    return { data: toFloat32(this.readBytes(name), e.dtype, name), shape: e.shape };
  }
}

/**
 * Writes float32 tensors as a safetensors file, atomically (keys sorted, 8-byte aligned header).
 * @param file destination (written to a temp file, fsynced, then renamed).
 * @param tensors name → `{ dtype: "F32", shape, data }` (row-major).
 * @param metadata string key/values stored under `__metadata__`.
 * @throws ShapeMismatchError when a tensor's data length does not match its shape.
 */
export function writeSafetensors(
  file: string,
  tensors: ReadonlyMap<string, { dtype?: "F32"; data: Float32Array; shape: readonly number[] }>,
  metadata: Record<string, string> = {},
): void {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const n of names) {
    const t = tensors.get(n)!;
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (count !== t.data.length)
      throw new ShapeMismatchError(
        `writeSafetensors: tensor "${n}" has ${t.data.length} values but shape [${t.shape.join(",")}] needs ${count}`,
      );
    header[n] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const parts: Uint8Array[] = [len, Buffer.from(json, "utf8")];
  for (const n of names) {
    const d = tensors.get(n)!.data;
    // Little-endian on every platform Node runs on in practice: the float32 bytes as they are (a view, no copy).
    parts.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  writePartsAtomic(file, parts);
}
