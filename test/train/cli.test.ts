import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { configFromHparams, TINY_GPT2_DIR } from "llm-spam-classifier";
import { classifierParamCount, estimateClassifierTraining } from "llm-spam-classifier/train";
import { ROOT, tempDir } from "../helpers";

// The CLI of 6.5–6.8 in smoke mode: the real data (served from a local file), the tiny GPT-2 that ships
// with the package (the CLI starts its smoke server itself), a few training steps.
const cli = path.join(ROOT, "lib", "dist", "cli", "main.js");

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: ROOT,
      env: { ...process.env, GPT2_BASE_URL: "", LLM_SMOKE: "", ...env },
    });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** One line of `classify --json`. */
interface Classified {
  text: string;
  label: string;
  spamProbability: number;
}

const oneCleanLine = (stderr: string) => {
  assert.equal(
    stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("error:")).length,
    1,
    stderr,
  );
  assert.doesNotMatch(stderr, /\n\s+at /);
};

test("`npm start -- --smoke` (the chapter) trains a few steps with the book's log, saves everything, classifies the book's examples", async () => {
  const { dir, cleanup } = tempDir("cli-chapter-");
  try {
    // No URL given: smoke mode reads the dataset copy and the tiny GPT-2 that ship in the package.
    const r = await run(["--smoke", "--data-dir", dir, "--json"], { SMS_SPAM_URL: "", TFJS_BACKEND: "wasm" });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const log = r.stderr; // with --json the human log goes to stderr
    assert.match(log, /Total parameters: [\d,]+; trainable \(last-block\): [\d,]+/);
    assert.match(log, /^Ep 1 \(Step 000000\): Train loss \d\.\d{3}, Val loss \d\.\d{3}$/m);
    assert.match(log, /^Ep 1 \(Step 000003\): Train loss \d\.\d{3}, Val loss \d\.\d{3}$/m);
    assert.match(log, /^Ep 2 \(Step 000006\): /m);
    assert.equal(log.match(/^Training accuracy: \d+\.\d\d% \| Validation accuracy: \d+\.\d\d%$/gm)?.length, 2);
    assert.match(log, /^Training completed in \d+\.\d\d minutes\.$/m);
    assert.match(log, /^Test accuracy: \d+\.\d\d%$/m);
    assert.match(log, /^"You are a winner.*" → (spam|not spam)$/m);
    assert.match(log, /^"Hey, just wanted.*" → (spam|not spam)$/m);
    const summary = JSON.parse(r.stdout) as { outDir: string; final: { testAcc: number }; log: string[] };
    const out = path.join(dir, "smoke", "review-classifier"); // smoke runs keep their files apart
    assert.equal(summary.outDir, out);
    assert.ok(summary.final.testAcc >= 0 && summary.final.testAcc <= 1);
    const files = fs.readdirSync(out);
    for (const f of [
      "model.safetensors",
      "config.json",
      "metrics.json",
      "log.txt",
      "loss-plot.html",
      "accuracy-plot.html",
    ])
      assert.ok(files.includes(f), `${f} in ${files.join()}`);
    if (fs.existsSync("/usr/bin/chromium"))
      for (const f of ["loss-plot.png", "accuracy-plot.png"]) assert.ok(files.includes(f), f);
    assert.ok(!files.some((f) => f.includes(".tmp")), files.join());
    const metrics = JSON.parse(fs.readFileSync(path.join(out, "metrics.json"), "utf8")) as {
      evalSteps: number[];
      trainLosses: number[];
      examplesSeen: number;
    };
    assert.deepEqual(metrics.evalSteps, [0, 3, 6, 9]); // 2 epochs × 6 steps, evaluated every 3 steps
    assert.equal(metrics.trainLosses.length, 4);
    assert.equal(metrics.examplesSeen, 96);
    assert.equal(fs.readFileSync(path.join(out, "log.txt"), "utf8").trim(), summary.log.join("\n"));
    assert.equal(
      (JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")) as { maxLength: number }).maxLength,
      120,
    );

    // classify with the saved model
    const c = await run(["classify", "WINNER!! Claim your prize now", "--smoke", "--data-dir", dir, "--json"]);
    assert.equal(c.status, 0, c.stderr);
    const res = JSON.parse(c.stdout) as Classified;
    assert.ok(["spam", "not spam"].includes(res.label) && res.spamProbability >= 0 && res.spamProbability <= 1);
    const plain = await run(["classify", "--model", out, "Hey, are we still on for dinner?"]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout.trim(), /^(spam|not spam)$/);

    // many texts from a file: ONNX Runtime by default (5 texts), the same labels and probabilities as tfjs
    const texts = [
      "WINNER!! Claim your prize now",
      "Hey, are we still on for dinner?",
      "",
      "URGENT: your account is suspended, call 0800",
      "ok see you at 5",
      "Free entry in 2 a wkly comp",
    ];
    const file = path.join(dir, "texts.txt");
    fs.writeFileSync(file, texts.join("\n"));
    const viaOnnx = await run(["classify", "--file", file, "--model", out, "--json"]);
    const viaTfjs = await run(["classify", "--file", file, "--model", out, "--json", "--engine", "tfjs"]);
    assert.equal(viaOnnx.status, 0, viaOnnx.stderr);
    assert.equal(viaTfjs.status, 0, viaTfjs.stderr);
    const a = viaOnnx.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Classified),
      b = viaTfjs.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Classified);
    assert.deepEqual(
      a.map((x) => x.text),
      texts.filter((t) => t !== ""),
      "one result per non-empty line, in order",
    );
    assert.deepEqual(
      a.map((x) => x.label),
      b.map((x) => x.label),
    );
    a.forEach((x, i) =>
      assert.ok(
        Math.abs(x.spamProbability - b[i].spamProbability) < 1e-5,
        `${x.text}: ${x.spamProbability} vs ${b[i].spamProbability}`,
      ),
    );
  } finally {
    cleanup();
  }
});

test("`finetune --smoke --max-steps 2` trains 2 steps: the log and metrics.json say so, the model is saved", async () => {
  const { dir, cleanup } = tempDir("cli-max-steps-");
  try {
    const r = await run(["finetune", "--smoke", "--max-steps", "2", "--data-dir", dir, "--json"], {
      SMS_SPAM_URL: "",
      TFJS_BACKEND: "wasm",
    });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const summary = JSON.parse(r.stdout) as { outDir: string; steps: number; log: string[] };
    assert.equal(summary.steps, 2);
    // The smoke schedule evaluates every 3 steps: step 0 only; one epoch begun, so one accuracy line
    assert.deepEqual(
      summary.log.map((l) => l.replace(/\d+\.\d+/g, "#")),
      [
        "Ep 1 (Step 000000): Train loss #, Val loss #",
        "Training accuracy: #% | Validation accuracy: #%",
        "Stopped after 2 optimizer steps (max steps 2)",
        "Training completed in # minutes.",
      ],
    );
    assert.match(r.stderr, /^Test accuracy: \d+\.\d\d%$/m); // evaluated after training, as usual
    const metrics = JSON.parse(fs.readFileSync(path.join(summary.outDir, "metrics.json"), "utf8")) as {
      steps: number;
      epochs: number;
      numEpochs: number;
      evalSteps: number[];
      trainLosses: number[];
      trainAccs: number[];
      examplesSeen: number;
    };
    assert.equal(metrics.steps, 2);
    assert.equal(metrics.examplesSeen, 16);
    assert.deepEqual(metrics.evalSteps, [0]);
    assert.equal(metrics.trainLosses.length, 1);
    assert.equal(metrics.trainAccs.length, 1);
    assert.equal(metrics.epochs, 1);
    assert.equal(metrics.numEpochs, 1);
    const config = JSON.parse(fs.readFileSync(path.join(summary.outDir, "config.json"), "utf8")) as {
      info: { steps: number; epochs: number };
    };
    assert.deepEqual([config.info.steps, config.info.epochs], [2, 1]);
    assert.ok(fs.existsSync(path.join(summary.outDir, "model.safetensors")));
  } finally {
    cleanup();
  }
});

test("`finetune` takes the bonus experiments' flags, trains on the path they allow and records the variant", async () => {
  const { dir, cleanup } = tempDir("cli-variant-");
  try {
    // Rows 4 + 14–18 at once: two blocks, the last real token, no mask, no padding, batch 1, accumulation 2.
    const a = await run(
      [
        "finetune",
        "--smoke",
        "--max-steps",
        "3",
        "--trainable-layers",
        "last-two-blocks",
        "--token-position",
        "flexible",
        "--disable-causal-mask",
        "--no-padding",
        "--batch-size",
        "1",
        "--accumulation-steps",
        "2",
        "--ignore-index",
        "50256",
        "--out",
        path.join(dir, "a"),
        "--data-dir",
        dir,
        "--json",
      ],
      { SMS_SPAM_URL: "", TFJS_BACKEND: "wasm" },
    );
    assert.equal(a.status, 0, a.stderr.slice(-3000));
    const sa = JSON.parse(a.stdout) as { steps: number; runner: string; log: string[] };
    assert.equal(sa.steps, 3); // 6 batches of one text, an optimizer step every 2
    assert.equal(sa.runner, "plain"); // gradient accumulation runs on the plain path
    assert.match(a.stderr, /no padding, longest \d+/);
    const info = (
      JSON.parse(fs.readFileSync(path.join(dir, "a", "config.json"), "utf8")) as { info: { variant: object } }
    ).info;
    assert.deepEqual(info.variant, {
      trainable: "last-two-blocks",
      readout: "flexible",
      contextLength: "longest",
      padding: false,
      batchSize: 1,
      accumulationSteps: 2,
      causalMask: false,
      ignoreIndex: 50256,
      initWeights: "pretrained",
      lr: 5e-5,
      weightDecay: 0.1,
    });
    const metrics = JSON.parse(fs.readFileSync(path.join(dir, "a", "metrics.json"), "utf8")) as {
      variant: { readout: string };
      batches: number;
    };
    assert.equal(metrics.variant.readout, "flexible");
    assert.equal(metrics.batches, 6);

    // Row 10's random weights (in smoke mode of the tiny model's shape), mean readout, a fixed context length.
    const b = await run(
      [
        "finetune",
        "--smoke",
        "--max-steps",
        "2",
        "--weights",
        "random",
        "--model-size",
        "124M",
        "--trainable-layers",
        "all",
        "--average-embeddings",
        "--context-length",
        "64",
        "--lr",
        "1e-4",
        "--weight-decay",
        "0",
        "--out",
        path.join(dir, "b"),
        "--data-dir",
        dir,
        "--json",
      ],
      { SMS_SPAM_URL: "", TFJS_BACKEND: "wasm" },
    );
    assert.equal(b.status, 0, b.stderr.slice(-3000));
    assert.match(b.stderr, /Random weights \(PyTorch's default initialisation, seed 123\) of shape 2 × 8/);
    assert.match(b.stderr, /\(max length 64\)/);
    const cb = JSON.parse(fs.readFileSync(path.join(dir, "b", "config.json"), "utf8")) as {
      maxLength: number;
      info: {
        baseWeights: string;
        variant: { readout: string; contextLength: number; lr: number; initWeights: string };
      };
    };
    assert.equal(cb.maxLength, 64);
    assert.match(cb.info.baseWeights, /^random/);
    assert.deepEqual(
      [cb.info.variant.readout, cb.info.variant.contextLength, cb.info.variant.lr, cb.info.variant.initWeights],
      ["mean", 64, 1e-4, "random"],
    );

    // A context longer than the model's positions: one clear line once the model's size is known
    const c = await run(["finetune", "--smoke", "--context-length", "2000", "--data-dir", dir], {
      SMS_SPAM_URL: "",
      TFJS_BACKEND: "wasm",
    });
    assert.equal(c.status, 2, c.stderr.slice(-2000));
    oneCleanLine(c.stderr);
    assert.match(c.stderr, /^error: A context length of 2000 tokens is more than the model's 1024 positions$/m);
  } finally {
    cleanup();
  }
});

test("a configuration the WASM heap cannot hold is one `error:` line (need, limit, alternatives) before any evaluation, no abort", async () => {
  // LLM_WASM_HEAP_LIMIT_MB lowers the heap limit between what `all` and `last-block` need on the smoke model
  // (batch 8 × 120 tokens), so `--trainable all` cannot fit and last-block is named as an alternative.
  const hparams = JSON.parse(fs.readFileSync(path.join(TINY_GPT2_DIR, "124M", "hparams.json"), "utf8")) as Record<
    string,
    unknown
  >;
  const cfg = configFromHparams(hparams);
  const shape = { batchSize: 8, seqLen: 120 };
  const all = estimateClassifierTraining(cfg, "all", shape).tfjs,
    lastBlock = estimateClassifierTraining(cfg, "last-block", shape).tfjs;
  assert.ok(lastBlock < all);
  const { dir, cleanup } = tempDir("cli-memory-");
  try {
    // The plain path: its tape lives in the WASM heap (the native path would train `all` outside it).
    const r = await run(["finetune", "--smoke", "--trainable", "all", "--path", "plain", "--data-dir", dir], {
      SMS_SPAM_URL: "",
      TFJS_BACKEND: "wasm",
      LLM_WASM_HEAP_LIMIT_MB: String((all + lastBlock) / 2 / 1e6),
    });
    assert.equal(r.status, 2, r.stderr);
    oneCleanLine(r.stderr);
    assert.match(
      r.stderr,
      /^error: This training configuration needs about \d+\.\d MB in tfjs's WASM heap \(weights .* \+ the gradient tape over 2 blocks and the embeddings .*\), more than its \d+\.\d MB limit on the wasm backend\. Alternatives: train fewer layers: --trainable last-block \(about \d+\.\d MB of tfjs tensors\) or last-layer .*; a smaller model; /m,
    );
    assert.match(r.stdout, /^Memory estimate \(plain path\): /m);
    assert.doesNotMatch(r.stdout + r.stderr, /Aborted|RuntimeError|Training accuracy|Ep 1/); // stopped before evaluating
    assert.ok(!fs.existsSync(path.join(dir, "smoke", "review-classifier")));

    // A heap smaller than the trainable weights themselves: refused before they become tf.Variables (which would
    // abort the heap), so before any training path is chosen.
    const trainableBytes = classifierParamCount(cfg, 2, "all").trainable * 4;
    const floor = await run(["finetune", "--smoke", "--trainable", "all", "--data-dir", dir], {
      SMS_SPAM_URL: "",
      TFJS_BACKEND: "wasm",
      LLM_WASM_HEAP_LIMIT_MB: String(trainableBytes / 2 / 1e6),
    });
    assert.equal(floor.status, 2, floor.stderr);
    oneCleanLine(floor.stderr);
    assert.match(
      floor.stderr,
      /^error: This training configuration needs about \d+\.\d MB in tfjs's WASM heap \(trainable weights \(tf\.Variables\) \d+\.\d MB\), more than its \d+\.\d MB limit/m,
    );
    assert.doesNotMatch(floor.stdout, /Training path:|Memory estimate/);
    assert.doesNotMatch(floor.stdout + floor.stderr, /Aborted|RuntimeError|Training accuracy/);
  } finally {
    cleanup();
  }
});

test("classify and finetune mistakes are one clear line, no stack trace", async () => {
  const { dir, cleanup } = tempDir("cli-bad-");
  try {
    const noModel = await run(["classify", "hello", "--data-dir", dir]);
    assert.equal(noModel.status, 1);
    oneCleanLine(noModel.stderr);
    assert.match(noModel.stderr, /No fine-tuned classifier .* Run `npm start -- finetune`/);
    const empty = await run(["classify", "  ", "--data-dir", dir]);
    assert.equal(empty.status, 2);
    oneCleanLine(empty.stderr);
    const finetuneMistakes: Array<[string[], RegExp]> = [
      [["--trainable", "everything"], /^error: --trainable-layers must be one of /m],
      [
        ["--trainable-layers", "lora-ish"],
        /^error: --trainable-layers must be one of last-block, all, last-layer, last-two-blocks/m,
      ],
      [["--token-position", "middle"], /^error: --token-position must be last, first or flexible, got "middle"$/m],
      [["--average-embeddings", "--token-position", "first"], /^error: --average-embeddings averages every position/m],
      [["--no-padding"], /^error: Without padding .* the batch size must be 1 .*got 8/m],
      [["--no-padding", "--batch-size", "1", "--context-length", "model"], /^error: A context length \(model\) pads/m],
      [["--context-length", "huge"], /^error: --context-length must be a positive integer, got "huge"$/m],
      [["--batch-size", "0"], /^error: --batch-size must be a positive integer/m],
      [["--accumulation-steps", "-2"], /^error: --accumulation-steps must be a positive integer/m],
      [["--ignore-index", "x"], /^error: --ignore-index must be an integer/m],
      [["--model-size", "42M"], /^error: --model-size must be one of 124M, 355M, 774M, 1558M, got "42M"$/m],
      [["--lr", "-1"], /^error: --lr must be a positive number, got "-1"$/m],
      [["--weight-decay", "abc"], /^error: --weight-decay must be a non-negative number, got "abc"$/m],
      [["--epochs", "0"], /^error: --epochs must be a positive integer \(at most 1000\), got "0"$/m],
      [["--epochs", "-3"], /^error: --epochs must be a positive integer \(at most 1000\), got "-3"$/m], // not an "ambiguous option"
      [["--epochs=-3"], /^error: --epochs must be a positive integer \(at most 1000\), got "-3"$/m],
      [["--path", "warp"], /^error: --path must be auto, plain, fast or native/m],
      [["--max-steps", "0"], /^error: --max-steps must be a positive integer, got "0"$/m],
      [["--max-steps", "-1"], /^error: --max-steps must be a positive integer, got "-1"$/m],
      [["--max-steps", "two"], /^error: --max-steps must be a positive integer, got "two"$/m],
    ];
    for (const [args, re] of finetuneMistakes) {
      const r = await run(["finetune", ...args, "--data-dir", dir]);
      assert.equal(r.status, 2, `${args.join()}: ${r.stderr}`);
      oneCleanLine(r.stderr);
      assert.match(r.stderr, re);
    }
    const badLen = await run(["classify", "hi", "--max-length", "-3", "--data-dir", dir]);
    assert.equal(badLen.status, 2);
    oneCleanLine(badLen.stderr);
    assert.match(badLen.stderr, /^error: --max-length must be a positive integer, got "-3"$/m);
    for (const args of [
      ["hi", "--engine", "warp"],
      ["--file", path.join(dir, "missing.txt")],
      ["hi", "--file", path.join(dir, "missing.txt")],
    ]) {
      const r = await run(["classify", ...args, "--data-dir", dir]);
      assert.equal(r.status, 2, `${args.join()}: ${r.stderr}`);
      oneCleanLine(r.stderr);
    }
    const noOnnx = await run(["classify", "hi", "--engine", "onnx", "--data-dir", dir], { ONNX_DISABLE: "1" });
    assert.equal(noOnnx.status, 2);
    oneCleanLine(noOnnx.stderr);
    assert.match(noOnnx.stderr, /--engine onnx: onnxruntime-node cannot load here .*--engine tfjs/);
  } finally {
    cleanup();
  }
});
