/**
 * The asynchronous chapter functions (what the notebooks call, so that they also run on WebGPU, which has no
 * synchronous read in Node) give exactly what their synchronous versions give, on the CPU backends.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  tf,
  initBackend,
  generateText,
  generateTextSimple,
  tokenIdsToText,
  textToTokenIds,
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
} from "llm-spam-classifier";
import { gpt2Fixture, classifierFixture, CLASSIFY_OPTS, TEXTS, loraModel, promptModel, filesOf } from "./asyncReads";

before(async () => {
  await initBackend();
});

test("await generateText decodes the tokens generateTextSimple computes (greedy, past the context length too)", async () => {
  const model = gpt2Fixture();
  await generateText(model, "a b c", { maxNewTokens: model.cfg.contextLength }); // caches the causal masks
  const before = tf.memory().numTensors;
  for (const maxNewTokens of [0, 3, model.cfg.contextLength + 2]) {
    const ids = textToTokenIds("a b c");
    const idx = tf.tensor2d([ids], [1, ids.length], "int32");
    const out = generateTextSimple(model, idx, maxNewTokens, model.cfg.contextLength);
    const want = tokenIdsToText(out.dataSync());
    tf.dispose([idx, out]);
    const got = await generateText(model, "a b c", { maxNewTokens });
    assert.equal(got, want, `maxNewTokens ${maxNewTokens}`);
    assert.ok(got.startsWith("a b c"));
  }
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test("classifyReviewAsync and classifyWithProbabilityAsync answer as classifyReview and classifyWithProbability", async () => {
  const model = classifierFixture();
  classifyReview(TEXTS[0], model, undefined, CLASSIFY_OPTS); // the first call caches the causal mask
  const before = tf.memory().numTensors;
  for (const text of TEXTS) {
    const want = classifyWithProbability(text, model, undefined, CLASSIFY_OPTS);
    assert.deepEqual(await classifyWithProbabilityAsync(text, model, undefined, CLASSIFY_OPTS), want, text);
    assert.equal(
      await classifyReviewAsync(text, model, undefined, CLASSIFY_OPTS),
      classifyReview(text, model, undefined, CLASSIFY_OPTS),
    );
  }
  await assert.rejects(classifyReviewAsync("", model, undefined, CLASSIFY_OPTS), /empty/i);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test("saveClassifierAsync, saveLoraAdapterAsync and saveSoftPromptAsync write the bytes their synchronous versions write", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "async-save-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cases = [
    {
      name: "classifier",
      model: classifierFixture(),
      sync: (d: string, m: ReturnType<typeof classifierFixture>) => saveClassifier(d, m, { maxLength: 10 }),
      async: (d: string, m: ReturnType<typeof classifierFixture>) => saveClassifierAsync(d, m, { maxLength: 10 }),
    },
    { name: "lora", model: loraModel(), sync: saveLoraAdapter, async: saveLoraAdapterAsync },
    { name: "prompt", model: promptModel(), sync: saveSoftPrompt, async: saveSoftPromptAsync },
  ];
  for (const c of cases) {
    const before = tf.memory().numTensors;
    const want = c.sync(path.join(dir, `${c.name}-sync`), c.model);
    const got = await c.async(path.join(dir, `${c.name}-async`), c.model);
    assert.deepEqual(got, want, c.name);
    const [a, b] = [filesOf(path.join(dir, `${c.name}-async`)), filesOf(path.join(dir, `${c.name}-sync`))];
    assert.ok(Object.keys(a).length >= 2, c.name);
    assert.deepEqual(a, b, c.name);
    assert.equal(tf.memory().numTensors, before);
    c.model.dispose();
  }
});
