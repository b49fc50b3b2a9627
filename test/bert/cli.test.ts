import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { initBackend, loadOnnxRuntime, tf, BertTokenizer, TINY_BERT_DIR } from "llm-spam-classifier";
import { listCheckpoints } from "llm-spam-classifier/train";
import { loadBertModel, smokeBert, SafetensorsFile } from "llm-spam-classifier/weights";
import { ROOT, tempDir } from "../helpers";

// `finetune --model bert-base-uncased --dataset imdb` (the fine-tuning chapter) and `classify` on BERT in smoke mode:
// the tiny BERT that ships with the package and the synthetic IMDb archive.
const cli = path.join(ROOT, "lib", "dist", "cli", "main.js");
const REVIEW = "This movie was absolutely fantastic! The acting was superb.";

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: ROOT,
      env: { ...process.env, LLM_SMOKE: "", IMDB_URL: "", HF_ENDPOINT: "http://127.0.0.1:9", TFJS_BACKEND: "wasm" },
    });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const softmax = (row: number[]) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
};

before(async () => {
  await initBackend("wasm");
});

test("the tiny BERT ships with the package: its vocabulary spells every synthetic review, smokeBert adds a seeded head", async () => {
  const tensors = tf.memory().numTensors;
  const a = await smokeBert();
  const b = await smokeBert();
  try {
    assert.equal(a.model.cfg.hiddenSize, 32);
    assert.equal(a.model.cfg.maxPositionEmbeddings, 512);
    assert.deepEqual(a.model.param("classifier.weight").dataSync(), b.model.param("classifier.weight").dataSync());
    const tok = BertTokenizer.fromDir(TINY_BERT_DIR);
    const ids = tok.encode('Review 31: He said ""nothing"" at all I hated it. Two lines\nin one review (983)');
    assert.ok(!ids.includes(tok.unkId), tok.decode(ids, { skipSpecialTokens: false }));
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
  assert.equal(tf.memory().numTensors, tensors);
});

test("finetune --model bert-base-uncased --smoke: the Trainer's steps and checkpoints, a classifier folder classify reads, --resume", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const { dir, cleanup } = tempDir("bert-cli-");
  try {
    const r = await run([
      "finetune",
      "--model",
      "bert-base-uncased",
      "--dataset",
      "imdb",
      "--smoke",
      "--data-dir",
      dir,
      "--trainer-args",
      "num_train_epochs=2,learning_rate=5e-3,logging_steps=1",
      "--json",
    ]);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const out = JSON.parse(r.stdout) as {
      outDir: string;
      train: { globalStep: number; metrics: { epoch: number } };
      eval: { evalAccuracy: number; evalLoss: number };
    };
    // 20 synthetic training reviews, batch 4 (smoke) × accumulation 2: 5 batches, 3 steps an epoch.
    assert.equal(out.train.globalStep, 6);
    assert.equal(out.train.metrics.epoch, 2);
    assert.match(r.stderr, /^Train size: 20, test size: 20$/m);
    assert.match(r.stderr, /"learningRate":0\.005,/);
    const checkpoints = listCheckpoints(path.join(out.outDir, "checkpoints")).map((c) => path.basename(c));
    assert.deepEqual(checkpoints, ["checkpoint-3", "checkpoint-6"]);
    const metrics = JSON.parse(fs.readFileSync(path.join(out.outDir, "metrics.json"), "utf8")) as {
      trainingArgs: Record<string, unknown>;
    };
    assert.equal(metrics.trainingArgs.weightDecay, 0.01);
    assert.equal(metrics.trainingArgs.metricForBestModel, "evalAccuracy");
    assert.equal(metrics.trainingArgs.loadBestModelAtEnd, true);

    // classify reads the folder; its probabilities are the saved model's, computed here on tfjs.
    const c = await run(["classify", "--smoke", "--data-dir", dir, "--model", out.outDir, "--json", REVIEW]);
    assert.equal(c.status, 0, c.stderr.slice(-2000));
    const got = JSON.parse(c.stdout) as { label: string; probabilities: number[]; confidence: number };
    const { model } = loadBertModel(out.outDir, { missingHead: "error" });
    const tok = BertTokenizer.fromDir(out.outDir);
    const ids = tok.encode(REVIEW, { maxLength: 64 });
    const logits = tf.tidy(() => Array.from(model.logits(tf.tensor2d([ids], [1, ids.length], "int32")).dataSync()));
    model.dispose();
    const want = softmax(logits);
    want.forEach((p, i) => assert.ok(Math.abs(p - got.probabilities[i]) < 1e-4, `${p} vs ${got.probabilities[i]}`));
    assert.equal(got.label, want[1] > want[0] ? "positive" : "negative");

    // --resume continues from checkpoint-6: one more epoch is 3 more steps.
    const again = await run([
      "finetune",
      "--model",
      "bert-base-uncased",
      "--smoke",
      "--data-dir",
      dir,
      "--trainer-args",
      "num_train_epochs=3,learning_rate=5e-3,logging_steps=1",
      "--resume",
      "--json",
    ]);
    assert.equal(again.status, 0, again.stderr.slice(-3000));
    assert.match(again.stderr, /^Resuming from .*checkpoint-6 \(step 6, epoch 2\.00\)$/m);
    assert.equal((JSON.parse(again.stdout) as { train: { globalStep: number } }).train.globalStep, 9);
  } finally {
    cleanup();
  }
});

test("finetune --method prompt-tuning on BERT: only the prompt trains, the chapter's epoch lines, the prompt file, classify with it", async (t) => {
  if (!loadOnnxRuntime()) return t.skip("onnxruntime-node unavailable");
  const { dir, cleanup } = tempDir("bert-cli-prompt-");
  try {
    const r = await run([
      "finetune",
      "--model",
      "bert-base-uncased",
      "--method",
      "prompt-tuning",
      "--virtual-tokens",
      "5",
      "--smoke",
      "--data-dir",
      dir,
      "--json",
    ]);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const out = JSON.parse(r.stdout) as { outDir: string; trainableParams: number; epochs: unknown[] };
    assert.equal(out.trainableParams, 5 * 32);
    assert.match(r.stderr, /^Trainable parameters: 160 \(of [\d,]+\)$/m);
    assert.match(r.stderr, /^Train size: 8, test size: 8$/m);
    const lines = r.stderr.match(/^Epoch \d: train loss [\d.]+, val loss [\d.]+, val acc [\d.]+$/gm) ?? [];
    assert.equal(lines.length, 3, r.stderr);
    assert.equal(out.epochs.length, 3);
    const promptFile = path.join(out.outDir, "prompt_embeddings.safetensors");
    const st = new SafetensorsFile(promptFile);
    assert.deepEqual(st.readTensor("prompt_embeddings").shape, [1, 5, 32]);
    // The folder (BERT + its prompt) and the prompt alone in front of the tiny BERT (seeded head) agree.
    const a = await run(["classify", "--smoke", "--data-dir", dir, "--model", out.outDir, "--json", REVIEW]);
    const b = await run(["classify", "--smoke", "--data-dir", dir, "--adapter", promptFile, "--json", REVIEW]);
    assert.equal(a.status, 0, a.stderr.slice(-2000));
    assert.equal(b.status, 0, b.stderr.slice(-2000));
    const pa = (JSON.parse(a.stdout) as { probabilities: number[] }).probabilities;
    const pb = (JSON.parse(b.stdout) as { probabilities: number[] }).probabilities;
    pa.forEach((p, i) => assert.ok(Math.abs(p - pb[i]) < 1e-6, `${p} vs ${pb[i]}`));
    // Without the prompt the answer differs: the prompt is read.
    const { model } = loadBertModel(out.outDir, { missingHead: "error" });
    const tok = BertTokenizer.fromDir(out.outDir);
    const ids = tok.encode(REVIEW, { maxLength: 64 - 5 });
    const plain = softmax(
      tf.tidy(() => Array.from(model.logits(tf.tensor2d([ids], [1, ids.length], "int32")).dataSync())),
    );
    model.dispose();
    assert.ok(Math.abs(plain[1] - pa[1]) > 1e-6, `${plain[1]} vs ${pa[1]}`);
  } finally {
    cleanup();
  }
});

test("finetune --model: one clear error for each bad combination, before any work", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--model", "bert-base-uncased", "--dataset", "sms"], /BERT is fine-tuned on the IMDb reviews \(--dataset imdb\)/],
    [
      ["--model", "bert-base-uncased", "--trainer-args", "lerning_rate=1"],
      /unknown TrainingArguments key "lerning_rate"/,
    ],
    [["--model", "bert-base-uncased", "--trainer-args", "num_train_epochs=two"], /num_train_epochs must be an integer/],
    [["--model", "bert-base-uncased", "--token-position", "first"], /--token-position is a GPT-2 option/],
    [["--model", "bert-base-uncased", "--method", "lora"], /BERT trains every parameter .* not "lora"/],
    [["--model", "bert-base-uncased", "--virtual-tokens", "5"], /--virtual-tokens needs --method prompt-tuning/],
    [
      ["--model", "bert-base-uncased", "--method", "prompt-tuning", "--trainer-args", "gradient_accumulation_steps=2"],
      /gradientAccumulationSteps does not apply/,
    ],
    [["--model", "bert-base-uncased", "--lr", "1e-3", "--trainer-args", "learning_rate=2e-5"], /disagree/],
    [["--trainer-args", "num_train_epochs=1"], /--trainer-args goes with --model \(BERT\)/],
    [["--model", "bert-base-uncased", "--trainer-args", "loadBestModelAtEnd=maybe"], /must be true or false/],
    [["--model", "bert-base-uncased", "--trainer-args", "seed=1,seed=2"], /gives seed twice/],
    [["--model", "bert-base-uncased", "--method", "prompt-tuning", "--resume"], /prompt tuning has none/],
  ];
  for (const [args, message] of cases) {
    const r = await run(["finetune", "--smoke", ...args]);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});

test("finetune --help documents BERT (the chapter's TrainingArguments, prompt tuning, the figures) and loads no tfjs", () => {
  const code = `
    const Module = require("module"); const load = Module._load; let tf = false;
    Module._load = function (req) { if (/@tensorflow\\//.test(req)) tf = true; return load.apply(this, arguments); };
    require(${JSON.stringify(cli)}).main(["finetune", "--help"]).then((c) => { process.stderr.write("TFJS=" + tf + " CODE=" + c + "\\n"); });`;
  const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8" });
  assert.match(r.stderr, /TFJS=false CODE=0/);
  assert.match(r.stdout, /--trainer-args K=V/);
  assert.match(r.stdout, /learning_rate=2e-5/);
  assert.match(r.stdout, /--method prompt-tuning/);
  assert.match(r.stdout, /0\.93596/);
});
