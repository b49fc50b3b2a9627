/**
 * A tiny ONNX graph builder: nodes with typed attributes, float/int initializers, typed inputs/outputs,
 * unique value names. `build()` serialises the ModelProto via onnxProto.encodeModel.
 */
import { encodeModel, OnnxAttrType, OnnxDataType, RawInitializer } from "./onnxProto";

/** ONNX opset we emit (17: LayerNormalization; 20: Gelu with approximate="tanh"). */
export const ONNX_OPSET = 20;
/** ONNX IR version matching opset 20 (ONNX 1.15). */
export const ONNX_IR_VERSION = 9;

/** Attribute values: number (int unless listed in `floatAttrs`), number[] (ints), string. */
export type AttrValue = number | readonly number[] | string | { float: number } | { floats: readonly number[] };

/** A dimension: a fixed size or a symbolic name ("batch"). */
export type Dim = number | string;

/** Array.isArray narrows a readonly array to any[]; this keeps its element type. */
function isIntList(v: AttrValue): v is readonly number[] {
  return Array.isArray(v);
}

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === "string") return { name, type: OnnxAttrType.STRING, s: Buffer.from(v, "utf8") };
  if (typeof v === "number") return { name, type: OnnxAttrType.INT, i: v };
  if (isIntList(v)) return { name, type: OnnxAttrType.INTS, ints: [...v] };
  if ("float" in v) return { name, type: OnnxAttrType.FLOAT, f: v.float };
  return { name, type: OnnxAttrType.FLOATS, floats: [...v.floats] };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): Record<string, unknown> {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Bytes view of a typed array (no copy). */
export function bytesOf(a: Float32Array | Int32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Builds one ONNX graph. Value names are made unique with `fresh(prefix)`. */
export class OnnxGraphBuilder {
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly inputs: Record<string, unknown>[] = [];
  private readonly outputs: Record<string, unknown>[] = [];
  private readonly raw: RawInitializer[] = [];
  private counter = 0;
  /** Non-default operator domains used (e.g. ONNX Runtime's "com.microsoft" contrib ops), opset version 1. */
  private readonly domains = new Set<string>();

  constructor(readonly graphName: string) {}

  /** A new unique value name. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Declares a graph input. */
  input(name: string, elemType: number, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares a graph output (an existing value). */
  output(name: string, elemType: number, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /**
   * Adds a float32 initializer, copied once at build time. `data` may be a function called at build time
   * (big weights are then read one at a time instead of all being held at once).
   */
  floatInit(name: string, dims: readonly number[], data: Float32Array | (() => Float32Array)): string {
    const n = dims.reduce((a, d) => a * d, 1);
    const check = (d: Float32Array) => {
      if (n !== d.length) throw new Error(`initializer ${name}: ${d.length} values for dims [${dims.join(",")}]`);
      return bytesOf(d);
    };
    if (typeof data === "function")
      this.raw.push({ name, dims, dataType: OnnxDataType.FLOAT, bytes: () => check(data()), byteLength: n * 4 });
    else this.raw.push({ name, dims, dataType: OnnxDataType.FLOAT, bytes: check(data) });
    return name;
  }

  /** Adds an int64 initializer (small: shapes, axes, indices). */
  int64Init(name: string, dims: readonly number[], values: readonly number[]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.raw.push({ name, dims, dataType: OnnxDataType.INT64, bytes: bytesOf(data) });
    return name;
  }

  /** An int64 1-D constant with a fresh name. */
  ints(values: readonly number[], prefix = "const"): string {
    return this.int64Init(this.fresh(prefix), [values.length], values);
  }

  /** A float scalar constant (rank 0) with a fresh name. */
  scalar(value: number, prefix = "scalar"): string {
    return this.floatInit(this.fresh(prefix), [], Float32Array.of(value));
  }

  /**
   * Adds a node; returns its output names (`outputs` = number of outputs or explicit names).
   * Attributes: numbers are ints, number[] are ints, `{float}`/`{floats}` are floats, strings are strings.
   */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    outputs: number | readonly string[] = 1,
    domain = "",
  ): string[] {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh(opType)) : [...outputs];
    if (domain) this.domains.add(domain);
    this.nodes.push({
      op_type: opType,
      name: this.fresh(`n_${opType}`),
      input: [...inputs],
      output: outs,
      domain,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Single-output node. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0];
  }

  /** Serialises the ModelProto. */
  build(opts: { docString?: string; opset?: number } = {}): Uint8Array {
    const model = {
      ir_version: ONNX_IR_VERSION,
      producer_name: "llm-spam-classifier",
      producer_version: "0.1.0",
      doc_string: opts.docString ?? "",
      opset_import: [
        { domain: "", version: opts.opset ?? ONNX_OPSET },
        ...[...this.domains].map((domain) => ({ domain, version: 1 })),
      ],
      graph: { name: this.graphName, node: this.nodes, input: this.inputs, output: this.outputs },
    };
    return encodeModel(model, this.raw);
  }
}
