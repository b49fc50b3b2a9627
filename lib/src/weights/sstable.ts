/**
 * The SSTable ("table") format TensorFlow inherits from LevelDB, as used by checkpoint `.index` files:
 *
 * - data blocks of key/value entries; each key is stored as (shared prefix length with the previous
 *   key, the rest), and every 16th entry or so is a "restart point" storing its key in full; a block
 *   ends with the restart offsets (u32 each) and their count (u32);
 * - an index block whose values are BlockHandles (varint offset, varint size) of the data blocks;
 * - a 48-byte footer: metaindex and index BlockHandles, zero padding to 40 bytes, magic 0xdb4775248b80fb57;
 * - after every block a 5-byte trailer: compression type (0 none, 1 Snappy) and the masked CRC32C of
 *   the stored block bytes plus that type byte.
 */
import * as snappy from "snappyjs";
import { DataFormatError } from "../errors";
import { crc32c, maskCrc } from "./crc32c";
import { readVarint } from "./protobuf";

const MAGIC = 0xdb4775248b80fb57n;
const FOOTER_LEN = 48;

interface BlockHandle {
  offset: number;
  size: number;
}

/** How the `.index` table is laid out (what the reader went through; useful in tests and `weights inspect`). */
export interface IndexLayout {
  /** Data blocks (the index block and the empty metaindex block not counted). */
  dataBlocks: number;
  /** Data blocks stored Snappy-compressed (compression type 1). */
  snappyBlocks: number;
  /** The most keys found in one data block. */
  maxKeysPerBlock: number;
}

function readHandle(buf: Uint8Array, pos: number): [BlockHandle, number] {
  let offset: number, size: number;
  [offset, pos] = readVarint(buf, pos);
  [size, pos] = readVarint(buf, pos);
  return [{ offset, size }, pos];
}

/** Reads and checks one block (contents + trailer) of the table, decompressing Snappy blocks. */
function readBlock(file: Uint8Array, h: BlockHandle, what: string, layout?: IndexLayout): Uint8Array {
  if (h.offset + h.size + 5 > file.length)
    throw new DataFormatError(
      `${what}: block at ${h.offset} (+${h.size}) runs past the end of the file (${file.length} bytes); the file is truncated`,
    );
  const contents = file.subarray(h.offset, h.offset + h.size);
  const type = file[h.offset + h.size];
  const stored = new DataView(file.buffer, file.byteOffset + h.offset + h.size + 1, 4).getUint32(0, true);
  const actual = maskCrc(crc32c(file.subarray(h.offset, h.offset + h.size + 1)));
  if (stored !== actual)
    throw new DataFormatError(`${what}: checksum mismatch in block at offset ${h.offset}; the file is corrupt`);
  if (type === 0) return contents;
  if (type === 1) {
    if (layout) layout.snappyBlocks++;
    try {
      return snappy.uncompress(contents);
    } catch (err) {
      throw new DataFormatError(`${what}: bad Snappy block at offset ${h.offset}`, { cause: err });
    }
  }
  throw new DataFormatError(`${what}: unknown block compression type ${type}`);
}

/** Decodes the entries of a block (prefix-compressed keys), checking that every restart point starts an entry with a full key. */
function blockEntries(block: Uint8Array, what: string): Array<[string, Uint8Array]> {
  if (block.length < 4) throw new DataFormatError(`${what}: block too short`);
  const numRestarts = new DataView(block.buffer, block.byteOffset + block.length - 4, 4).getUint32(0, true);
  const end = block.length - 4 - 4 * numRestarts;
  if (end < 0) throw new DataFormatError(`${what}: bad restart count ${numRestarts}`);
  // Restart points: offsets of entries whose key is stored in full (shared = 0).
  const restarts = new Set<number>();
  for (let i = 0; i < numRestarts; i++)
    restarts.add(new DataView(block.buffer, block.byteOffset + end + 4 * i, 4).getUint32(0, true));
  const out: Array<[string, Uint8Array]> = [];
  let pos = 0;
  let key = Buffer.alloc(0);
  while (pos < end) {
    let shared: number, nonShared: number, valueLen: number;
    const start = pos;
    [shared, pos] = readVarint(block, pos);
    if (restarts.delete(start) && shared !== 0)
      throw new DataFormatError(`${what}: corrupt block (restart point at ${start} shares a key prefix)`);
    [nonShared, pos] = readVarint(block, pos);
    [valueLen, pos] = readVarint(block, pos);
    if (shared > key.length || pos + nonShared + valueLen > end)
      throw new DataFormatError(`${what}: corrupt block entry`);
    key = Buffer.concat([key.subarray(0, shared), block.subarray(pos, pos + nonShared)]);
    pos += nonShared;
    out.push([key.toString("utf8"), block.subarray(pos, pos + valueLen)]);
    pos += valueLen;
  }
  if (end > 0 && restarts.size > 0)
    throw new DataFormatError(
      `${what}: corrupt block (restart offsets ${[...restarts].join(", ")} are not entry starts)`,
    );
  return out;
}

/**
 * Every key/value pair of a table, in file order (data blocks in index order).
 * @param file the whole table file; @param what its name, for error messages;
 * @param layout filled with block counts (optional).
 * @throws DataFormatError for a truncated or corrupt table (bad magic, block checksum, Snappy data, entry).
 */
export function readTable(file: Uint8Array, what: string, layout?: IndexLayout): Array<[string, Uint8Array]> {
  if (file.length < FOOTER_LEN)
    throw new DataFormatError(`${what} is too short to be a checkpoint index (${file.length} bytes)`);
  const footer = file.subarray(file.length - FOOTER_LEN);
  if (new DataView(footer.buffer, footer.byteOffset + 40, 8).getBigUint64(0, true) !== MAGIC) {
    throw new DataFormatError(
      `${what} is not a TensorFlow checkpoint index (bad magic number); the file may be truncated`,
    );
  }
  const [, pos] = readHandle(footer, 0); // metaindex (unused)
  const [indexHandle] = readHandle(footer, pos);
  const out: Array<[string, Uint8Array]> = [];
  for (const [, handleBytes] of blockEntries(readBlock(file, indexHandle, what), what)) {
    const [h] = readHandle(handleBytes, 0);
    const entries = blockEntries(readBlock(file, h, what, layout), what);
    if (layout) {
      layout.dataBlocks++;
      layout.maxKeysPerBlock = Math.max(layout.maxKeysPerBlock, entries.length);
    }
    out.push(...entries);
  }
  return out;
}
