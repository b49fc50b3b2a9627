/**
 * Every kernel the library's training step runs (forward and backward: the chapter's classifier, all layers
 * trainable, with dropout, LoRA and a soft prompt) exists on tfjs's WebGPU backend. Recorded on `cpu` here,
 * checked against the kernels @tensorflow/tfjs-backend-webgpu registers when imported (no adapter needed), so
 * a kernel WebGPU lacks shows up on any machine, as WASM's UnsortedSegmentSum did (wasmKernels.ts).
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  tf,
  initBackend,
  AdamW,
  GPTModel,
  PlainRunner,
  prepareClassifier,
  replaceLinearWithLora,
  type Batch,
} from "llm-spam-classifier";
import { addSoftPrompt } from "llm-spam-classifier/model";

const cfg = { vocabSize: 64, contextLength: 12, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0.1, qkvBias: true };
const batch: Batch = {
  inputIds: Int32Array.from([1, 5, 9, 2, 7, 3, 4, 63, 8, 60, 0, 11]),
  labels: Int32Array.from([0, 1]),
  indices: [0, 1],
  batchSize: 2,
  seqLen: 6,
};

before(async () => {
  await initBackend("cpu");
  await import("@tensorflow/tfjs-backend-webgpu"); // registers its kernels; no navigator.gpu, so no backend
});

/** Kernels run by one training step and one evaluation of the model (tfjs's op names like x__op are not kernels). */
async function kernelsOf(model: GPTModel, ignoreIndex?: number): Promise<string[]> {
  const runner = new PlainRunner(model, new AdamW(model.trainableParams()), { ignoreIndex });
  const names = new Set<string>();
  for (const f of [() => runner.trainStep(batch), () => runner.logits(batch)]) {
    const info = await tf.profile(async () => {
      await f();
      return [];
    });
    info.kernelNames.filter((n) => !n.includes("__")).forEach((n) => names.add(n));
  }
  runner.optimizer!.dispose();
  await runner.finish();
  model.dispose();
  return [...names].sort();
}

test("the kernels of the chapter's training step, LoRA and prompt tuning all exist on WebGPU", async () => {
  const variants: Array<[string, () => GPTModel, number?]> = [
    [
      "every layer trainable, dropout, ignore_index",
      () => {
        const m = new GPTModel(cfg, { seed: 3 });
        prepareClassifier(m);
        m.setTrainable(["tok_emb", "pos_emb", "trf_blocks", "final_norm", "out_head"]);
        return m;
      },
      1,
    ],
    [
      "LoRA",
      () => {
        const m = new GPTModel(cfg, { seed: 4 });
        prepareClassifier(m);
        replaceLinearWithLora(m, 2, 4);
        m.setTrainable(["lora"]);
        return m;
      },
    ],
    [
      "soft prompt",
      () => {
        const m = new GPTModel(cfg, { seed: 5 });
        prepareClassifier(m);
        addSoftPrompt(m, { numTokens: 3 });
        m.setTrainable(["prompt_embeddings"]);
        return m;
      },
    ],
  ];
  const all = new Set<string>();
  for (const [what, make, ignore] of variants) {
    const kernels = await kernelsOf(make(), ignore);
    assert.ok(kernels.includes("BatchMatMul") && kernels.includes("Softmax"), `${what}: ${kernels.join(" ")}`);
    kernels.forEach((k) => all.add(k));
  }
  assert.ok(all.has("UnsortedSegmentSum"), "the embeddings' gradient ran");
  assert.deepEqual(
    [...all].filter((k) => !tf.getKernel(k, "webgpu")),
    [],
    "kernels without a WebGPU implementation",
  );
  assert.equal(tf.getBackend(), "cpu");
});
