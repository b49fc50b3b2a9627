import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  tf,
  initBackend,
  loadOnnxRuntime,
  AdamW,
  createRunner,
  loadClassifier,
  saveClassifier,
  modelConfig,
  classifierParamCount,
  replaceLinearWithLora,
  mergeLora,
  loraParamCount,
  prepareLoraClassifier,
  saveLoraAdapter,
  loadLoraAdapter,
  GPTModel,
  ConfigError,
  OnnxClassifier,
  type Batch,
} from "llm-spam-classifier";
import { loraParamNames, loraParamShapes, type LoraScaling } from "llm-spam-classifier/model";
import { lastTokenLogitsOf, trainingMemoryInput } from "llm-spam-classifier/train";
import { maxAbsDiff } from "../engine/fixtureModel";

// LoRA (the book's appendix E) against PyTorch 1.13 (scripts/fixtures/lora_reference.py): LoRALayer /
// LinearWithLoRA / replace_linear_with_lora on a small random GPT classifier, with the same A values, for both
// scaling conventions, head frozen (appendix E) or trainable and wrapped (the bonus experiments' row 11).

const FIX = path.join(__dirname, "..", "fixtures", "lora");
interface LoraRun {
  scaling: LoraScaling;
  rank: number;
  alpha: number;
  head: "frozen" | "trainable";
  A: Record<string, number[][]>;
  trainable: string[];
  num_trainable: number;
  losses: number[];
  logits_after: number[][][];
}
const ref = JSON.parse(fs.readFileSync(path.join(FIX, "lora_steps.json"), "utf8")) as {
  batches: Array<{ inputIds: number[]; labels: number[] }>;
  lr: number;
  weight_decay: number;
  runs: Record<string, LoraRun>;
};
const batches: Batch[] = ref.batches.map((b, i) => ({
  inputIds: Int32Array.from(b.inputIds),
  labels: Int32Array.from(b.labels),
  indices: [0, 1, 2, 3].map((k) => i * 4 + k),
  batchSize: 4,
  seqLen: 10,
}));

/** The fixture's classifier with appendix E's freeze and LoRA, A loaded from the fixture (PyTorch's own layout). */
function loraModel(run: LoraRun): GPTModel {
  const { model } = loadClassifier(FIX);
  model.freezeAll();
  if (run.head === "trainable") model.setTrainable(["out_head"]);
  replaceLinearWithLora(model, run.rank, run.alpha, { scaling: run.scaling });
  for (const [target, a] of Object.entries(run.A)) model.setParam(`${target}.lora.A`, tf.tensor2d(a));
  // PyTorch's `LinearWithLoRA.linear.weight` is our `<target>.weight`; its `lora.A` / `lora.B` keep their names.
  const ours = [...model.trainableParams().keys()].sort();
  const theirs = run.trainable.map((n) => n.replace(".linear.", ".")).sort();
  assert.deepEqual(ours, theirs);
  assert.equal(model.numParams({ trainableOnly: true }), run.num_trainable);
  return model;
}

before(async () => {
  await initBackend();
});

test("appendix E's counts from shapes alone: 124,441,346 → 0 → 2,666,528 (r16), 1,333,264 (r8), +1,538 with the head", () => {
  const cfg = modelConfig("124M");
  assert.equal(classifierParamCount(cfg, 2, "all").trainable, 124_441_346);
  assert.equal(loraParamCount(cfg, 16), 2_666_528);
  assert.equal(loraParamCount(cfg, 8), 1_333_264);
  assert.equal(loraParamCount(cfg, 16) + classifierParamCount(cfg, 2, "last-layer").trainable, 2_668_066);
  assert.equal(loraParamShapes(cfg, 16).length, 2 * (6 * 12 + 1));
});

for (const [name, run] of Object.entries(ref.runs)) {
  for (const pathKind of ["plain", "native"] as const) {
    test(`LoRA (${name}) on the ${pathKind} path reproduces PyTorch's loss at 3 AdamW steps and the logits after`, async (t) => {
      if (pathKind === "native" && !loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
      const model = loraModel(run);
      const opt = new AdamW(model.trainableParams(), { lr: ref.lr, weightDecay: ref.weight_decay });
      const runner = await createRunner(model, opt, { path: pathKind, native: false });
      assert.equal(runner.kind, pathKind);
      let tensors = 0;
      for (let s = 0; s < 3; s++) {
        const loss = await runner.trainStep(batches[s]);
        assert.ok(Math.abs(loss - run.losses[s]) <= 1e-4, `step ${s}: ${loss} vs ${run.losses[s]}`);
        if (s === 0) tensors = tf.memory().numTensors;
      }
      assert.equal(tf.memory().numTensors, tensors, "no tensor leak over the steps");
      for (let b = 0; b < 3; b++) {
        const logits = await runner.logits(batches[b]);
        assert.ok(maxAbsDiff(logits, run.logits_after[b]) <= 1e-4, `batch ${b} logits after training`);
      }
      await runner.finish();
      // Merged: the same logits from a plain GPT (W + scale·AB), no adapter left.
      const ids = tf.tensor2d(batches[0].inputIds, [4, 10], "int32");
      const unmerged = lastTokenLogitsOf(model, ids);
      const want = unmerged.dataSync();
      mergeLora(model);
      assert.equal(model.cfg.lora, undefined);
      assert.deepEqual(loraParamNames(model), []);
      const merged = lastTokenLogitsOf(model, ids);
      assert.ok(maxAbsDiff(merged.dataSync(), want) <= 1e-5, "merged logits equal the unmerged ones");
      assert.ok(maxAbsDiff(merged.dataSync(), run.logits_after[0]) <= 1e-4, "and PyTorch's");
      tf.dispose([ids, unmerged, merged]);
      opt.dispose();
      model.dispose();
    });
  }
}

test("replaceLinearWithLora: A uniform in ±1/√r (seeded), B zeros, the output unchanged; merged models run on ONNX Runtime", async (t) => {
  const cfg = { vocabSize: 64, contextLength: 12, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };
  const ids = tf.tensor2d([[1, 5, 9, 2, 7, 3]], [1, 6], "int32");
  const model = new GPTModel(cfg, { seed: 3 });
  model.replaceOutHead(2);
  const before = lastTokenLogitsOf(model, ids);
  const added = replaceLinearWithLora(model, 4, 8);
  assert.equal(added, loraParamCount(cfg, 4));
  assert.deepEqual(model.cfg.lora, { rank: 4, alpha: 8, scaling: "alpha-over-rank" });
  const a = model.param("trf_blocks.0.att.W_query.lora.A");
  assert.deepEqual(a.shape, [16, 4]);
  const av = a.dataSync();
  assert.ok(av.every((v) => Math.abs(v) <= 0.5) && Math.max(...av) > 0.3 && Math.min(...av) < -0.3);
  assert.deepEqual(model.param("out_head.lora.B").shape, [4, 2]);
  assert.ok(
    model
      .param("out_head.lora.B")
      .dataSync()
      .every((v) => v === 0),
  );
  const other = new GPTModel(cfg, { seed: 3 });
  other.replaceOutHead(2);
  replaceLinearWithLora(other, 4, 8);
  assert.deepEqual([...other.param("trf_blocks.0.att.W_query.lora.A").dataSync()], [...av], "seeded");
  assert.throws(() => replaceLinearWithLora(other, 4, 8), ConfigError);
  assert.throws(() => replaceLinearWithLora(new GPTModel(cfg), 0, 8), ConfigError);
  const same = lastTokenLogitsOf(model, ids);
  assert.ok(maxAbsDiff(same.dataSync(), before.dataSync()) === 0, "B = 0: nothing changes");
  // A non-zero B, then merge: the ONNX inference path of the merged model equals the unmerged tfjs model.
  for (const n of loraParamNames(model))
    if (n.endsWith(".B")) model.setParam(n, tf.randomNormal(model.param(n).shape, 0, 0.3, "float32", 7));
  const unmerged = lastTokenLogitsOf(model, ids);
  assert.ok(maxAbsDiff(unmerged.dataSync(), before.dataSync()) > 1e-3, "the adapters change the logits");
  type EngineRun = { engine: { run(ids: Int32Array, b: number): Promise<Float32Array> } };
  if (loadOnnxRuntime()) {
    // Unmerged on ONNX Runtime: its fused attention and Q/K/V kernels step aside for the adapters.
    const clf = await OnnxClassifier.create(Object.assign(model, { trainedMaxLength: 6 }));
    const got = await (clf as unknown as EngineRun).engine.run(Int32Array.from([1, 5, 9, 2, 7, 3]), 1);
    assert.ok(maxAbsDiff(got, unmerged.dataSync()) <= 1e-4, "ONNX Runtime on the unmerged model");
    await clf.release();
  }
  mergeLora(model);
  const merged = lastTokenLogitsOf(model, ids);
  assert.ok(maxAbsDiff(merged.dataSync(), unmerged.dataSync()) <= 1e-5);
  if (loadOnnxRuntime()) {
    const clf = await OnnxClassifier.create(Object.assign(model, { trainedMaxLength: 6 }));
    const engineLogits = await (clf as unknown as EngineRun).engine.run(Int32Array.from([1, 5, 9, 2, 7, 3]), 1);
    assert.ok(maxAbsDiff(engineLogits, unmerged.dataSync()) <= 1e-4, "ONNX Runtime on the merged model");
    await clf.release();
  } else t.diagnostic("onnxruntime-node unavailable: ONNX check skipped");
  tf.dispose([ids, before, same, unmerged, merged]);
  model.dispose();
  other.dispose();
});

test("prepareLoraClassifier prints appendix E's counts; adapters save and load on their own, checked against the base", () => {
  const cfg = { vocabSize: 64, contextLength: 12, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };
  const lines: string[] = [];
  const model = new GPTModel(cfg, { seed: 3 });
  const counts = prepareLoraClassifier(model, { rank: 4, alpha: 4, log: (l) => lines.push(l) });
  const total = classifierParamCount(cfg, 2, "all").trainable;
  assert.deepEqual(counts, {
    before: total,
    after: 0,
    lora: loraParamCount(cfg, 4),
    total: total + loraParamCount(cfg, 4),
  });
  assert.deepEqual(lines, [
    `Total trainable parameters before: ${total.toLocaleString("en-US")}`,
    "Total trainable parameters after: 0",
    `Total trainable LoRA parameters: ${loraParamCount(cfg, 4).toLocaleString("en-US")}`,
  ]);
  // The memory estimate sees LoRA's trainable set (A and B only).
  assert.equal(trainingMemoryInput(model, { batchSize: 8, seqLen: 10, path: "native" }).trainableParams, counts.lora);
  const withHead = new GPTModel(cfg, { seed: 3 });
  assert.equal(
    prepareLoraClassifier(withHead, { rank: 4, alpha: 4, head: "trainable" }).lora,
    counts.lora + 16 * 2 + 2,
  );

  for (const n of loraParamNames(model))
    model.setParam(n, tf.randomNormal(model.param(n).shape, 0, 0.1, "float32", 11));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-"));
  const saved = saveLoraAdapter(dir, model);
  assert.equal(saved.targets.length, 6 * 2 + 1);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["adapter.json", "adapter.safetensors"]);
  const ids = tf.tensor2d([[1, 5, 9, 2, 7, 3]], [1, 6], "int32");
  const want = lastTokenLogitsOf(model, ids);
  // The same base (fresh GPTModel, same seeds, same head): the adapter applies and gives the same logits.
  const base = new GPTModel(cfg, { seed: 3 });
  base.replaceOutHead(2, { seed: 123 });
  const cfgRead = loadLoraAdapter(dir, base);
  assert.equal(cfgRead.baseSha256, saved.baseSha256);
  const got = lastTokenLogitsOf(base, ids);
  assert.ok(maxAbsDiff(got.dataSync(), want.dataSync()) === 0, "round trip");
  assert.equal(base.numParams({ trainableOnly: true }), 0, "loaded frozen");
  // Another base: one clear error.
  const foreign = new GPTModel(cfg, { seed: 4 });
  foreign.replaceOutHead(2, { seed: 123 });
  assert.throws(
    () => loadLoraAdapter(dir, foreign),
    (e: Error) => e instanceof ConfigError && /other base weights/.test(e.message),
  );
  assert.equal(foreign.cfg.lora, undefined, "nothing applied");
  // A classifier saved with its adapters not merged loads with them.
  saveClassifier(path.join(dir, "clf"), model, { maxLength: 6 });
  const { model: loaded } = loadClassifier(path.join(dir, "clf"));
  assert.deepEqual(loaded.cfg.lora, model.cfg.lora);
  const again = lastTokenLogitsOf(loaded, ids);
  assert.equal(maxAbsDiff(again.dataSync(), want.dataSync()), 0, "unmerged classifier round trip");
  again.dispose();
  loaded.dispose();
  tf.dispose([ids, want, got]);
  for (const m of [model, withHead, base, foreign]) m.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});
