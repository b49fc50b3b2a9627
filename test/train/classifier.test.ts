import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  tf,
  initBackend,
  GPTModel,
  prepareClassifier,
  classifierParamCount,
  checkTrainable,
  modelConfig,
  ConfigError,
  DataFormatError,
  classifyReview,
  classifyWithProbability,
  classifyWithProbabilityAsync,
  loadClassifier,
  saveClassifier,
  getTokenizer,
  PAD_TOKEN_ID,
} from "llm-spam-classifier";
import { encodeForClassification } from "llm-spam-classifier/model";
import { lastTokenLogitsOf } from "llm-spam-classifier/train";
import { SafetensorsFile, writeSafetensors } from "llm-spam-classifier/weights";
import { fixtureModel } from "./fixture";

before(async () => {
  await initBackend();
});
const CFG = { vocabSize: 50257, contextLength: 24, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };
const SPAM = "You are a winner you have been specially selected to receive $1000 cash or a $2000 award.";

test("6.5 counts: 124M gives 124,441,346 parameters, 7,090,946 trainable (without building it); the model agrees on small configs", () => {
  assert.deepEqual(classifierParamCount(modelConfig("124M")), { total: 124_441_346, trainable: 7_090_946 });
  assert.equal(classifierParamCount(modelConfig("124M"), 2, "last-layer").trainable, 1538);
  assert.equal(classifierParamCount(modelConfig("124M"), 2, "all").trainable, 124_441_346);
  const cfg = { vocabSize: 100, contextLength: 8, embDim: 8, nHeads: 2, nLayers: 3, dropRate: 0, qkvBias: true };
  for (const t of ["last-block", "all", "last-layer"] as const) {
    const m = new GPTModel(cfg);
    assert.deepEqual(prepareClassifier(m, { trainable: t }), classifierParamCount(cfg, 2, t), t);
    assert.equal(m.numParams({ trainableOnly: true }), classifierParamCount(cfg, 2, t).trainable);
    m.dispose();
  }
  assert.equal(checkTrainable("last_block"), "last-block");
  assert.throws(() => checkTrainable("everything"), ConfigError);
});

test("6.5 head swap: Linear(E → 2) with bias, seeded; only the last block, final norm and head train", () => {
  const a = new GPTModel(CFG),
    b = new GPTModel(CFG);
  prepareClassifier(a, { seed: 123 });
  prepareClassifier(b, { seed: 123 });
  assert.deepEqual(a.param("out_head.weight").shape, [8, 2]);
  assert.deepEqual(a.param("out_head.bias").shape, [2]);
  assert.deepEqual(a.param("out_head.weight").dataSync(), b.param("out_head.weight").dataSync());
  const bound = 1 / Math.sqrt(8); // PyTorch nn.Linear init: U(±1/√in)
  for (const v of [...a.param("out_head.weight").dataSync(), ...a.param("out_head.bias").dataSync()])
    assert.ok(Math.abs(v) <= bound);
  const names = [...a.trainableParams().keys()];
  assert.ok(
    names.every((n) => n.startsWith("trf_blocks.1.") || n.startsWith("final_norm.") || n.startsWith("out_head.")),
    names.join(),
  );
  assert.ok(names.includes("final_norm.scale") && names.includes("trf_blocks.1.att.W_query.weight"));
  a.dispose();
  b.dispose();
});

test("6.8 classifyReview: right-pads with 50256 to the trained length (capped at pos_emb rows), last-token argmax", async () => {
  const model = new GPTModel(CFG) as GPTModel & { trainedMaxLength?: number };
  prepareClassifier(model);
  const tok = getTokenizer(),
    n = tok.encode("Hello there").length;
  // no maxLength and no trained length: the supported length = position-embedding rows (24), not the width (8)
  const ids = encodeForClassification("Hello there", model);
  assert.equal(ids.length, 24);
  assert.deepEqual(ids.slice(n), new Array(24 - n).fill(PAD_TOKEN_ID));
  model.trainedMaxLength = 10;
  assert.equal(encodeForClassification("Hello there", model).length, 10);
  assert.equal(encodeForClassification("Hello there", model, tok, { maxLength: 500 }).length, 24); // capped
  assert.equal(encodeForClassification(SPAM, model, tok, { maxLength: 5 }).length, 5); // truncated
  assert.deepEqual(
    encodeForClassification("Hello there", model, tok, { maxLength: 12, padTokenId: 0 }).slice(n),
    new Array(12 - n).fill(0),
  );
  // the label is the argmax of the last-position logits of that padded input
  const x = tf.tensor2d([encodeForClassification(SPAM, model)], [1, 10], "int32");
  const logits = lastTokenLogitsOf(model, x).dataSync();
  const { label, spamProbability } = classifyWithProbability(SPAM, model);
  assert.equal(label, logits[1] > logits[0] ? "spam" : "not spam");
  assert.equal(classifyReview(SPAM, model), label);
  assert.ok(Math.abs(spamProbability - 1 / (1 + Math.exp(logits[0] - logits[1]))) < 1e-5);
  // the asynchronous read (every backend, WebGPU included) gives the same answer and leaves no tensor behind
  const before = tf.memory().numTensors;
  assert.deepEqual(await classifyWithProbabilityAsync(SPAM, model), { label, spamProbability });
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(x);
  for (const bad of ["", "   "])
    assert.throws(
      () => classifyReview(bad, model),
      (e: unknown) => e instanceof ConfigError && /empty text/.test(e.message),
    );
  assert.throws(() => classifyReview("hi", model, tok, { maxLength: 0 }), ConfigError);
  assert.throws(() => classifyReview("hi <|endoftext|>", model), ConfigError);
  model.dispose();
});

test("6.8 save/load: safetensors in PyTorch's layout + config.json, exact round trip, trained length kept, no temp files", () => {
  const model = fixtureModel();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clf-"));
  const out = path.join(dir, "nested", "clf");
  saveClassifier(out, model, { maxLength: 10, info: { note: "test" } });
  assert.deepEqual(fs.readdirSync(out).sort(), ["config.json", "model.safetensors"]);
  const st = new SafetensorsFile(path.join(out, "model.safetensors"));
  assert.deepEqual(st.entries.get("out_head.weight")!.shape, [2, 16]); // nn.Linear's [out, in]
  assert.deepEqual(st.entries.get("tok_emb.weight")!.shape, [512, 16]);
  assert.equal((JSON.parse(st.metadata.classifier_config) as { maxLength: number }).maxLength, 10);
  const { model: back, maxLength, config } = loadClassifier(out);
  assert.equal(maxLength, 10);
  assert.equal(back.trainedMaxLength, 10);
  assert.deepEqual(config.info, { note: "test" });
  assert.equal(back.numParams({ trainableOnly: true }), 0); // loaded frozen
  for (const [name, v] of model.params) assert.deepEqual(back.param(name).dataSync(), v.dataSync(), name);
  assert.equal(back.padTokenId, 511); // the fixture's config
  assert.throws(
    () => classifyReview("Win cash now", back),
    (e: unknown) => e instanceof ConfigError && /outside the model's vocabulary of 512/.test(e.message),
  );
  back.dispose();
  model.dispose();
  // a GPT-2-vocabulary classifier answers the same after the round trip
  const gpt = new GPTModel(CFG);
  prepareClassifier(gpt);
  saveClassifier(out, gpt, { maxLength: 12 });
  const again = loadClassifier(out).model;
  for (const text of [SPAM, "Hey, are we still on for dinner?"]) {
    assert.equal(
      classifyWithProbability(text, again).spamProbability,
      classifyWithProbability(text, gpt, undefined, { maxLength: 12 }).spamProbability,
    );
  }
  gpt.dispose();
  again.dispose();
  fs.rmSync(dir, { recursive: true });
});

test("loadClassifier errors are clear DataFormatErrors: no folder, foreign config, missing tensor", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clf-bad-"));
  assert.throws(
    () => loadClassifier(path.join(dir, "nope")),
    (e: unknown) => e instanceof DataFormatError && /No fine-tuned classifier.*finetune/.test(e.message),
  );
  const model = new GPTModel(CFG);
  prepareClassifier(model);
  saveClassifier(dir, model, { maxLength: 8 });
  // a model file without the embedded config falls back to config.json, which must be ours
  const st = new SafetensorsFile(path.join(dir, "model.safetensors"));
  const tensors = new Map(
    [...st.entries.keys()].filter((n) => n !== "out_head.bias").map((n) => [n, st.readTensor(n)] as const),
  );
  writeSafetensors(path.join(dir, "model.safetensors"), tensors, {});
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ format: "something-else" }));
  assert.throws(
    () => loadClassifier(dir),
    (e: unknown) => e instanceof DataFormatError && /not a classifier saved by this project/.test(e.message),
  );
  saveClassifier(dir, model, { maxLength: 8 });
  writeSafetensors(
    path.join(dir, "model.safetensors"),
    new Map([...tensors].filter(([n]) => n !== "final_norm.scale")),
    { classifier_config: fs.readFileSync(path.join(dir, "config.json"), "utf8") },
  );
  assert.throws(
    () => loadClassifier(dir),
    (e: unknown) => e instanceof DataFormatError && /final_norm\.scale/.test(e.message),
  );
  model.dispose();
  fs.rmSync(dir, { recursive: true });
});
