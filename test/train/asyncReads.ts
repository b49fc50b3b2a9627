/**
 * The models the asynchronous-read tests share (test/train/asyncReads.test.ts on the CPU backends,
 * test/webgpu/asyncReads.test.ts on WebGPU): small, seeded, and the same on every backend.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  tf,
  GPTModel,
  openWeights,
  loadWeightsIntoGpt,
  prepareLoraClassifier,
  preparePromptTuningClassifier,
} from "llm-spam-classifier";
import { fixtureModel } from "./fixture";

/** The tiny GPT-2 of the PyTorch fixtures (OpenAI's checkpoint layout, 512 tokens). */
export function gpt2Fixture(): GPTModel {
  const { src, config } = openWeights(path.join(__dirname, "..", "fixtures", "model", "openai"));
  const model = new GPTModel(config);
  loadWeightsIntoGpt(model, src);
  return model;
}

/** The trained fixture classifier (512-token vocabulary, padded with 511) and texts whose GPT-2 ids fit it. */
export const classifierFixture = fixtureModel;
export const CLASSIFY_OPTS = { maxLength: 10, padTokenId: 511 };
export const TEXTS = ["a b c", "a b", "c a b a", "b"];

/** A seeded GPT with LoRA on every Linear, B made non-zero (as after training). */
export function loraModel(): GPTModel {
  const model = new GPTModel(
    { vocabSize: 64, contextLength: 12, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true },
    { seed: 3 },
  );
  prepareLoraClassifier(model, { rank: 4, alpha: 4, seed: 5 });
  let seed = 7;
  for (const [n, v] of model.params)
    if (n.endsWith(".lora.B")) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.1, "float32", seed++)));
  return model;
}

/** A seeded GPT with a 4-token soft prompt. */
export function promptModel(): GPTModel {
  const model = new GPTModel(
    { vocabSize: 50257, contextLength: 32, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true },
    { seed: 3 },
  );
  preparePromptTuningClassifier(model, { numTokens: 4, seed: 123 });
  return model;
}

/** Runs the model once, so that on WebGPU every parameter lives on the device (and no longer on the host). */
export function useOnDevice(model: GPTModel): void {
  tf.tidy(() => {
    model.forward(tf.tensor2d([[1, 2, 3]], [1, 3], "int32"));
  });
}

/** Every file of a folder, by name, as bytes. */
export function filesOf(dir: string): Record<string, Buffer> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f))]),
  );
}
