import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ConfigError,
  finetuneClassifier,
  getSettings,
  initBackend,
  IMDB_EXPERIMENTS,
  runExperiments,
  GPTModel,
  AdamW,
  type ExperimentRecord,
} from "llm-spam-classifier";
import {
  createRunner,
  prepareClassifier,
  parseRows,
  experimentRow,
  experimentBlocker,
} from "llm-spam-classifier/train";
import { imdbDataPaths, readImdbCsv } from "llm-spam-classifier/data";
import { tempDir } from "../helpers";

// GPT-2 on the IMDb bonus's data (ch06/03 train_gpt.py) in smoke mode: the tiny GPT-2 and the synthetic archive.
const tmp = tempDir("imdb-ft-");
after(tmp.cleanup);
before(async () => {
  await initBackend();
});
const settings = getSettings({ dataDir: tmp.dir, smoke: true }, {});

test("finetune --dataset imdb: the bonus's CSVs, 256 tokens, one epoch, its own folder", async () => {
  const lines: string[] = [];
  const r = await finetuneClassifier(settings, { dataset: "imdb", progress: false, log: (l) => lines.push(l) });
  assert.equal(r.outDir, path.join(settings.dataDir, "imdb-classifier"));
  const cfg = JSON.parse(fs.readFileSync(path.join(r.outDir, "config.json"), "utf8")) as {
    maxLength: number;
    info: { dataset: string; epochs: number };
  };
  assert.equal(cfg.maxLength, 256);
  assert.equal(cfg.info.dataset, "imdb");
  assert.equal(r.train.epochs, 1);
  // 28 training reviews → 3 batches of 8 (drop_last); smoke mode evaluates every 2 steps over 2 batches.
  assert.ok(
    lines.includes("3 training batches, 1 validation batches, 1 test batches (max length 256)"),
    lines.join("\n"),
  );
  assert.deepEqual(r.train.evalSteps, [0, 2]);
  assert.equal(readImdbCsv(path.join(imdbDataPaths(settings.dataDir).bonusDir, "train.csv")).length, 28);
  for (const acc of [r.final.trainAcc, r.final.valAcc, r.final.testAcc]) assert.ok(acc >= 0 && acc <= 1);
  await assert.rejects(finetuneClassifier(settings, { dataset: "imdb", split: "bonus" }), ConfigError);
});

test("the IMDb table: GPT-2 rows run, the BERT family and the logistic regression are listed", async () => {
  assert.deepEqual(IMDB_EXPERIMENTS[0].book, { train: 95.64, val: 92.32, test: 91.88, minutes: 9.48 });
  assert.equal(IMDB_EXPERIMENTS[8].book.test, 88.85);
  assert.deepEqual(parseRows("1-2", "imdb"), [1, 2]);
  assert.throws(() => experimentRow(10, "imdb"), /rows 1–9/);
  assert.match(experimentBlocker(experimentRow(3, "imdb"), settings, { dataset: "imdb" }) ?? "", /BERT/);
  // Not on this machine: 124M's frozen prefix of 50,000 reviews × 256 tokens (39 GB) is no cache; the native path plans.
  const report = await runExperiments(settings, { dataset: "imdb", rows: [2], progress: false });
  const rows = JSON.parse(fs.readFileSync(report.json, "utf8")) as { rows: ExperimentRecord[] };
  assert.equal(report.outDir, path.join(settings.dataDir, "experiments-imdb"));
  assert.deepEqual(
    rows.rows.map((r) => r.status),
    ["not-run", "done", ...Array<string>(7).fill("cannot-run")],
  );
  assert.match(fs.readFileSync(report.markdown, "utf8"), /# The IMDb bonus's models \(ch06\/03\)/);
});

test("auto leaves the fast path when every text's frozen prefix would not fit its cache limit", async () => {
  const model = new GPTModel(
    { vocabSize: 50257, contextLength: 64, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true },
    { seed: 1 },
  );
  try {
    prepareClassifier(model, { numClasses: 2, trainable: "last-block" });
    const opt = new AdamW(model.trainableParams(), { lr: 1e-3 });
    const seqs = [Int32Array.from([1, 2, 3, 4])];
    const lines: string[] = [];
    const small = await createRunner(model, opt, { sequences: seqs, maxCacheBytes: 10, log: (l) => lines.push(l) });
    assert.notEqual(small.kind, "fast");
    assert.ok(
      lines.some((l) => /frozen prefix would take/.test(l)),
      lines.join("\n"),
    );
    await small.finish();
    const big = await createRunner(model, opt, { sequences: seqs, maxCacheBytes: 1e9 });
    assert.equal(big.kind, "fast");
    await big.finish();
  } finally {
    model.dispose();
  }
});
