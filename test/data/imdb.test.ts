import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError, RandomState, SpamDataset, getSettings } from "llm-spam-classifier";
import {
  IMDB_SYNTHETIC_TAR,
  imdbDataPaths,
  prepareImdbData,
  loadImdbSplits,
  loadImdbHf,
  readImdbCsv,
  loadImdbFolder,
  readImdbArchive,
  listTarGz,
  extractTarGz,
  formatTextLabelCsv,
  parseTextLabelCsv,
  parseCsv,
} from "llm-spam-classifier/data";
import { serveFiles } from "llm-spam-classifier/util";
import { ROOT, tempDir } from "../helpers";

// Written by scripts/fixtures/imdb_reference.py: the bonus's download_prepare_dataset.py and Hugging Face's
// imdb script run with pandas and NumPy on the synthetic archive that ships in lib/assets/imdb-synthetic/.
const FIX = path.join(ROOT, "test", "fixtures", "imdb");
interface Ref {
  tar_sha256: string;
  archive_order: string[];
  rows: number;
  bonus_sizes: number[];
  subset_size: number;
  subset_indices: { train: number[]; test: number[] };
  choice_25000_5000_seed42: Record<"train" | "test", { first: number[]; sha256: string }>;
  csv_sha256: Record<string, string>;
}
const ref = JSON.parse(fs.readFileSync(path.join(FIX, "reference.json"), "utf8")) as Ref;
const sha = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");
const tmp = tempDir("imdb-test-");
after(tmp.cleanup);
let n = 0;
const fresh = () => path.join(tmp.dir, `run${n++}`);
const quiet = { progress: false as const, retryDelayMs: 1, retries: 0 };
const bad = (name: string) => path.join(FIX, "bad", name);

test("the synthetic archive is the generator's, and lists in its (unsorted) archive order", async () => {
  assert.equal(sha(fs.readFileSync(IMDB_SYNTHETIC_TAR)), ref.tar_sha256);
  const files = await listTarGz(IMDB_SYNTHETIC_TAR);
  assert.deepEqual(files.map((f) => f.path), ref.archive_order);
  assert.notDeepEqual([...ref.archive_order].sort(), ref.archive_order);
});

test("prepareImdbData downloads over HTTP, extracts and writes pandas' exact bytes in both layouts", async () => {
  const srv = await serveFiles({ "/aclImdb_v1.tar.gz": IMDB_SYNTHETIC_TAR });
  const dir = fresh();
  try {
    const lines: string[] = [];
    const prepared = await prepareImdbData(dir, {
      urls: [`${srv.baseUrl}/aclImdb_v1.tar.gz`],
      subsetSize: ref.subset_size,
      log: (l) => lines.push(l),
      ...quiet,
    });
    const p = imdbDataPaths(dir);
    assert.ok(fs.existsSync(path.join(p.extractedPath, "train", "unsup", "0_0.txt")));
    assert.deepEqual(
      [prepared.bonus.train.rows, prepared.bonus.validation.rows, prepared.bonus.test.rows],
      ref.bonus_sizes,
    );
    for (const [name, hash] of Object.entries(ref.csv_sha256)) {
      const [layout, file] = name.split("/");
      const mine = path.join(layout === "bonus" ? p.bonusDir : p.hfDir, file);
      assert.equal(sha(fs.readFileSync(mine)), hash, `${name}: pandas' bytes`);
    }
    assert.equal(prepared.hf?.["train-subset"].sha256, ref.csv_sha256["hf/train-subset.csv"]);
    assert.deepEqual(prepared.hf?.train.labelCounts, { 0: 9, 1: 11 });
    // A second run reuses everything (no download: the server is closed below and the archive may go).
    await srv.close();
    fs.rmSync(p.tarPath);
    const again = await prepareImdbData(dir, { urls: ["http://127.0.0.1:9/none"], ...quiet, log: (l) => lines.push(l) });
    assert.equal(again.bonus.train.sha256, prepared.bonus.train.sha256);
    assert.ok(lines.some((l) => /already exists\. Skipping download/.test(l)));
  } finally {
    await srv.close().catch(() => {});
  }
});

test("the loaders read the CSVs back as { text, label } rows; SpamDataset reads a text,label CSV", async () => {
  const dir = fresh();
  await prepareImdbData(dir, { urls: [IMDB_SYNTHETIC_TAR], subsetSize: ref.subset_size, ...quiet });
  const splits = loadImdbSplits(dir);
  assert.equal(splits.train.length + splits.validation.length + splits.test.length, ref.rows);
  assert.ok(splits.train.every((r) => typeof r.text === "string" && (r.label === 0 || r.label === 1)));
  // The texts survive the CSV round trip: quotes, commas, newlines, <br />, a BOM, non-ASCII.
  const all = [...splits.train, ...splits.validation, ...splits.test].map((r) => r.text).join("|");
  for (const s of ['""nothing""', "Two lines\nin one", "<br /><br />", "\ufeff", "\u65e5\u672c\u8a9e", "\t"]) assert.ok(all.includes(s), s);
  assert.ok(!all.includes("\r"), "the bonus reads in text mode: \\r\\n and \\r become \\n");
  const hf = loadImdbHf(dir);
  assert.ok([...hf.train, ...hf.test].some((r) => r.text.includes("\r\n")), "Hugging Face decodes bytes: \\r\\n kept");
  assert.deepEqual(await readImdbArchive(IMDB_SYNTHETIC_TAR), hf, "the CSVs hold the archive's order");
  const sub = loadImdbHf(dir, { subset: true });
  assert.deepEqual(sub.train, ref.subset_indices.train.map((i) => hf.train[i]));
  assert.deepEqual(sub.test, ref.subset_indices.test.map((i) => hf.test[i]));
  const ds = new SpamDataset(path.join(imdbDataPaths(dir).bonusDir, "test.csv"), undefined, { maxLength: 16 });
  assert.deepEqual(Array.from(ds.labels), splits.test.map((r) => r.label));
  assert.deepEqual(ds.texts, splits.test.map((r) => r.text));
  assert.equal(formatTextLabelCsv(splits.test), fs.readFileSync(path.join(imdbDataPaths(dir).bonusDir, "test.csv"), "utf8"));
});

test("np.random.seed(42); choice(25000, 5000, replace=False) twice: NumPy's indices", () => {
  const rng = new RandomState(42);
  for (const k of ["train", "test"] as const) {
    const idx = rng.choiceWithoutReplacement(25000, 5000);
    assert.deepEqual(idx.slice(0, 20), ref.choice_25000_5000_seed42[k].first);
    assert.equal(sha(idx.join(",")), ref.choice_25000_5000_seed42[k].sha256);
  }
  assert.throws(() => rng.choiceWithoutReplacement(3, 4), RangeError);
});

test("text,label CSVs: parse errors name the file and row; the SMS header still reads", () => {
  assert.deepEqual(parseTextLabelCsv('text,label\n"a, ""b""\nc",1\nplain,0\n'), [
    { text: 'a, "b"\nc', label: 1 },
    { text: "plain", label: 0 },
  ]);
  assert.deepEqual(parseCsv("text,label\nhi,1\n"), [{ Label: 1, Text: "hi" }]);
  assert.throws(() => parseTextLabelCsv("review,label\n", "r.csv"), (e: unknown) => e instanceof DataFormatError && /r\.csv: expected the header/.test(e.message));
  assert.throws(() => parseTextLabelCsv("text,label\nhi,x\n", "s.csv"), (e: unknown) => e instanceof DataFormatError && /s\.csv, row 1/.test(e.message));
  assert.throws(() => readImdbCsv(path.join(tmp.dir, "missing.csv")), (e: unknown) => e instanceof DataFormatError && /data --dataset imdb/.test(e.message));
});

test("a truncated tar.gz gives one clear error, leaves nothing extracted and removes the archive", async () => {
  const dir = fresh();
  const bytes = fs.readFileSync(IMDB_SYNTHETIC_TAR);
  const truncated = path.join(tmp.dir, "truncated.tar.gz");
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(
    prepareImdbData(dir, { urls: [truncated], ...quiet }),
    (e: unknown) => e instanceof DataFormatError && /aclImdb_v1\.tar\.gz cannot be read: it is truncated/.test(e.message) && /removed/.test(e.message),
  );
  assert.deepEqual(fs.readdirSync(dir), []);
  const garbage = path.join(tmp.dir, "garbage.tar.gz");
  fs.writeFileSync(garbage, "not an archive at all");
  await assert.rejects(listTarGz(garbage), (e: unknown) => e instanceof DataFormatError && /not a valid tar\.gz/.test(e.message));
});

test("entries that leave the target (../, absolute, a link out) are refused before anything is written", async () => {
  for (const [file, why] of [
    ["dotdot.tar.gz", /"aclImdb\/\.\.\/\.\.\/evil\.txt": its path leaves the target folder/],
    ["absolute.tar.gz", /"\/tmp\/evil\.txt": its path leaves the target folder/],
    ["symlink.tar.gz", /"aclImdb\/train\/pos\/1_8\.txt": it is a SymbolicLink to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd"/],
  ] as const) {
    const dir = fresh();
    await assert.rejects(extractTarGz(bad(file), dir, ["aclImdb"]), (e: unknown) => e instanceof DataFormatError && why.test(e.message), file);
    assert.ok(!fs.existsSync(dir) || fs.readdirSync(dir).length === 0, `${file}: nothing written`);
    assert.ok(!fs.existsSync(path.join(tmp.dir, "evil.txt")));
  }
});

test("an archive without aclImdb, or an aclImdb without test/neg, is a clear error", async () => {
  await assert.rejects(
    prepareImdbData(fresh(), { urls: [bad("no-folder.tar.gz")], ...quiet }),
    (e: unknown) => e instanceof DataFormatError && /has no "aclImdb" folder \(found: other\)/.test(e.message),
  );
  const dir = fresh();
  await assert.rejects(
    prepareImdbData(dir, { urls: [bad("incomplete.tar.gz")], ...quiet }),
    (e: unknown) => e instanceof DataFormatError && /test[/\\]neg does not exist: the aclImdb folder is incomplete/.test(e.message),
  );
  assert.throws(() => loadImdbFolder(path.join(dir, "nothing-here")), DataFormatError);
});

test("smoke mode points IMDB_URL at the synthetic archive; IMDB_URL overrides it", () => {
  assert.deepEqual(getSettings({ smoke: true }, {}).imdbUrls.length, 1);
  assert.match(getSettings({ smoke: true }, {}).imdbUrls[0], /imdb-synthetic\/aclImdb_v1\.tar\.gz$/);
  assert.deepEqual(getSettings({}, { IMDB_URL: "http://x/y.tar.gz" }).imdbUrls, ["http://x/y.tar.gz"]);
  assert.match(getSettings({}, {}).imdbUrls[0], /^https:\/\/ai\.stanford\.edu\//);
});
