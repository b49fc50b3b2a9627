import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf, initBackend, DataFormatError, ShapeMismatchError, ConfigError, DownloadError } from "llm-spam-classifier";
import { bertConfigFromHf } from "llm-spam-classifier/model";
import {
  SafetensorsFile,
  writeSafetensors,
  bertWeightArrays,
  loadBertModel,
  downloadBert,
  hfEndpoint,
  hubFileUrl,
} from "llm-spam-classifier/weights";
import { serveFiles } from "llm-spam-classifier/util";
import { BERT_FIXTURES, fixtureBatch, maxAbsDiff, readBertReference } from "./fixture";

// Loading Hugging Face's BERT checkpoints: names (legacy gamma/beta, prefix-less BertModel, pretraining heads),
// missing / unexpected / misshapen tensors, a missing classifier head, and the Hub's URL scheme on 127.0.0.1.
const ref = readBertReference();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bert-weights-"));
const cfg = bertConfigFromHf(
  JSON.parse(fs.readFileSync(path.join(BERT_FIXTURES, "config.json"), "utf8")) as Record<string, unknown>,
);
const source = new SafetensorsFile(path.join(BERT_FIXTURES, "model.safetensors"));
const tensors = () => new Map([...source.entries.keys()].map((n) => [n, source.readTensor(n)]));

/** A copy of the fixture checkpoint with its tensors renamed, dropped or added by `edit`. */
function variant(name: string, edit: (t: Map<string, { data: Float32Array; shape: number[] }>) => void): string {
  const t = tensors();
  edit(t);
  const file = path.join(tmp, `${name}.safetensors`);
  writeSafetensors(file, t);
  return file;
}

before(async () => {
  await initBackend();
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("a pretraining checkpoint loads: LayerNorm gamma/beta, cls.* heads left out, a new classifier initialised", () => {
  const file = variant("pretraining", (t) => {
    for (const n of [...t.keys()]) {
      if (n.endsWith("LayerNorm.weight")) t.set(n.replace(/weight$/, "gamma"), t.get(n)!);
      if (n.endsWith("LayerNorm.bias")) t.set(n.replace(/bias$/, "beta"), t.get(n)!);
      if (n.includes("LayerNorm") || n.startsWith("classifier.")) t.delete(n);
    }
    t.set("cls.predictions.bias", { data: new Float32Array(cfg.vocabSize), shape: [cfg.vocabSize] });
    t.set("bert.embeddings.position_ids", { data: new Float32Array(40), shape: [1, 40] });
  });
  const lines: string[] = [];
  const w = bertWeightArrays(file, cfg, { log: (l) => lines.push(l) });
  assert.deepEqual([...w.get("classifier.bias")!], [0, 0]);
  const head = w.get("classifier.weight")!;
  const std = Math.sqrt(head.reduce((a, v) => a + v * v, 0) / head.length);
  assert.ok(std > 0.005 && std < 0.05, `new head std ${std}`);
  assert.match(lines.join("\n"), /newly initialized: classifier.weight, classifier.bias/);
  const exact = bertWeightArrays(path.join(BERT_FIXTURES, "model.safetensors"), cfg);
  for (const n of ["bert.embeddings.LayerNorm.weight", "bert.encoder.layer.1.output.LayerNorm.bias"])
    assert.deepEqual(w.get(n), exact.get(n));
  assert.throws(() => bertWeightArrays(file, cfg, { missingHead: "error" }), /has no classifier head/);
});

test("Linear weights are transposed to [in, out]; a prefix-less BertModel checkpoint loads too", () => {
  const exact = bertWeightArrays(path.join(BERT_FIXTURES, "model.safetensors"), cfg);
  const hf = source.readTensor("bert.encoder.layer.0.intermediate.dense.weight"); // [64, 32]
  const ours = exact.get("bert.encoder.layer.0.intermediate.dense.weight")!; // [32, 64]
  assert.equal(ours[1 * 64 + 5], hf.data[5 * 32 + 1]);
  const bare = variant("bare", (t) => {
    for (const n of [...t.keys()])
      if (n.startsWith("bert.")) {
        t.set(n.slice(5), t.get(n)!);
        t.delete(n);
      }
  });
  const w = bertWeightArrays(bare, cfg);
  for (const [n, v] of exact) assert.deepEqual(w.get(n), v, n);
});

test("missing, unexpected and misshapen tensors are clear errors", () => {
  const missing = variant("missing", (t) => t.delete("bert.encoder.layer.1.attention.self.key.bias"));
  assert.throws(
    () => bertWeightArrays(missing, cfg),
    (e: Error) =>
      e instanceof DataFormatError &&
      /lacks 1 tensor\(s\) of BERT: bert.encoder.layer.1.attention.self.key.bias/.test(e.message),
  );
  const extra = variant("extra", (t) =>
    t.set("bert.encoder.layer.2.output.dense.bias", { data: new Float32Array(32), shape: [32] }),
  );
  assert.throws(
    () => bertWeightArrays(extra, cfg),
    (e: Error) =>
      e instanceof DataFormatError && /does not have: bert.encoder.layer.2.output.dense.bias/.test(e.message),
  );
  const shape = variant("shape", (t) =>
    t.set("bert.pooler.dense.weight", { data: new Float32Array(32 * 16), shape: [16, 32] }),
  );
  assert.throws(
    () => bertWeightArrays(shape, cfg),
    (e: Error) =>
      e instanceof ShapeMismatchError && /bert.pooler.dense.weight: expected \[32,32\], got \[16,32\]/.test(e.message),
  );
  assert.throws(
    () => loadBertModel(tmp),
    (e: Error) => e instanceof ConfigError && /config.json not found/.test(e.message),
  );
  assert.throws(() => bertConfigFromHf({ model_type: "gpt2" }), /model_type "gpt2" is not "bert"/);
});

test("downloadBert fetches a repository by the Hub's URL scheme from an overridable endpoint (127.0.0.1)", async () => {
  assert.equal(hfEndpoint({}), "https://huggingface.co");
  assert.equal(hfEndpoint({ HF_ENDPOINT: "http://mirror.local/" }), "http://mirror.local");
  assert.equal(
    hubFileUrl("google-bert/bert-base-uncased", "vocab.txt", { endpoint: "https://huggingface.co" }),
    "https://huggingface.co/google-bert/bert-base-uncased/resolve/main/vocab.txt",
  );
  const server = await serveFiles({ "/test-org/tiny-bert/resolve/main/": BERT_FIXTURES });
  try {
    const dir = await downloadBert("test-org/tiny-bert", path.join(tmp, "models"), {
      endpoint: server.baseUrl,
      progress: false,
    });
    assert.equal(dir, path.join(tmp, "models", "test-org", "tiny-bert"));
    assert.ok(server.requests.includes("/test-org/tiny-bert/resolve/main/model.safetensors"));
    const { model } = loadBertModel(dir);
    const b = fixtureBatch(ref, 2);
    const ids = tf.tensor2d(b.inputIds, [b.batchSize, b.seqLen], "int32");
    const logits = model.logits(ids);
    assert.ok(maxAbsDiff(logits.dataSync(), ref.logits[2].flat()) <= 1e-4);
    tf.dispose([ids, logits]);
    model.dispose();
    // A second call finds the files up to date.
    const lines: string[] = [];
    await downloadBert("test-org/tiny-bert", path.join(tmp, "models"), {
      endpoint: server.baseUrl,
      log: (l) => lines.push(l),
    });
    assert.equal(lines.filter((l) => l.startsWith("File already exists")).length, 3);
    await assert.rejects(
      downloadBert("test-org/none", path.join(tmp, "models"), {
        endpoint: server.baseUrl,
        progress: false,
        retries: 0,
      }),
      (e: Error) => e instanceof DownloadError && /HTTP 404/.test(e.message) && /HF_ENDPOINT/.test(e.message),
    );
  } finally {
    await server.close();
  }
  await assert.rejects(downloadBert("../etc", tmp), (e: Error) => e instanceof ConfigError);
});

test("loadPretrainedBert: a model id through HF_ENDPOINT's scheme, or a folder, to a model and its tokenizer", async () => {
  const { loadPretrainedBert } = await import("llm-spam-classifier/weights");
  const server = await serveFiles({ "/org/tiny/resolve/main/": BERT_FIXTURES });
  try {
    const { model, tokenizer, config, dir } = await loadPretrainedBert({
      model: "org/tiny",
      modelsDir: path.join(tmp, "pretrained"),
      endpoint: server.baseUrl,
      progress: false,
    });
    assert.equal(dir, path.join(tmp, "pretrained", "org", "tiny"));
    assert.equal(config.hiddenSize, 32);
    const ids = tokenizer.encodeBatch(["the movie was great!"], { maxLength: 12 });
    const x = tf.tensor2d(ids.inputIds, [1, 12], "int32");
    const logits = model.logits(x);
    assert.equal(logits.shape[1], 2);
    tf.dispose([x, logits]);
    model.dispose();
    const local = await loadPretrainedBert({ model: BERT_FIXTURES });
    assert.equal(local.dir, BERT_FIXTURES);
    local.model.dispose();
  } finally {
    await server.close();
  }
});
