/**
 * A reader for TensorFlow checkpoint bundles (`model.ckpt.index` + `model.ckpt.data-0000i-of-0000N`),
 * the format of OpenAI's GPT-2 files, written against TensorFlow's tensor_bundle and table format:
 *
 * - `.index` is an SSTable: data blocks of prefix-compressed key/value entries with restart points,
 *   an index block pointing at them, and a 48-byte footer (two block handles + magic 0xdb4775248b80fb57).
 *   Each block is followed by a 1-byte compression type (0 none, 1 Snappy) and a masked CRC32C.
 * - The entry under key "" is a BundleHeaderProto (num_shards, endianness); every other key is a tensor
 *   name whose value is a BundleEntryProto (dtype, shape, shard_id, offset, size, crc32c).
 * - Tensor bytes live in the data shards; we check each tensor's masked CRC32C when reading it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const snappy: { uncompress(data: Uint8Array): Uint8Array } = require("snappyjs");
import { DataFormatError } from "../errors";
import { crc32c, maskCrc } from "./crc32c";
import { readFields, readVarint } from "./protobuf";
import { TF_DTYPES, toFloat32 } from "./dtypes";

const MAGIC = 0xdb4775248b80fb57n;
const FOOTER_LEN = 48;

export interface TensorInfo {
  name: string;
  /** The dtype as the file names it: `DT_FLOAT`, `F32`, … */
  dtype: string;
  shape: number[];
}

export interface BundleEntry extends TensorInfo {
  shardId: number;
  offset: number;
  size: number;
  crc32c: number | undefined;
}

interface BlockHandle { offset: number; size: number }

function readHandle(buf: Uint8Array, pos: number): [BlockHandle, number] {
  let offset: number, size: number;
  [offset, pos] = readVarint(buf, pos);
  [size, pos] = readVarint(buf, pos);
  return [{ offset, size }, pos];
}

/** Reads and checks one block (contents + trailer) of the table, decompressing Snappy blocks. */
function readBlock(file: Uint8Array, h: BlockHandle, what: string): Uint8Array {
  if (h.offset + h.size + 5 > file.length) throw new DataFormatError(`${what}: block at ${h.offset} (+${h.size}) runs past the end of the file (${file.length} bytes); the file is truncated`);
  const contents = file.subarray(h.offset, h.offset + h.size);
  const type = file[h.offset + h.size];
  const stored = new DataView(file.buffer, file.byteOffset + h.offset + h.size + 1, 4).getUint32(0, true);
  const actual = maskCrc(crc32c(file.subarray(h.offset, h.offset + h.size + 1)));
  if (stored !== actual) throw new DataFormatError(`${what}: checksum mismatch in block at offset ${h.offset}; the file is corrupt`);
  if (type === 0) return contents;
  if (type === 1) {
    try { return snappy.uncompress(contents); } catch (err) { throw new DataFormatError(`${what}: bad Snappy block at offset ${h.offset}`, { cause: err }); }
  }
  throw new DataFormatError(`${what}: unknown block compression type ${type}`);
}

/** Decodes the entries of a block (prefix-compressed keys; the restart array at the end is not needed for a full scan). */
function blockEntries(block: Uint8Array, what: string): Array<[string, Uint8Array]> {
  if (block.length < 4) throw new DataFormatError(`${what}: block too short`);
  const numRestarts = new DataView(block.buffer, block.byteOffset + block.length - 4, 4).getUint32(0, true);
  const end = block.length - 4 - 4 * numRestarts;
  if (end < 0) throw new DataFormatError(`${what}: bad restart count ${numRestarts}`);
  const out: Array<[string, Uint8Array]> = [];
  let pos = 0;
  let key = Buffer.alloc(0);
  while (pos < end) {
    let shared: number, nonShared: number, valueLen: number;
    [shared, pos] = readVarint(block, pos);
    [nonShared, pos] = readVarint(block, pos);
    [valueLen, pos] = readVarint(block, pos);
    if (shared > key.length || pos + nonShared + valueLen > end) throw new DataFormatError(`${what}: corrupt block entry`);
    key = Buffer.concat([key.subarray(0, shared), block.subarray(pos, pos + nonShared)]);
    pos += nonShared;
    out.push([key.toString("utf8"), block.subarray(pos, pos + valueLen)]);
    pos += valueLen;
  }
  return out;
}

function parseEntry(name: string, value: Uint8Array): BundleEntry {
  let dtypeNum = 0, shardId = 0, offset = 0, size = 0;
  let crc: number | undefined;
  const shape: number[] = [];
  for (const f of readFields(value)) {
    if (f.field === 1) dtypeNum = f.value as number;
    else if (f.field === 2) {
      for (const d of readFields(f.value as Uint8Array)) {
        if (d.field === 2) {
          const dim = readFields(d.value as Uint8Array).find((x) => x.field === 1);
          shape.push(dim ? (dim.value as number) : 0);
        }
      }
    } else if (f.field === 3) shardId = f.value as number;
    else if (f.field === 4) offset = f.value as number;
    else if (f.field === 5) size = f.value as number;
    else if (f.field === 6) crc = f.value as number;
  }
  return { name, dtype: TF_DTYPES[dtypeNum] ?? `DT_UNKNOWN(${dtypeNum})`, shape, shardId, offset, size, crc32c: crc };
}

/** Resolves a checkpoint path: a prefix (`…/model.ckpt`), its `.index` file, or a folder with a `checkpoint` file or one `*.index`. */
export function resolveCheckpointPrefix(p: string): string {
  if (p.endsWith(".index") && fs.existsSync(p)) return p.slice(0, -".index".length);
  if (fs.existsSync(`${p}.index`)) return p;
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
    const ckpt = path.join(p, "checkpoint");
    if (fs.existsSync(ckpt)) {
      const m = /model_checkpoint_path:\s*"([^"]+)"/.exec(fs.readFileSync(ckpt, "utf8"));
      if (m && fs.existsSync(`${path.resolve(p, m[1])}.index`)) return path.resolve(p, m[1]);
    }
    const idx = fs.readdirSync(p).filter((f) => f.endsWith(".index"));
    if (idx.length === 1) return path.join(p, idx[0].slice(0, -".index".length));
  }
  throw new DataFormatError(`No TensorFlow checkpoint at ${p} (expected a prefix like model.ckpt with a model.ckpt.index file, or a folder containing one)`);
}

/** A TensorFlow checkpoint bundle, opened from its `.index` alone; tensors are read on demand. */
export class TfCheckpoint {
  readonly prefix: string;
  readonly numShards: number;
  private readonly entries = new Map<string, BundleEntry>();

  constructor(prefixOrFolder: string) {
    this.prefix = resolveCheckpointPrefix(prefixOrFolder);
    const indexPath = `${this.prefix}.index`;
    const file = fs.readFileSync(indexPath);
    const what = path.basename(indexPath);
    if (file.length < FOOTER_LEN) throw new DataFormatError(`${what} is too short to be a checkpoint index (${file.length} bytes)`);
    const footer = file.subarray(file.length - FOOTER_LEN);
    if (new DataView(footer.buffer, footer.byteOffset + 40, 8).getBigUint64(0, true) !== MAGIC) {
      throw new DataFormatError(`${what} is not a TensorFlow checkpoint index (bad magic number); the file may be truncated`);
    }
    const [, pos] = readHandle(footer, 0); // metaindex (unused)
    const [indexHandle] = readHandle(footer, pos);
    let numShards = 1;
    for (const [, handleBytes] of blockEntries(readBlock(file, indexHandle, what), what)) {
      const [h] = readHandle(handleBytes, 0);
      for (const [key, value] of blockEntries(readBlock(file, h, what), what)) {
        if (key === "") {
          for (const f of readFields(value)) {
            if (f.field === 1) numShards = f.value as number;
            if (f.field === 2 && f.value !== 0) throw new DataFormatError(`${what}: big-endian checkpoints are not supported`);
          }
        } else this.entries.set(key, parseEntry(key, value));
      }
    }
    this.numShards = numShards;
  }

  /** Variables with dtype and shape, sorted by name (like `tf.train.list_variables`). */
  listVariables(): BundleEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): BundleEntry {
    const e = this.entries.get(name);
    if (!e) throw new DataFormatError(`Checkpoint ${path.basename(this.prefix)} has no tensor "${name}"`);
    return e;
  }

  /** Path of shard `id`: `<prefix>.data-00000-of-00001`. */
  shardPath(id: number): string {
    return `${this.prefix}.data-${String(id).padStart(5, "0")}-of-${String(this.numShards).padStart(5, "0")}`;
  }

  /** The stored bytes of one tensor (only that tensor is read), checked against its CRC32C. */
  readBytes(name: string): Uint8Array {
    const e = this.entry(name);
    const shard = this.shardPath(e.shardId);
    if (!fs.existsSync(shard)) throw new DataFormatError(`Missing checkpoint shard ${path.basename(shard)} (needed for ${name})`);
    const fileSize = fs.statSync(shard).size;
    if (e.offset + e.size > fileSize) {
      throw new DataFormatError(`${name}: needs bytes ${e.offset}..${e.offset + e.size} of ${path.basename(shard)}, which has only ${fileSize}; the file is truncated`);
    }
    const buf = Buffer.alloc(e.size);
    const fd = fs.openSync(shard, "r");
    try { fs.readSync(fd, buf, 0, e.size, e.offset); } finally { fs.closeSync(fd); }
    if (e.crc32c !== undefined && maskCrc(crc32c(buf)) !== e.crc32c) {
      throw new DataFormatError(`${name}: checksum mismatch in ${path.basename(shard)}; the file is corrupt (download it again)`);
    }
    return buf;
  }

  /** One tensor as float32 with its shape. */
  readTensor(name: string): { data: Float32Array; shape: number[] } {
    const e = this.entry(name);
    return { data: toFloat32(this.readBytes(name), e.dtype, name), shape: e.shape };
  }
}
