/**
 * A quick look at the parameter-efficient training steps on 124M random weights, batch 8 × 120, through
 * createRunner's native path (every layer on ONNX Runtime, forward and backward): appendix E's LoRA (r 16,
 * alpha 16, every Linear wrapped) and prompt tuning (20 virtual tokens). Not yet part of `npm run bench`'s
 * table; compare with scripts/bench/peft_step_torch.py (PyTorch on the same shapes).
 * Usage: node --import tsx bench/peftStep.ts [lora|prompt-tuning] [reps]
 */
import {
  AdamW,
  createRunner,
  GPTModel,
  initBackend,
  modelConfig,
  prepareLoraClassifier,
  preparePromptTuningClassifier,
  tf,
  type Batch,
} from "llm-spam-classifier";

async function main(): Promise<void> {
  const method = process.argv[2] ?? "lora",
    reps = Number(process.argv[3] ?? 3);
  await initBackend();
  const model = new GPTModel(modelConfig("124M"), { seed: 123 });
  const log = (l: string) => console.log(`  ${l}`);
  if (method === "lora") prepareLoraClassifier(model, { rank: 16, alpha: 16, log });
  else preparePromptTuningClassifier(model, { numTokens: 20, log });
  let s = 123;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31);
  const batch: Batch = {
    inputIds: Int32Array.from({ length: 8 * 120 }, () => next() % 50257),
    labels: Int32Array.from({ length: 8 }, () => next() % 2),
    indices: Array.from({ length: 8 }, (_, i) => i),
    batchSize: 8,
    seqLen: 120,
  };
  const optimizer = new AdamW(model.trainableParams(), { lr: 8e-4, weightDecay: 0.1 });
  const runner = await createRunner(model, optimizer, { path: "native", log });
  const times: number[] = [];
  for (let rep = 0; rep <= reps; rep++) {
    const t0 = performance.now();
    const loss = await runner.trainStep(batch);
    times.push((performance.now() - t0) / 1000);
    console.log(`  ${method} step ${rep}: ${times[rep].toFixed(2)} s, loss ${loss.toFixed(6)}`);
  }
  const timed = times.slice(1).sort((a, b) => a - b);
  console.log(`${method}: median step ${timed[timed.length >> 1].toFixed(2)} s (first step ${times[0].toFixed(2)} s)`);
  await runner.finish();
  optimizer.dispose();
  model.dispose();
  tf.disposeVariables();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
