/**
 * A minimal protobuf wire-format reader, enough for TensorFlow's BundleHeaderProto and
 * BundleEntryProto (varints, fixed32, length-delimited fields).
 */
import { DataFormatError } from "../errors";

export type ProtoField = { field: number; wire: number; value: number | bigint | Uint8Array };

/** Reads a varint at `pos`; returns the value (as a number when it fits, else bigint) and the next position. */
export function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0n,
    shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new DataFormatError("Truncated varint");
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (result > BigInt(Number.MAX_SAFE_INTEGER)) throw new DataFormatError(`Varint ${result} too large`);
      return [Number(result), pos];
    }
    shift += 7n;
  }
  throw new DataFormatError("Malformed varint");
}

/** Splits a message into its fields (repeated fields appear several times). */
export function readFields(buf: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8),
      wire = key & 7;
    if (wire === 0) {
      let v: number;
      [v, pos] = readVarint(buf, pos);
      fields.push({ field, wire, value: v });
    } else if (wire === 5) {
      if (pos + 4 > buf.length) throw new DataFormatError("Truncated fixed32");
      fields.push({ field, wire, value: new DataView(buf.buffer, buf.byteOffset + pos, 4).getUint32(0, true) });
      pos += 4;
    } else if (wire === 1) {
      if (pos + 8 > buf.length) throw new DataFormatError("Truncated fixed64");
      fields.push({ field, wire, value: new DataView(buf.buffer, buf.byteOffset + pos, 8).getBigUint64(0, true) });
      pos += 8;
    } else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(buf, pos);
      if (pos + len > buf.length) throw new DataFormatError("Truncated length-delimited field");
      fields.push({ field, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else throw new DataFormatError(`Unsupported protobuf wire type ${wire}`);
  }
  return fields;
}
