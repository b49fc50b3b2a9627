/**
 * DT_STRING tensors in a checkpoint's data shard, as TensorFlow writes them (tensor_bundle.cc,
 * WriteStringTensor; read back by ReadStringTensor):
 *
 *   [varint64 length of element 0] … [varint64 length of element n-1]
 *   [4 bytes, little-endian: the masked CRC32C of the lengths]
 *   [bytes of element 0] … [bytes of element n-1]
 *
 * Both checksums see each length fixed-width little-endian, never as its varint bytes: 4 bytes (uint32)
 * for a length up to 0xFFFFFFFF, 8 bytes (uint64) only above that (TensorFlow keeps uint32 so that
 * older checkpoints, whose lengths were all uint32, still verify).
 * - The length checksum: the masked CRC32C of those fixed-width lengths.
 * - The entry's crc32c (BundleEntryProto, masked): one CRC32C over the fixed-width lengths, then the 4
 *   stored bytes of the length checksum, then every element's bytes.
 * Every TF2 `tf.train.Checkpoint` and SavedModel `variables/` bundle has one: `_CHECKPOINTABLE_OBJECT_GRAPH`,
 * a scalar holding the serialized object graph.
 */
import { DataFormatError } from "../errors";
import { crc32c, maskCrc } from "./crc32c";
import { readVarint } from "./protobuf";

/** Where a tensor's bytes come from, for error messages: its name and its shard's file name. */
export interface TensorLocation {
  name: string;
  shard: string;
}

/** The error for a failed checksum: names the tensor, the checksum (`which`) and the shard. */
export function checksumMismatch(at: TensorLocation, which: string, detail = ""): DataFormatError {
  return new DataFormatError(
    `${at.name}: ${which} mismatch in ${at.shard}${detail ? ` (${detail})` : ""}; the file is corrupt (download it again)`,
  );
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

/** A string length as TensorFlow checksums it: uint32 little-endian up to 0xFFFFFFFF, else uint64 little-endian. */
export function checksummedLength(length: number): Uint8Array {
  const out = new Uint8Array(length <= 0xffffffff ? 4 : 8);
  const view = new DataView(out.buffer);
  if (out.length === 4) view.setUint32(0, length, true);
  else view.setBigUint64(0, BigInt(length), true);
  return out;
}

/** Reads the `count` varint lengths; returns them, the position after them and the CRC32C (unmasked) of their fixed-width form. */
function readLengths(
  raw: Uint8Array,
  count: number,
  at: TensorLocation,
): { lengths: number[]; pos: number; crc: number } {
  const overrun = () =>
    new DataFormatError(
      `${at.name}: the ${count} DT_STRING lengths and their checksum run past the entry's ${raw.length} bytes in ${at.shard}; the file is corrupt`,
    );
  if (count + 4 > raw.length) throw overrun(); // every varint takes at least one byte
  const lengths: number[] = [];
  let pos = 0,
    crc = 0;
  for (let i = 0; i < count; i++) {
    let len: number;
    try {
      [len, pos] = readVarint(raw, pos);
    } catch (err) {
      if (err instanceof DataFormatError) throw overrun();
      throw err;
    }
    lengths.push(len);
    crc = crc32c(checksummedLength(len), crc);
  }
  if (pos + 4 > raw.length) throw overrun();
  return { lengths, pos, crc };
}

/**
 * Splits a DT_STRING tensor's stored bytes into its elements, verifying both of TensorFlow's checksums.
 * @param raw the entry's bytes (`offset`..`offset + size` of its shard).
 * @param count the number of elements (the shape's product: 1 for a scalar).
 * @param at the tensor's name and shard, for error messages.
 * @param entryCrc the entry's masked crc32c (not checked when the entry has none).
 * @returns the elements' bytes (views into `raw`), in row-major order.
 * @throws DataFormatError naming the tensor and the check that failed: the length checksum, the entry
 *   checksum over lengths and bytes, lengths running past the entry, or lengths not adding up to its size.
 */
export function decodeStringTensor(
  raw: Uint8Array,
  count: number,
  at: TensorLocation,
  entryCrc?: number,
): Uint8Array[] {
  if (count === 0 && raw.length === 0) return [];
  const { lengths, pos, crc } = readLengths(raw, count, at);
  const stored = new DataView(raw.buffer, raw.byteOffset + pos, 4).getUint32(0, true);
  if (stored !== maskCrc(crc)) {
    throw checksumMismatch(
      at,
      "DT_STRING length checksum",
      `the masked CRC32C of the ${count} element lengths: stored ${hex(stored)}, computed ${hex(maskCrc(crc))}`,
    );
  }
  const start = pos + 4;
  const total = lengths.reduce((a, b) => a + b, 0);
  if (start + total !== raw.length) {
    throw new DataFormatError(
      `${at.name}: the DT_STRING lengths add up to ${total} bytes but the entry holds ${raw.length - start} after them in ${at.shard}; the file is corrupt`,
    );
  }
  const full = crc32c(raw.subarray(start), crc32c(raw.subarray(pos, start), crc));
  if (entryCrc !== undefined && maskCrc(full) !== entryCrc) {
    throw checksumMismatch(
      at,
      "DT_STRING data checksum",
      `the entry's CRC32C over the lengths, their checksum and the ${total} string bytes: stored ${hex(entryCrc)}, computed ${hex(maskCrc(full))}`,
    );
  }
  const out: Uint8Array[] = [];
  let p = start;
  for (const len of lengths) {
    out.push(raw.subarray(p, p + len));
    p += len;
  }
  return out;
}
