import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadClassifier, loadLoraAdapter, tf } from "llm-spam-classifier";
import { ROOT, tempDir } from "../helpers";

// `finetune --trainable lora` (appendix E) in smoke mode: the tiny GPT-2 that ships with the package, the real data.
const cli = path.join(ROOT, "lib", "dist", "cli", "main.js");

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: ROOT,
      env: { ...process.env, GPT2_BASE_URL: "", LLM_SMOKE: "", SMS_SPAM_URL: "", TFJS_BACKEND: "wasm", ...env },
    });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

test("`finetune --method lora --rank 4` (the same as --trainable lora --lora-rank 4) prints appendix E's counts, trains only A and B, saves the merged classifier and the adapter", async () => {
  const { dir, cleanup } = tempDir("cli-lora-");
  try {
    const r = await run([
      "finetune",
      "--smoke",
      "--method",
      "lora",
      "--rank",
      "4",
      "--max-steps",
      "3",
      "--data-dir",
      dir,
      "--json",
    ]);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const log = r.stderr;
    assert.match(log, /^LoRA: rank 4, alpha 16, scaling alpha-over-rank, head frozen, lr 0\.0008$/m);
    const before = /^Total trainable parameters before: ([\d,]+)$/m.exec(log);
    assert.ok(before, log);
    assert.match(log, /^Total trainable parameters after: 0$/m);
    const loraCount = Number(/^Total trainable LoRA parameters: ([\d,]+)$/m.exec(log)![1].replace(/,/g, ""));
    const { outDir } = JSON.parse(r.stdout) as { outDir: string };
    // The merged classifier: a plain GPT (no adapters, no LoRA in its config), trained info recorded.
    const { model, config } = loadClassifier(outDir);
    assert.equal(model.cfg.lora, undefined);
    assert.deepEqual((config.info as { lora: unknown }).lora, {
      rank: 4,
      alpha: 16,
      scaling: "alpha-over-rank",
      head: "frozen",
      lr: 8e-4,
    });
    const E = model.cfg.embDim,
      L = model.cfg.nLayers;
    assert.equal(loraCount, L * 4 * (4 * (E + E)) + L * 4 * (E + 4 * E) * 2 + 4 * (E + 2));
    // The adapter on its own applies to the base it was trained from (the same weights, the same seeded head):
    // the base is the merged classifier minus the adapters, which we cannot undo, so check the hash refuses it.
    assert.ok(fs.existsSync(path.join(outDir, "lora-adapter", "adapter.safetensors")));
    assert.throws(() => loadLoraAdapter(path.join(outDir, "lora-adapter"), model), /other base weights/);
    model.dispose();
    const classify = (...args: string[]) =>
      run([
        "classify",
        "--smoke",
        "--data-dir",
        dir,
        "--engine",
        "tfjs",
        "--json",
        ...args,
        "Call now to claim your prize",
      ]);
    const c = await classify();
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /"label":"(not )?spam"/);
    // The adapter alone, on the GPT-2 it was trained from with the run's seeded head: the same classification.
    const a = await classify("--adapter", path.join(outDir, "lora-adapter"));
    assert.equal(a.status, 0, a.stderr);
    const p = (out: string) => (JSON.parse(out) as { spamProbability: number }).spamProbability;
    assert.ok(Math.abs(p(a.stdout) - p(c.stdout)) <= 1e-6, `${a.stdout} vs ${c.stdout}`);
    assert.equal(tf.memory().numTensors, 0);
  } finally {
    cleanup();
  }
});

test("`finetune --trainable prompt-tuning` trains only the soft prompt, saves the classifier with it and the prompt alone; classify runs it", async () => {
  const { dir, cleanup } = tempDir("cli-prompt-");
  try {
    const r = await run([
      "finetune",
      "--smoke",
      "--trainable",
      "prompt-tuning",
      "--virtual-tokens",
      "6",
      "--prompt-init",
      "Is this spam?",
      "--max-steps",
      "2",
      "--data-dir",
      dir,
      "--json",
    ]);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    assert.match(r.stderr, /^Soft prompt: 6 virtual tokens \(init "Is this spam\?"\), head frozen$/m);
    const { outDir } = JSON.parse(r.stdout) as { outDir: string };
    const { model } = loadClassifier(outDir);
    const trainable = Number(/^Total parameters: [\d,]+; trainable: ([\d,]+)$/m.exec(r.stderr)![1].replace(/,/g, ""));
    assert.equal(trainable, 6 * model.cfg.embDim);
    assert.deepEqual(model.param("prompt_embeddings").shape, [6, model.cfg.embDim]);
    model.dispose();
    const cfg = JSON.parse(fs.readFileSync(path.join(outDir, "soft-prompt", "soft-prompt.json"), "utf8")) as {
      numTokens: number;
      init: string;
    };
    assert.deepEqual([cfg.numTokens, cfg.init], [6, "Is this spam?"]);
    const probs: number[] = [];
    for (const args of [[], ["--adapter", path.join(outDir, "soft-prompt")]]) {
      for (const engine of ["onnx", "tfjs"]) {
        const c = await run([
          "classify",
          "--smoke",
          "--data-dir",
          dir,
          "--engine",
          engine,
          "--json",
          ...args,
          "Call now",
        ]);
        assert.equal(c.status, 0, c.stderr);
        probs.push((JSON.parse(c.stdout) as { spamProbability: number }).spamProbability);
      }
    }
    assert.ok(
      Math.max(...probs) - Math.min(...probs) <= 1e-5,
      `with its prompt, and the prompt alone: ${probs.join(", ")}`,
    );
    const bad = await run(["classify", "--smoke", "--data-dir", dir, "--adapter", outDir, "hi"]);
    assert.equal(bad.status, 1, bad.stderr); // a data problem, as a missing classifier
    assert.match(bad.stderr, /^error: .* holds neither a LoRA adapter/m);
  } finally {
    cleanup();
  }
});

test("LoRA and prompt-tuning option mistakes are one clear line", async () => {
  const { dir, cleanup } = tempDir("cli-lora-bad-");
  try {
    const mistakes: Array<[string[], RegExp]> = [
      [["--lora-rank", "4"], /^error: --lora-rank needs --trainable lora$/m],
      [
        ["--trainable", "lora", "--lora-rank", "0"],
        /^error: --lora-rank must be a positive integer \(at most 4096\), got "0"$/m,
      ],
      [
        ["--trainable", "lora", "--lora-scaling", "rank"],
        /^error: --lora-scaling must be alpha-over-rank or alpha, got "rank"$/m,
      ],
      [["--trainable", "lora", "--lora-head", "open"], /^error: --lora-head must be frozen or trainable, got "open"$/m],
      [["--trainable", "lora", "--lora-lr", "fast"], /^error: --lora-lr must be a positive number, got "fast"$/m],
      [["--virtual-tokens", "4"], /^error: --virtual-tokens needs --trainable prompt-tuning$/m],
      [
        ["--trainable", "prompt-tuning", "--virtual-tokens", "0"],
        /^error: --virtual-tokens must be a positive integer \(at most 1000\), got "0"$/m,
      ],
      [
        ["--trainable", "prompt-tuning", "--prompt-head", "x"],
        /^error: --prompt-head must be frozen or trainable, got "x"$/m,
      ],
      [["--trainable", "lora", "--prompt-lr", "1"], /^error: --prompt-lr needs --trainable prompt-tuning$/m],
      [["--method", "bitfit"], /^error: --method must be lora or prompt-tuning, got "bitfit"$/m],
      [
        ["--method", "lora", "--trainable-layers", "all"],
        /^error: --method lora and --trainable-layers all disagree; give one$/m,
      ],
      [
        ["--method", "lora", "--rank", "4", "--lora-rank", "8"],
        /^error: --rank 4 and --lora-rank 8 disagree; give one$/m,
      ],
    ];
    for (const [args, re] of mistakes) {
      const r = await run(["finetune", ...args, "--data-dir", dir]);
      assert.equal(r.status, 2, `${args.join()}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  } finally {
    cleanup();
  }
});
