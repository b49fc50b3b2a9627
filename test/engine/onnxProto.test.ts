import { test } from "node:test";
import assert from "node:assert/strict";
import { loadOnnxRuntime } from "llm-spam-classifier";
import {
  encodeModel,
  decodeModel,
  OnnxGraphBuilder,
  OnnxDataType,
  createOrtSession,
  ONNX_OPSET,
  ONNX_IR_VERSION,
} from "llm-spam-classifier/engine";

test("encodeModel writes a ModelProto that decodes back (graph, opset, raw initializers)", () => {
  const w = Float32Array.of(1, 2, 3, 4, 5, 6);
  const bytes = encodeModel(
    {
      ir_version: 9,
      opset_import: [{ domain: "", version: 20 }],
      graph: { name: "g", node: [{ op_type: "MatMul", input: ["x", "w"], output: ["y"] }] },
    },
    [{ name: "w", dims: [2, 3], dataType: OnnxDataType.FLOAT, bytes: new Uint8Array(w.buffer) }],
  );
  const m = decodeModel(bytes) as {
    ir_version: number;
    opset_import: Array<{ version: number }>;
    graph: {
      name: string;
      node: Array<{ op_type: string }>;
      initializer: Array<{ name: string; dims: number[]; data_type: number; raw_data: Uint8Array }>;
    };
  };
  assert.equal(m.ir_version, 9);
  assert.equal(m.opset_import[0].version, 20);
  assert.equal(m.graph.name, "g");
  assert.equal(m.graph.node[0].op_type, "MatMul");
  assert.equal(m.graph.initializer.length, 1);
  const init = m.graph.initializer[0];
  assert.equal(init.name, "w");
  assert.deepEqual(init.dims, [2, 3]);
  assert.equal(init.data_type, OnnxDataType.FLOAT);
  assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(init.raw_data).buffer)), [1, 2, 3, 4, 5, 6]);
});

test("a built graph runs in ONNX Runtime: MatMul + Add + Gelu(tanh) with symbolic batch", async (t) => {
  const ort = loadOnnxRuntime();
  if (!ort) return t.skip("onnxruntime-node unavailable");
  const g = new OnnxGraphBuilder("tiny");
  const x = g.input("x", OnnxDataType.FLOAT, ["batch", 2]);
  const y = g.op("Add", [
    g.op("MatMul", [x, g.floatInit("w", [2, 3], Float32Array.of(1, 0, -1, 0, 1, 2))]),
    g.floatInit("b", [3], Float32Array.of(0.5, 0, 0)),
  ]);
  g.node("Gelu", [y], { approximate: "tanh" }, ["out"]);
  g.output("out", OnnxDataType.FLOAT, ["batch", 3]);
  const bytes = g.build();
  assert.equal((decodeModel(bytes) as { ir_version: number }).ir_version, ONNX_IR_VERSION);
  const session = await createOrtSession(bytes, { threads: 1 });
  const out = await session.run({ x: new ort.Tensor("float32", Float32Array.of(1, 2, -3, 0.5), [2, 2]) });
  const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const want = [1.5, 2, 3, -2.5, 0.5, 4].map(gelu);
  const got = Array.from(out.out.data as Float32Array);
  assert.deepEqual(out.out.dims, [2, 3]);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `${i}: ${v} vs ${want[i]}`));
  assert.equal(ONNX_OPSET, 20);
  await session.release();
});
