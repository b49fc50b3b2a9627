/**
 * The subset of the ONNX protobuf schema (onnx/onnx.proto, IR version 9) that we need to write models,
 * parsed at runtime by protobufjs (no code generation). Field numbers are those of the official schema.
 *
 * Big float initializers are not passed through protobufjs: `encodeModel` encodes the graph without them
 * and appends each initializer as its own length-delimited field (protobuf merges repeated fields), so the
 * weights are copied exactly once, into the final buffer.
 */
import * as protobuf from "protobufjs";

const ONNX_SUBSET_PROTO = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; }
  string name = 1;
  string doc_string = 13;
  AttributeType type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType { UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6;
    INT64 = 7; STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; }
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  string denotation = 6;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}
`;

/** ONNX TensorProto.DataType codes we use. */
export const OnnxDataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
/** ONNX AttributeProto.AttributeType codes we use. */
export const OnnxAttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

let root: protobuf.Root | undefined;

/** The parsed schema (parsed once, lazily). */
export function onnxSchema(): protobuf.Root {
  root ??= protobuf.parse(ONNX_SUBSET_PROTO, { keepCase: true }).root;
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
