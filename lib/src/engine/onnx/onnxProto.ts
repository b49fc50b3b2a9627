/**
 * The subset of the ONNX protobuf schema (onnx/onnx.proto, IR version 9) that we need to write models:
 * `assets/onnx/onnx-subset.proto`, parsed at run time by protobufjs (no code generation).
 *
 * Big float initializers are not passed through protobufjs: `encodeModel` encodes the graph without them
 * and appends each initializer as its own length-delimited field (protobuf merges repeated fields), so the
 * weights are copied exactly once, into the final buffer.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as protobuf from "protobufjs";
import { ASSETS_DIR } from "../../assets";

/** ONNX TensorProto.DataType codes we use. */
export const OnnxDataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
/** ONNX AttributeProto.AttributeType codes we use. */
export const OnnxAttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

let root: protobuf.Root | undefined;

/** The parsed schema (parsed once, lazily). */
export function onnxSchema(): protobuf.Root {
  root ??= protobuf.parse(fs.readFileSync(path.join(ASSETS_DIR, "onnx", "onnx-subset.proto"), "utf8"), {
    keepCase: true,
  }).root;
  return root;
}

/** Looks up one message type of the schema, e.g. `onnxType("ModelProto")`. */
export function onnxType(name: string): protobuf.Type {
  return onnxSchema().lookupType(`onnx.${name}`);
}

/** A float/int initializer whose bytes are appended verbatim (little-endian raw_data). */
export interface RawInitializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: number;
  /**
   * Little-endian element bytes, e.g. `new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength)`, or a function
   * producing them when the model is encoded (then `byteLength` is required): big weights are then read one at a
   * time, straight into the output buffer, instead of all being held at once.
   */
  readonly bytes: Uint8Array | (() => Uint8Array);
  readonly byteLength?: number;
}

/** Encodes a varint (non-negative, < 2^53) into `out` at `pos`; returns the new position. */
function writeVarint(out: Uint8Array, pos: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[pos++] = v;
  return pos;
}

function varintSize(value: number): number {
  let n = 1,
    v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Length-delimited field header (tag + length) as bytes. */
function fieldHeader(fieldNumber: number, length: number): Uint8Array {
  const out = new Uint8Array(varintSize(fieldNumber * 8 + 2) + varintSize(length));
  writeVarint(out, writeVarint(out, 0, fieldNumber * 8 + 2), length);
  return out;
}

/** Plain-object description of a ModelProto (snake_case keys as in onnx.proto), graph without raw initializers. */
export type ModelObject = Record<string, unknown> & { graph: Record<string, unknown> };

/**
 * Serialises a model: `model` is a ModelProto object (protobufjs plain object) whose graph holds the nodes,
 * inputs, outputs and small initializers; `raw` are big initializers appended as GraphProto.initializer fields.
 * @returns the ModelProto bytes, ready for `InferenceSession.create(bytes)`.
 */
export function encodeModel(model: ModelObject, raw: readonly RawInitializer[] = []): Uint8Array {
  const Model = onnxType("ModelProto"),
    Graph = onnxType("GraphProto"),
    Tensor = onnxType("TensorProto");
  const { graph, ...rest } = model;
  const graphHead = Graph.encode(Graph.fromObject(graph)).finish();
  // Layout: [modelHead][graph header][graphHead]{[init field header][tensor head][raw_data header][raw bytes]}*
  const heads = raw.map((init) => {
    const byteLength = typeof init.bytes === "function" ? init.byteLength : init.bytes.byteLength;
    if (byteLength === undefined) throw new Error(`initializer ${init.name}: byteLength is required with lazy bytes`);
    const head = Tensor.encode(
      Tensor.fromObject({ name: init.name, dims: [...init.dims], data_type: init.dataType }),
    ).finish();
    const rawHeader = fieldHeader(9, byteLength);
    return {
      prefix: [fieldHeader(5, head.byteLength + rawHeader.byteLength + byteLength), head, rawHeader],
      byteLength,
    };
  });
  const graphLen =
    graphHead.byteLength + heads.reduce((a, h) => a + h.prefix.reduce((b, p) => b + p.byteLength, 0) + h.byteLength, 0);
  const modelHead = Model.encode(Model.fromObject(rest)).finish();
  const graphHeader = fieldHeader(7, graphLen);
  const out = new Uint8Array(modelHead.byteLength + graphHeader.byteLength + graphLen);
  let pos = 0;
  const put = (p: Uint8Array) => {
    out.set(p, pos);
    pos += p.byteLength;
  };
  [modelHead, graphHeader, graphHead].forEach(put);
  raw.forEach((init, i) => {
    heads[i].prefix.forEach(put);
    const bytes = typeof init.bytes === "function" ? init.bytes() : init.bytes;
    if (bytes.byteLength !== heads[i].byteLength)
      throw new Error(`initializer ${init.name}: ${bytes.byteLength} bytes, expected ${heads[i].byteLength}`);
    put(bytes);
  });
  return out;
}

/** Decodes ModelProto bytes into a plain object (for tests and debugging; bytes fields stay Uint8Array). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const Model = onnxType("ModelProto");
  return Model.toObject(Model.decode(bytes), { longs: Number, defaults: false, arrays: true });
}
