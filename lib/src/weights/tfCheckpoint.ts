/**
 * A reader for TensorFlow checkpoint bundles (`model.ckpt.index` + `model.ckpt.data-0000i-of-0000N`),
 * the format of OpenAI's GPT-2 files, written against TensorFlow's tensor_bundle and table format:
 *
 * - `.index` is an SSTable (see sstable.ts) mapping tensor names to protobuf messages.
 * - The entry under key "" is a BundleHeaderProto (num_shards, endianness); every other key is a tensor
 *   name whose value is a BundleEntryProto (dtype, shape, shard_id, offset, size, crc32c).
 * - Tensor bytes live in the data shards; we check each tensor's masked CRC32C when reading it.
 *   DT_STRING tensors (TF2's `_CHECKPOINTABLE_OBJECT_GRAPH`) are stored as lengths, a length checksum
 *   and the bytes, with a checksum of their own (see tfStringTensor.ts).
 * TF2 checkpoints (`tf.train.Checkpoint`, names like `model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE`) and
 * SavedModel `variables/` bundles are the same format.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError } from "../errors";
import { readFileRange } from "../util/readRange";
import { crc32c, maskCrc } from "./crc32c";
import { readFields } from "./protobuf";
import { readTable, type IndexLayout } from "./sstable";
import { TF_DTYPES, sortedEntries, toFloat32 } from "./dtypes";
import { checksumMismatch, decodeStringTensor, type TensorLocation } from "./tfStringTensor";

export interface TensorInfo {
  name: string;
  /** The dtype as the file names it: `DT_FLOAT`, `F32`, … */
  dtype: string;
  shape: number[];
}

export type { IndexLayout } from "./sstable";

export interface BundleEntry extends TensorInfo {
  shardId: number;
  offset: number;
  size: number;
  crc32c: number | undefined;
}

function parseEntry(name: string, value: Uint8Array): BundleEntry {
  let dtypeNum = 0,
    shardId = 0,
    offset = 0,
    size = 0;
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

/**
 * Resolves a checkpoint path: a prefix (`…/model.ckpt`), its `.index` file, a folder with a `checkpoint`
 * file or one `*.index`, or a SavedModel folder (its `variables/variables` bundle).
 */
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
    const savedModel = path.join(p, "variables", "variables");
    if (fs.existsSync(`${savedModel}.index`)) return savedModel;
  }
  throw new DataFormatError(
    `No TensorFlow checkpoint at ${p} (expected a prefix like model.ckpt with a model.ckpt.index file, a folder containing one, or a SavedModel folder with variables/variables.index)`,
  );
}

/** A TensorFlow checkpoint bundle, opened from its `.index` alone; tensors are read on demand. */
export class TfCheckpoint {
  readonly prefix: string;
  readonly numShards: number;
  readonly layout: IndexLayout = { dataBlocks: 0, snappyBlocks: 0, maxKeysPerBlock: 0 };
  private readonly entries = new Map<string, BundleEntry>();

  /**
   * Opens a bundle by reading its `.index` (the data shards are only opened by `readBytes`/`readTensor`).
   * @param prefixOrFolder `…/model.ckpt`, `…/model.ckpt.index`, or a folder (its `checkpoint` file or single `*.index`).
   * @throws DataFormatError for a missing, truncated or corrupt index (bad magic, block checksum, Snappy data).
   */
  constructor(prefixOrFolder: string) {
    this.prefix = resolveCheckpointPrefix(prefixOrFolder);
    const indexPath = `${this.prefix}.index`;
    const file = fs.readFileSync(indexPath);
    const what = path.basename(indexPath);
    let numShards = 1;
    for (const [key, value] of readTable(file, what, this.layout)) {
      if (key === "") {
        for (const f of readFields(value)) {
          if (f.field === 1) numShards = f.value as number;
          if (f.field === 2 && f.value !== 0)
            throw new DataFormatError(`${what}: big-endian checkpoints are not supported`);
        }
      } else this.entries.set(key, parseEntry(key, value));
    }
    this.numShards = numShards;
  }

  /**
   * Variables with dtype and shape, sorted by name (like `tf.train.list_variables`), from the index alone.
   * @param prefix only names starting with it (e.g. `model/h0/`).
   */
  listVariables(prefix = ""): BundleEntry[] {
    return sortedEntries(this.entries, prefix);
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

  /** The entry's bytes as stored in its shard (only that range is read), not yet checked. */
  private readStored(name: string): { e: BundleEntry; at: TensorLocation; raw: Uint8Array } {
    const e = this.entry(name);
    const shard = this.shardPath(e.shardId);
    const at = { name, shard: path.basename(shard) };
    if (!fs.existsSync(shard)) throw new DataFormatError(`Missing checkpoint shard ${at.shard} (needed for ${name})`);
    const fileSize = fs.statSync(shard).size;
    if (e.offset + e.size > fileSize) {
      throw new DataFormatError(
        `${name}: needs bytes ${e.offset}..${e.offset + e.size} of ${at.shard}, which has only ${fileSize}; the file is truncated`,
      );
    }
    return { e, at, raw: readFileRange(shard, e.offset, e.size) };
  }

  /**
   * The bytes of one tensor (only that tensor is read), checked against its CRC32C: the stored bytes,
   * or for a DT_STRING tensor its elements' bytes concatenated (after both of its checksums pass).
   * @throws DataFormatError for a checksum mismatch, a missing or truncated shard.
   */
  readBytes(name: string): Uint8Array {
    if (this.entry(name).dtype === "DT_STRING") return Buffer.concat(this.readStrings(name));
    const { e, at, raw } = this.readStored(name);
    if (e.crc32c !== undefined && maskCrc(crc32c(raw)) !== e.crc32c) throw checksumMismatch(at, "checksum");
    return raw;
  }

  /**
   * The elements of a DT_STRING tensor (row-major; one for a scalar such as `_CHECKPOINTABLE_OBJECT_GRAPH`),
   * after checking its length checksum and its entry checksum.
   * @throws DataFormatError for another dtype, a checksum mismatch (naming which one), a missing or truncated shard.
   */
  readStrings(name: string): Uint8Array[] {
    const dtype = this.entry(name).dtype;
    if (dtype !== "DT_STRING") throw new DataFormatError(`${name} has dtype ${dtype}, not DT_STRING`);
    const { e, at, raw } = this.readStored(name);
    return decodeStringTensor(
      raw,
      e.shape.reduce((a, d) => a * d, 1),
      at,
      e.crc32c,
    );
  }

  /**
   * One tensor as float32 with its shape (float types only: DT_FLOAT, DT_HALF, DT_BFLOAT16, DT_DOUBLE).
   * @throws DataFormatError for another dtype, a CRC mismatch, a truncated shard or a size that does not fit the shape.
   */
  readTensor(name: string): { data: Float32Array; shape: number[] } {
    const e = this.entry(name);
    const data = toFloat32(this.readBytes(name), e.dtype, name);
    const count = e.shape.reduce((a, d) => a * d, 1);
    if (data.length !== count)
      throw new DataFormatError(
        `${name}: ${data.length} values stored but shape [${e.shape.join(",")}] needs ${count}`,
      );
    return { data, shape: e.shape };
  }
}
