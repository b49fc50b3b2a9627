import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { createBalancedDataset, mapLabels, randomSplit, prepareSpamData, readSplitCsv, readSmsSpamFile, DataFormatError, type PreparedSpamData } from "llm-spam-classifier";
import { readSmsSpamTsv, valueCounts, formatCsv, parseCsv, parseDelimited, spamDataPaths, shuffleRows, splitDataset, checkDataSplit } from "llm-spam-classifier/data";
import { ConfigError } from "llm-spam-classifier";
import { SMS_SPAM_ZIP, tempDir } from "../helpers";

// Written by scripts/fixtures/numpy_pandas_reference.py with pandas itself (the book's code).
interface PandasRef {
  rows: number;
  row_label_and_text_sha256_16: Array<[string, string]>;
  row_5081_text: string;
  balanced_original_index: number[];
  split_csv_sha256: { train: string; validation: string; test: string };
  bonus_split_csv_sha256: { train: string; validation: string; test: string };
  bonus_split_label_counts: Record<"train" | "validation" | "test", { "0": number; "1": number }>;
}
const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "data", "pandas_reference.json"), "utf8")) as PandasRef;
const short = (s: string) => crypto.createHash("sha256").update(s, "utf8").digest("hex").slice(0, 16);
const tmp = tempDir("split-test-");
let prepared: PreparedSpamData;
let raw: string; // the extracted SMSSpamCollection, as the book reads it

before(async () => {
  prepared = await prepareSpamData(tmp.dir, { urls: [SMS_SPAM_ZIP], progress: false });
  raw = fs.readFileSync(spamDataPaths(tmp.dir).dataFilePath, "utf8");
});
after(tmp.cleanup);

test("the TSV reader gives pandas' 5,572 rows (ham 4,825, spam 747), row by row", () => {
  const rows = readSmsSpamTsv(raw);
  assert.equal(rows.length, 5572);
  assert.deepEqual(valueCounts(rows.map((r) => r.Label)), [["ham", 4825], ["spam", 747]]);
  assert.equal(rows.length, ref.rows);
  rows.forEach((r, i) => assert.deepEqual([r.Label, short(r.Text)], ref.row_label_and_text_sha256_16[i], `row ${i}`));
  assert.equal(rows[5081].Text, ref.row_5081_text); // three lines merged by an unclosed quote
  assert.match(rows[5081].Text, /\nham\tYeah, give me a call/);
});

test("quote rules: quoted fields, quotes closing mid-field, doubled quotes, blank lines", () => {
  assert.deepEqual(parseDelimited('a\t"quoted, text"\n\nb\t"Gimme a few" was it\nc\tsay "hi" there\n', "\t"),
    [["a", "quoted, text"], ["b", "Gimme a few was it"], ["c", 'say "hi" there']]);
  assert.deepEqual(parseDelimited('x,"he said ""no"""\r\ny,z', ","), [["x", 'he said "no"'], ["y", "z"]]);
  assert.throws(() => parseDelimited('a\t"never closed', "\t"), DataFormatError);
  assert.throws(() => readSmsSpamTsv("ham\tone\tbad\n"), (e: unknown) => e instanceof DataFormatError && /Row 0 has 3 fields/.test(e.message));
});

test("balancing picks pandas' 747 ham rows (original indices) followed by the spam rows", () => {
  const balanced = createBalancedDataset(readSmsSpamTsv(raw));
  assert.equal(balanced.length, 1494);
  assert.deepEqual(balanced.map((r) => r.index), ref.balanced_original_index);
  assert.deepEqual(valueCounts(balanced.map((r) => r.Label)), [["ham", 747], ["spam", 747]]);
});

test("the three CSVs have the book's sizes, label counts and pandas' exact bytes", () => {
  const { train, validation, test: testFile } = prepared.files;
  assert.deepEqual([train.rows, validation.rows, testFile.rows], [1045, 149, 300]);
  assert.deepEqual([train.labelCounts[1], train.labelCounts[0]], [517, 528]);
  assert.deepEqual([validation.labelCounts[1], validation.labelCounts[0]], [79, 70]);
  assert.deepEqual([testFile.labelCounts[1], testFile.labelCounts[0]], [151, 149]);
  assert.equal(train.sha256, "c89a1156b8476e6f4c0bfa4bc944f3d934e3db2942c5dc2a1456a65a795afcde");
  assert.deepEqual({ train: train.sha256, validation: validation.sha256, test: testFile.sha256 }, ref.split_csv_sha256);
});

test("the bonus split (ch06/02's create_dataset_csvs): pandas' exact bytes, in its own folder, the chapter's files untouched", async () => {
  const chapterBytes = fs.readFileSync(prepared.files.train.path);
  const bonus = await prepareSpamData(tmp.dir, { urls: [SMS_SPAM_ZIP], progress: false, split: "bonus" });
  assert.equal(bonus.split, "bonus");
  const { train, validation, test: testFile } = bonus.files;
  for (const f of [train, validation, testFile]) assert.equal(f.path, path.join(tmp.dir, "bonus-split", `${f.name}.csv`));
  assert.deepEqual([train.rows, validation.rows, testFile.rows], [1045, 149, 300]);
  assert.deepEqual({ train: train.sha256, validation: validation.sha256, test: testFile.sha256 }, ref.bonus_split_csv_sha256);
  for (const f of [train, validation, testFile]) assert.deepEqual({ "0": f.labelCounts[0], "1": f.labelCounts[1] }, ref.bonus_split_label_counts[f.name]);
  // A different split from the chapter's (same rows, other order), and the chapter's CSVs are as they were.
  assert.notEqual(train.sha256, prepared.files.train.sha256);
  assert.deepEqual(fs.readFileSync(prepared.files.train.path), chapterBytes);
  const labeled = mapLabels(createBalancedDataset(readSmsSpamTsv(raw)));
  const all = (s: { train: unknown[]; validation: unknown[]; test: unknown[] }) => [...s.train, ...s.validation, ...s.test];
  assert.deepEqual(splitDataset(labeled, "bonus"), randomSplit(shuffleRows(labeled)));
  assert.deepEqual(splitDataset(labeled, "chapter"), randomSplit(labeled));
  assert.equal(new Set(all(splitDataset(labeled, "bonus"))).size, labeled.length);
  assert.throws(() => checkDataSplit("book"), (e: unknown) => e instanceof ConfigError && /--split must be chapter or bonus, got "book"/.test(e.message));
});

test("CSV round trip: what we write, we read back unchanged; bad CSVs are clear errors", () => {
  const rows = readSplitCsv(prepared.files.train.path);
  assert.equal(formatCsv(rows), fs.readFileSync(prepared.files.train.path, "utf8"));
  const split = randomSplit(mapLabels(createBalancedDataset(readSmsSpamTsv(raw))));
  assert.deepEqual(rows, split.train);
  assert.throws(() => parseCsv("Text,Label\n", "x.csv"), (e: unknown) => e instanceof DataFormatError && /x\.csv: expected the header "Label,Text"/.test(e.message));
  assert.throws(() => parseCsv("Label,Text\n2,hello\n", "y.csv"), (e: unknown) => e instanceof DataFormatError && /y\.csv, row 1/.test(e.message));
  assert.throws(() => readSplitCsv(path.join(tmp.dir, "missing.csv")), (e: unknown) => e instanceof DataFormatError && /missing\.csv does not exist; run `npm start -- data`/.test(e.message));
  assert.throws(() => readSmsSpamFile(path.join(tmp.dir, "missing.tsv")), (e: unknown) => e instanceof DataFormatError && /missing\.tsv does not exist/.test(e.message));
});

test("prepareSpamData is idempotent: a second call downloads nothing and rewrites nothing", async () => {
  const before = fs.statSync(prepared.files.train.path).mtimeMs;
  const lines: string[] = [];
  const again = await prepareSpamData(tmp.dir, { urls: ["http://127.0.0.1:1/never-asked.zip"], progress: false, log: (l) => lines.push(l) });
  assert.equal(fs.statSync(again.files.train.path).mtimeMs, before);
  assert.match(lines[0], /SMSSpamCollection\.tsv already exists\. Skipping download and extraction\./);
});
