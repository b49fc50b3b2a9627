import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  configFromHparams,
  EXPERIMENTS,
  experimentBlocker,
  getSettings,
  initBackend,
  runExperiments,
  TINY_GPT2_DIR,
  TrainingInterruptedError,
  type ExperimentRecord,
} from "llm-spam-classifier";
import { classifierParamCount, parseRows, prefixDepthsToKeep } from "llm-spam-classifier/train";
import { ROOT, tempDir } from "../helpers";

// The book's additional experiments (ch06/02) in smoke mode: the package's tiny GPT-2 and dataset copy, a few steps per row.
const cli = path.join(ROOT, "lib", "dist", "cli", "main.js");
const tinyCfg = configFromHparams(
  JSON.parse(fs.readFileSync(path.join(TINY_GPT2_DIR, "124M", "hparams.json"), "utf8")) as Record<string, unknown>,
);
const smokeSettings = (dataDir: string) => getSettings({ dataDir, smoke: true }, {});
const readRows = (dir: string) =>
  (JSON.parse(fs.readFileSync(path.join(dir, "experiments.json"), "utf8")) as { rows: ExperimentRecord[] }).rows;

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, "experiments", ...args], {
      cwd: ROOT,
      env: { ...process.env, GPT2_BASE_URL: "", SMS_SPAM_URL: "", LLM_SMOKE: "", TFJS_BACKEND: "wasm" },
    });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

before(async () => {
  await initBackend();
});

test("the table: 19 rows in the book's order with its accuracies; --rows parsing", () => {
  assert.deepEqual(
    EXPERIMENTS.map((r) => r.row),
    Array.from({ length: 19 }, (_, i) => i + 1),
  );
  assert.deepEqual(EXPERIMENTS[0].book, { train: 96.63, val: 99.33, test: 95.0, minutes: 0.28 });
  assert.equal(EXPERIMENTS[18].bookFlags, "--average_embeddings");
  assert.deepEqual(EXPERIMENTS[14].options, { padding: false, batchSize: 1, accumulationSteps: 8 });
  assert.deepEqual(parseRows("4,1-2, 19"), [1, 2, 4, 19]);
  assert.throws(() => parseRows("0"), /no experiment row 0; the book's table has rows 1–19/);
  assert.throws(() => parseRows("1;2"), /--rows takes row numbers like 1,2,4/);
});

test("the rows' prefix reuse: a row keeps the shallower frozen prefixes that later rows on the same texts need", () => {
  const rows = (...ns: number[]) => ns.map((n) => EXPERIMENTS[n - 1]);
  // The table's order: row 1 (last block, depth 11) keeps depth 10 for row 4 (last two blocks); row 3 (head only,
  // 12) would keep 10 and 11, which rows 1 and 2 wrote already; row 17 (no causal mask) and rows 13, 14 (other
  // texts) share nothing; rows that train every block have no prefix.
  const keep = prefixDepthsToKeep(rows(1, 2, 3, 4, 5, 13, 14, 16, 17, 18, 19), false);
  assert.deepEqual(Object.fromEntries(keep), { 1: [10], 2: [10], 3: [10, 11] });
  // Row 4 first: no later row trains more blocks, so nothing is kept
  assert.equal(prefixDepthsToKeep(rows(4, 1, 3), false).size, 0);
});

test("rows that cannot run say why: missing weights of bigger models, memory above the limits", () => {
  const { dir, cleanup } = tempDir("exp-block-");
  try {
    const settings = getSettings({ dataDir: dir }, {});
    const roomy = { backend: "cpu", available: 64e9, total: 64e9 };
    assert.equal(experimentBlocker(EXPERIMENTS[10], settings, { limits: roomy }), undefined, "LoRA (row 11) runs");
    assert.match(
      experimentBlocker(EXPERIMENTS[5], settings, { limits: roomy })!,
      /GPT-2 355M's weights are not in .*gpt2\/355M/,
    );
    assert.equal(experimentBlocker(EXPERIMENTS[0], settings, { limits: roomy }), undefined);
    // 124M with every layer trained on the native path needs a few GB; 2 GB are not enough, and the reason says so.
    const small = { backend: "cpu", available: 2e9, total: 2e9 };
    assert.match(
      experimentBlocker(EXPERIMENTS[4], settings, { limits: small })!,
      /needs about \d+\.\d\d GB of memory, more than the 2\.00 GB/,
    );
    // On the WASM heap, once its files are on disk: 1558M with its last block trained fits (its frozen weights,
    // 6 GB, stay outside tfjs); with every layer trained, its 6.2 GB of weights exceed the 4 GB limit.
    const xl = path.join(dir, "gpt2", "1558M");
    fs.mkdirSync(xl, { recursive: true });
    for (const f of [
      "checkpoint",
      "encoder.json",
      "hparams.json",
      "model.ckpt.data-00000-of-00001",
      "model.ckpt.index",
      "model.ckpt.meta",
      "vocab.bpe",
    ])
      fs.writeFileSync(path.join(xl, f), "");
    const wasm = { backend: "wasm", wasmHeap: 4294901760, available: 64e9, total: 64e9 };
    assert.equal(experimentBlocker(EXPERIMENTS[7], settings, { limits: wasm }), undefined);
    assert.match(experimentBlocker(EXPERIMENTS[8], settings, { limits: wasm })!, /more than the WASM heap's 4\.29 GB/);
    // On this project's 24 GB machines row 9 needs more than the machine itself (weights, gradients, AdamW's moments
    // and activations): the reason names the machine's memory, which no other backend would change.
    const machine = { ...wasm, available: 22e9, total: 24e9 };
    assert.match(
      experimentBlocker(EXPERIMENTS[8], settings, { limits: machine })!,
      /needs about \d+\.\d\d GB of memory, more than the 22\.00 GB available here/,
    );
  } finally {
    cleanup();
  }
});

test("`experiments --smoke` trains three quick rows on the tiny model and writes experiments.json and experiments.md", async () => {
  const { dir, cleanup } = tempDir("exp-cli-");
  try {
    const help = await run(["--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--rows LIST/);
    const bad = await run(["--rows", "20", "--data-dir", dir]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^error: There is no experiment row 20/m);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);

    const r = await run(["--smoke", "--data-dir", dir, "--json"]);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const out = path.join(dir, "smoke", "experiments");
    const summary = JSON.parse(r.stdout) as { outDir: string; ran: number[] };
    assert.equal(summary.outDir, out);
    assert.deepEqual(summary.ran, [1, 3, 5]);
    const rows = readRows(out);
    assert.equal(rows.length, 19, "every row is listed");
    const byRow = new Map(rows.map((x) => [x.row, x]));
    const count = (t: "last-block" | "last-layer" | "all") => classifierParamCount(tinyCfg, 2, t).trainable;
    for (const [n, trainable, p] of [
      [1, count("last-block"), "fast"],
      [3, count("last-layer"), "fast"],
      [5, count("all"), "native"],
    ] as const) {
      const rec = byRow.get(n)!;
      assert.equal(rec.status, "done", `row ${n}`);
      assert.deepEqual(rec.run, { split: "bonus", smoke: true });
      const o = rec.ours!;
      for (const acc of [o.trainAcc, o.valAcc, o.testAcc]) assert.ok(acc >= 0 && acc <= 1, `row ${n}: ${acc}`);
      assert.equal(o.trainableParams, trainable, `row ${n}`);
      assert.equal(o.path, p, `row ${n}`);
      assert.deepEqual([o.steps, o.epochs], [12, 2]); // smoke schedule: 2 epochs of 6 steps
      assert.ok(fs.existsSync(path.join(out, `row-0${n}`, "metrics.json")));
      assert.ok(!fs.existsSync(path.join(out, `row-0${n}`, "model.safetensors")), "models are not kept by default");
    }
    assert.equal(new Set([count("last-block"), count("last-layer"), count("all")]).size, 3);
    assert.equal(byRow.get(11)!.status, "not-run", "LoRA (row 11) can run: not chosen in smoke mode");
    assert.match(byRow.get(6)!.reason!, /smoke mode has only the tiny model/);
    assert.equal(byRow.get(2)!.status, "not-run");
    // The rows trained on the bonus split, whose CSVs are in their own folder.
    assert.ok(fs.existsSync(path.join(dir, "smoke", "bonus-split", "train.csv")));
    const md = fs.readFileSync(path.join(out, "experiments.md"), "utf8");
    assert.equal(md.split("\n").filter((l) => /^\| \d+ \|/.test(l)).length, 19);
    const pct = (x: number) => (100 * x).toFixed(2);
    const o1 = byRow.get(1)!.ours!;
    assert.ok(
      md.includes(`| 96.63 / 99.33 / 95.00 | 0.28 | ${pct(o1.trainAcc)} / ${pct(o1.valAcc)} / ${pct(o1.testAcc)} |`),
      md,
    );
    assert.match(md, /\| 6 \| 355M \|.*\| cannot-run: smoke mode has only the tiny model/);
    assert.ok(!fs.readdirSync(out).some((f) => f.includes(".tmp")));
  } finally {
    cleanup();
  }
});

test("an interrupted run keeps its finished rows; the next run skips them and trains the rest", async () => {
  const { dir, cleanup } = tempDir("exp-resume-");
  try {
    const settings = smokeSettings(dir);
    const out = path.join(dir, "exp");
    // Stop (as Ctrl-C does) once row 1 has saved its files: row 3 starts and ends at its first step.
    const controller = new AbortController();
    const log = (line: string) => {
      if (line.startsWith("Saved the classifier") && line.includes("row-01")) controller.abort();
    };
    await assert.rejects(
      runExperiments(settings, { rows: [1, 3], outDir: out, signal: controller.signal, log, progress: false }),
      TrainingInterruptedError,
    );
    const first = readRows(out);
    const row1 = first.find((r) => r.row === 1)!;
    assert.equal(row1.status, "done");
    assert.equal(first.find((r) => r.row === 3)!.status, "not-run");

    const lines: string[] = [];
    const again = await runExperiments(settings, {
      rows: [1, 3],
      outDir: out,
      progress: false,
      log: (l) => lines.push(l),
    });
    assert.deepEqual(again.ran, [3]);
    assert.ok(
      lines.some((l) => /^Row 1 .* is done already/.test(l)),
      lines.join("\n"),
    );
    const second = readRows(out);
    assert.deepEqual(
      second.find((r) => r.row === 1),
      row1,
      "row 1 is kept as it was",
    );
    assert.equal(second.find((r) => r.row === 3)!.status, "done");

    // Other settings (here: a step limit, weights given as a path) are another run: the row trains again.
    const weights = path.join(TINY_GPT2_DIR, "124M");
    const limited = await runExperiments(settings, { rows: [1], outDir: out, maxSteps: 2, weights, progress: false });
    assert.deepEqual(limited.ran, [1]);
    const r1 = readRows(out).find((r) => r.row === 1)!;
    assert.deepEqual(r1.run, { split: "bonus", smoke: true, weights, maxSteps: 2 });
    assert.equal(r1.ours!.steps, 2);
  } finally {
    cleanup();
  }
});
