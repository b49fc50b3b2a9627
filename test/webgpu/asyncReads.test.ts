/**
 * The chapter's asynchronous functions on WebGPU (no synchronous read in Node): each works with the weights on
 * the device and gives what tfjs's CPU backend gives for the same model. Tiny models: the CI adapter is llvmpipe.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  tf,
  initBackend,
  BackendError,
  generateText,
  classifyReview,
  classifyReviewAsync,
  classifyWithProbability,
  classifyWithProbabilityAsync,
  saveClassifier,
  saveClassifierAsync,
  saveLoraAdapter,
  saveLoraAdapterAsync,
  saveSoftPrompt,
  saveSoftPromptAsync,
  loadOnnxRuntime,
  OnnxClassifier,
  type GPTModel,
} from "llm-spam-classifier";
import {
  gpt2Fixture,
  classifierFixture,
  CLASSIFY_OPTS,
  TEXTS,
  loraModel,
  promptModel,
  useOnDevice,
  filesOf,
} from "../train/asyncReads";
import { close } from "../train/fixture";

before(async () => {
  if (process.env.TFJS_BACKEND !== "webgpu") throw new Error("run with TFJS_BACKEND=webgpu (npm test -- --webgpu)");
  await initBackend();
  assert.equal(tf.getBackend(), "webgpu");
});

/** Runs `fn` on tfjs's CPU backend (the reference), then returns to WebGPU. */
async function onCpu<T>(fn: () => T | Promise<T>): Promise<T> {
  await tf.setBackend("cpu");
  try {
    return await fn();
  } finally {
    await tf.setBackend("webgpu");
  }
}

const isSyncReadError = (e: unknown) =>
  e instanceof BackendError && /cannot read tensors synchronously/.test(e.message);

test("await generateText on WebGPU generates the CPU backend's text, with no tensor left behind", async () => {
  const maxNewTokens = 6;
  const want = await onCpu(async () => {
    const m = gpt2Fixture();
    const text = await generateText(m, "a b c", { maxNewTokens });
    m.dispose();
    return text;
  });
  const model = gpt2Fixture();
  await generateText(model, "a b c", { maxNewTokens }); // caches the causal masks
  const before = tf.memory().numTensors;
  assert.equal(await generateText(model, "a b c", { maxNewTokens }), want);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test("classifyReviewAsync and classifyWithProbabilityAsync on WebGPU answer as the CPU backend's classifyReview", async () => {
  const want = await onCpu(() => {
    const m = classifierFixture();
    const r = TEXTS.map((t) => classifyWithProbability(t, m, undefined, CLASSIFY_OPTS));
    m.dispose();
    return r;
  });
  const model = classifierFixture();
  useOnDevice(model);
  assert.throws(() => classifyReview(TEXTS[0], model, undefined, CLASSIFY_OPTS), isSyncReadError);
  const before = tf.memory().numTensors;
  for (const [i, text] of TEXTS.entries()) {
    const got = await classifyWithProbabilityAsync(text, model, undefined, CLASSIFY_OPTS);
    assert.ok(close(got.spamProbability, want[i].spamProbability, 1e-5), `${text}: ${got.spamProbability}`);
    assert.equal(await classifyReviewAsync(text, model, undefined, CLASSIFY_OPTS), want[i].label, text);
  }
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test("the async savers write, from weights on the device, the files the CPU backend's savers write", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webgpu-async-save-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cases: {
    name: string;
    build: () => GPTModel;
    sync: (d: string, m: GPTModel) => unknown;
    async: (d: string, m: GPTModel) => Promise<unknown>;
  }[] = [
    {
      name: "classifier",
      build: classifierFixture,
      sync: (d, m) => saveClassifier(d, m, { maxLength: 10 }),
      async: (d, m) => saveClassifierAsync(d, m, { maxLength: 10 }),
    },
    { name: "lora", build: loraModel, sync: saveLoraAdapter, async: saveLoraAdapterAsync },
    { name: "prompt", build: promptModel, sync: saveSoftPrompt, async: saveSoftPromptAsync },
  ];
  for (const c of cases) {
    const cpuDir = path.join(dir, `${c.name}-cpu`),
      gpuDir = path.join(dir, `${c.name}-webgpu`);
    const want = await onCpu(() => {
      const m = c.build();
      const config = c.sync(cpuDir, m);
      m.dispose();
      return config;
    });
    const model = c.build();
    useOnDevice(model);
    assert.throws(() => c.sync(path.join(dir, `${c.name}-refused`), model), isSyncReadError, c.name);
    const before = tf.memory().numTensors;
    assert.deepEqual(await c.async(gpuDir, model), want, c.name);
    assert.deepEqual(filesOf(gpuDir), filesOf(cpuDir), c.name);
    assert.equal(tf.memory().numTensors, before, c.name);
    model.dispose();
  }
});

test("OnnxClassifier builds from weights on the device and classifies as classifyWithProbabilityAsync", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const model = Object.assign(classifierFixture(), { trainedMaxLength: 10, padTokenId: 511 });
  useOnDevice(model);
  const clf = await OnnxClassifier.create(model);
  try {
    const got = await clf.classify(TEXTS);
    for (const [i, text] of TEXTS.entries()) {
      const want = await classifyWithProbabilityAsync(text, model);
      assert.ok(close(got[i].spamProbability, want.spamProbability, 1e-5), text);
      assert.equal(got[i].label, want.label, text);
    }
  } finally {
    await clf.release();
    model.dispose();
  }
});
