import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { downloadAndUnzipSpamData, DownloadError, DataFormatError, ConfigError } from "llm-spam-classifier";
import { spamDataPaths, extractZip, ensureDataDir, escapesFolder } from "llm-spam-classifier/data";
import { serveFiles } from "llm-spam-classifier/util";
import { SMS_SPAM_ZIP, SMS_SPAM_COLLECTION_SHA256, tempDir, makeZip, closedUrl } from "../helpers";

const realZip = SMS_SPAM_ZIP;
const tmp = tempDir("spam-dl-");
after(tmp.cleanup);
const bad = (name: string, data: Buffer) => { const p = path.join(tmp.dir, name); fs.writeFileSync(p, data); return p; };
const zipBytes = fs.readFileSync(realZip);
const files = {
  "/sms+spam+collection.zip": realZip,
  "/truncated.zip": bad("truncated.zip", zipBytes.subarray(0, Math.floor(zipBytes.length / 2))),
  "/corrupt.zip": bad("corrupt.zip", Buffer.concat([zipBytes.subarray(0, 200), Buffer.alloc(5000, 0x41), zipBytes.subarray(5200)])),
  "/no-entry.zip": bad("no-entry.zip", makeZip([{ name: "readme", data: "just a readme" }])),
  "/slip.zip": bad("slip.zip", makeZip([{ name: "../../evil.txt", data: "pwned" }, { name: "SMSSpamCollection", data: "ham\thi\n" }])),
};
let n = 0;
const fresh = () => path.join(tmp.dir, `run${n++}`);
const quiet = { progress: false as const, retryDelayMs: 1 };
/** Everything left in a data folder after a failed run (no zip, no staging folder, nothing extracted). */
const leftovers = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }) : []);

async function withServer<T>(fn: (base: string) => Promise<T>): Promise<T> {
  const srv = await serveFiles(files);
  try { return await fn(srv.baseUrl); } finally { await srv.close(); }
}

test("downloads the real zip from 127.0.0.1, extracts and renames to .tsv; a second run skips", () => withServer(async (base) => {
  const dir = fresh();
  const lines: string[] = [];
  const tsv = await downloadAndUnzipSpamData(dir, { urls: [`${base}/sms+spam+collection.zip`], ...quiet, log: (l) => lines.push(l) });
  assert.equal(tsv, spamDataPaths(dir).dataFilePath);
  assert.equal(crypto.createHash("sha256").update(fs.readFileSync(tsv)).digest("hex"), SMS_SPAM_COLLECTION_SHA256);
  assert.ok(fs.existsSync(path.join(dir, "sms_spam_collection", "readme")));
  assert.match(lines.at(-1)!, /File downloaded and saved as .*SMSSpamCollection\.tsv/);
  await downloadAndUnzipSpamData(dir, { urls: [`${base}/gone.zip`], ...quiet, log: (l) => lines.push(l) });
  assert.match(lines.at(-1)!, /already exists\. Skipping download and extraction\./);
}));

test("the backup URL is used when the primary answers 404", () => withServer(async (base) => {
  const dir = fresh();
  await downloadAndUnzipSpamData(dir, { urls: [`${base}/primary-gone.zip`, `${base}/sms+spam+collection.zip`], ...quiet });
  assert.ok(fs.existsSync(spamDataPaths(dir).dataFilePath));
}));

test("404 on both URLs: one DownloadError naming both, nothing written", () => withServer(async (base) => {
  const dir = fresh();
  await assert.rejects(downloadAndUnzipSpamData(dir, { urls: [`${base}/a.zip`, `${base}/b.zip`], ...quiet }),
    (e: unknown) => e instanceof DownloadError && /a\.zip: HTTP 404/.test(e.message) && /b\.zip: HTTP 404/.test(e.message));
  assert.deepEqual(leftovers(dir), []);
}));

for (const [name, pattern] of [["truncated", /is not a valid zip file/], ["corrupt", /is corrupt|is not a valid zip/]] as const) {
  test(`a ${name} zip is a DataFormatError and leaves no .tsv and no zip to trust later`, () => withServer(async (base) => {
    const dir = fresh();
    await assert.rejects(downloadAndUnzipSpamData(dir, { urls: [`${base}/${name}.zip`], ...quiet }),
      (e: unknown) => e instanceof DataFormatError && pattern.test(e.message));
    assert.deepEqual(leftovers(dir), []);
  }));
}

test("a zip without SMSSpamCollection is a clear error and extracts nothing", () => withServer(async (base) => {
  const dir = fresh();
  await assert.rejects(downloadAndUnzipSpamData(dir, { urls: [`${base}/no-entry.zip`], ...quiet }),
    (e: unknown) => e instanceof DataFormatError && /has no "SMSSpamCollection" file \(found: readme\); the file from .*no-entry\.zip was removed/.test(e.message));
  assert.deepEqual(leftovers(dir), []);
}));

test("a zip entry whose path leaves the folder is refused (zip slip) and nothing is extracted", () => withServer(async (base) => {
  const dir = fresh();
  await assert.rejects(downloadAndUnzipSpamData(dir, { urls: [`${base}/slip.zip`], ...quiet }),
    (e: unknown) => e instanceof DataFormatError && /Refusing zip entry "\.\.\/\.\.\/evil\.txt"/.test(e.message));
  assert.ok(!fs.existsSync(path.join(dir, "..", "evil.txt")) && !fs.existsSync(path.join(tmp.dir, "evil.txt")));
  assert.deepEqual(leftovers(dir), []);
  assert.equal(escapesFolder("a/../../b"), true);
  assert.equal(escapesFolder("/etc/passwd"), true);
  assert.equal(escapesFolder("dir/file"), false);
}));

test("no network: an unreachable host is a DownloadError", async () => {
  await assert.rejects(downloadAndUnzipSpamData(fresh(), { urls: [await closedUrl("sms.zip")], ...quiet, retries: 0 }),
    (e: unknown) => e instanceof DownloadError && /ECONNREFUSED/.test(e.message));
});

test("no network: an unresolvable host is a DownloadError", async () => {
  await assert.rejects(downloadAndUnzipSpamData(fresh(), { urls: ["http://sms-spam.invalid/sms.zip"], ...quiet, retries: 0 }),
    (e: unknown) => e instanceof DownloadError && /sms-spam\.invalid\/sms\.zip: (ENOTFOUND|EAI_AGAIN)/.test(e.message));
});

test("an entry that unpacks beyond the size limit is refused (zip bomb guard)", async () => {
  const zip = bad("big.zip", makeZip([{ name: "SMSSpamCollection", data: Buffer.alloc(4096, 0x20) }]));
  const out = path.join(tmp.dir, "big-out");
  await assert.rejects(extractZip(zip, out, 1000),
    (e: unknown) => e instanceof DataFormatError && /Refusing zip entry "SMSSpamCollection": it unpacks to 4096 bytes \(limit 1000\)/.test(e.message));
  assert.deepEqual(leftovers(out), []);
  assert.deepEqual(await extractZip(zip, out), ["SMSSpamCollection"]);
});

test("a data folder that cannot be created is a ConfigError naming it", () => {
  const file = bad("not-a-folder", Buffer.from("x"));
  assert.throws(() => ensureDataDir(path.join(file, "data")),
    (e: unknown) => e instanceof ConfigError && /Cannot use .*not-a-folder\/data as the data folder \(ENOTDIR\)/.test(e.message));
});
