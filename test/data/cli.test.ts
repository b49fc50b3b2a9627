import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { SMS_SPAM_ZIP, tempDir, closedUrl } from "../helpers";

// `npm start -- data` end to end, on the real zip copied from a local path (SMS_SPAM_URL).
const root = path.resolve(__dirname, "..", "..");
const cli = path.join(root, "lib", "dist", "cli", "main.js");
const tmp = tempDir("data-cli-");
after(tmp.cleanup);
const env = { SMS_SPAM_URL: SMS_SPAM_ZIP, LLM_DATA_DIR: path.join(tmp.dir, "default") };
const run = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cli, "data", ...args], { cwd: root, encoding: "utf8", env: { ...process.env, ...env, ...extra } });

test("data --out DIR --json writes the three CSVs and reports counts and sha256", () => {
  const out = path.join(tmp.dir, "out");
  const r = run(["--out", out, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { dataFile: string; files: Array<{ name: string; rows: number; labelCounts: Record<string, number>; sha256: string; path: string }> };
  assert.equal(report.dataFile, path.join(out, "sms_spam_collection", "SMSSpamCollection.tsv"));
  assert.deepEqual(report.files.map((f) => [f.name, f.rows, f.labelCounts["0"], f.labelCounts["1"]]),
    [["train", 1045, 528, 517], ["validation", 149, 70, 79], ["test", 300, 149, 151]]);
  assert.equal(report.files[0].sha256, "c89a1156b8476e6f4c0bfa4bc944f3d934e3db2942c5dc2a1456a65a795afcde");
  for (const f of report.files) assert.equal(f.path, path.join(out, `${f.name}.csv`));
  assert.ok(!fs.existsSync(env.LLM_DATA_DIR), "--out is used instead of the data folder");
  // Human-readable form, second run: skips the download and prints one line per file.
  const again = run(["--out", out]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already exists\. Skipping download and extraction\./);
  assert.match(again.stdout, /^train +1045 rows \(ham 528, spam 517\) +sha256 c89a1156b8476e6f/m);
});

test("data --split bonus writes the bonus script's split in <out>/bonus-split, beside the chapter's", () => {
  const out = path.join(tmp.dir, "bonus");
  const r = run(["--split", "bonus", "--out", out, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { files: Array<{ name: string; rows: number; path: string; sha256: string }> };
  const ref = JSON.parse(fs.readFileSync(path.join(root, "test", "fixtures", "data", "pandas_reference.json"), "utf8")) as {
    bonus_split_csv_sha256: Record<string, string>;
  };
  assert.deepEqual(report.files.map((f) => [f.name, f.rows, f.path]), [
    ["train", 1045, path.join(out, "bonus-split", "train.csv")],
    ["validation", 149, path.join(out, "bonus-split", "validation.csv")],
    ["test", 300, path.join(out, "bonus-split", "test.csv")],
  ]);
  assert.deepEqual(Object.fromEntries(report.files.map((f) => [f.name, f.sha256])), ref.bonus_split_csv_sha256);
  assert.ok(!fs.existsSync(path.join(out, "train.csv")), "the chapter's files are not written by --split bonus");
});

test("bad input: one clear error line, no stack trace", async () => {
  const file = path.join(tmp.dir, "a-file");
  fs.writeFileSync(file, "x");
  const cases: Array<[string[], Record<string, string>, number, RegExp]> = [
    [["extra"], {}, 2, /^error: data takes no arguments, got "extra"/],
    [["--split", "book", "--out", path.join(tmp.dir, "badsplit")], {}, 2, /^error: --split must be chapter or bonus, got "book"/],
    [["--out", path.join(file, "sub")], {}, 2, /^error: Cannot use .*a-file\/sub as the data folder \(ENOTDIR\)/],
    [["--out", path.join(tmp.dir, "nozip")], { SMS_SPAM_URL: path.join(path.dirname(SMS_SPAM_ZIP), "README.md") } /* not a zip */, 1, /^error: sms_spam_collection\.zip is not a valid zip file .*was removed/],
    [["--out", path.join(tmp.dir, "nonet"), "--sms-spam-url", await closedUrl("sms.zip")], { }, 1, /^error: Could not download sms_spam_collection\.zip:\n {2}http:\/\/127\.0\.0\.1:\d+\/sms\.zip: ECONNREFUSED/m],
  ];
  for (const [args, extra, code, pattern] of cases) {
    const r = run(args, extra);
    assert.equal(r.status, code, `${args.join(" ")}: ${r.stderr}`);
    const errorPart = r.stderr.slice(r.stderr.indexOf("error: "));
    assert.match(errorPart, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test("data --dataset imdb --smoke writes the bonus's and Hugging Face's CSVs from the synthetic archive", () => {
  const dir = path.join(tmp.dir, "imdb");
  const ref = JSON.parse(fs.readFileSync(path.join(root, "test", "fixtures", "imdb", "reference.json"), "utf8")) as {
    csv_sha256: Record<string, string>;
  };
  const r = run(["--dataset", "imdb", "--smoke", "--data-dir", dir, "--json"], { IMDB_URL: "" });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { files: Array<{ name: string; rows: number; sha256: string; path: string }> };
  assert.deepEqual(report.files.map((f) => f.name), ["train", "validation", "test", "hf/train", "hf/test", "hf/train-subset", "hf/test-subset"]);
  for (const f of report.files) assert.equal(f.sha256, ref.csv_sha256[f.name.startsWith("hf/") ? `${f.name}.csv` : `bonus/${f.name}.csv`], f.name);
  assert.equal(report.files[0].path, path.join(dir, "smoke", "imdb", "train.csv"));
  const bad = run(["--dataset", "imdb", "--split", "bonus"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--split is for the SMS data/);
  const unknown = run(["--dataset", "yelp"]);
  assert.match(unknown.stderr, /--dataset must be sms or imdb, got "yelp"/);
});
