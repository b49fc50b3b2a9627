/**
 * Section 6.2: download and unzip the SMS Spam Collection (the book's
 * `download_and_unzip_spam_data`), with the book's backup URL as fallback.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as yauzl from "yauzl";
import { ConfigError, DataFormatError } from "../errors";
import { downloadFile, type DownloadOptions } from "../util/download";
import { writeFileAtomic } from "../util/atomic";

/** The file inside the zip, and its name after extraction (the book adds `.tsv`). */
export const SMS_ZIP_ENTRY = "SMSSpamCollection";
export const SMS_TSV_NAME = "SMSSpamCollection.tsv";

export interface SpamDataPaths {
  /** `<dataDir>/sms_spam_collection.zip` */
  zipPath: string;
  /** `<dataDir>/sms_spam_collection/` */
  extractedPath: string;
  /** `<dataDir>/sms_spam_collection/SMSSpamCollection.tsv` */
  dataFilePath: string;
}

/** Where the book's function puts the zip and the data file, under `dataDir`. */
export function spamDataPaths(dataDir: string): SpamDataPaths {
  const extractedPath = path.join(dataDir, "sms_spam_collection");
  return { zipPath: path.join(dataDir, "sms_spam_collection.zip"), extractedPath, dataFilePath: path.join(extractedPath, SMS_TSV_NAME) };
}

/** The most bytes one entry may unpack to (the data file is 478 kB): guards against zip bombs. */
export const MAX_ZIP_ENTRY_BYTES = 64 * 1024 * 1024;

/**
 * Creates `dir` (and its parents) if needed.
 * @throws ConfigError when it cannot be created or is not a writable folder.
 */
export function ensureDataDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`Cannot use ${dir} as the data folder (${code}); choose another with --data-dir/--out or LLM_DATA_DIR`, { cause: err });
  }
}

function openZip(zipPath: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(zipPath, { lazyEntries: true, strictFileNames: false, validateEntrySizes: true }, (err, zip) => (err ? reject(err) : resolve(zip))));
}

/** Reads one entry of a zip into memory (yauzl checks sizes; inflate errors surface here). */
function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(err ?? new Error(`no read stream for ${entry.fileName}`));
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", reject);
      stream.on("end", () => resolve(Buffer.concat(chunks)));
    });
  });
}

/** True when a zip entry's path would leave the target folder ("zip slip"). */
export function escapesFolder(entryName: string): boolean {
  const normalized = path.posix.normalize(entryName.replace(/\\/g, "/"));
  return path.posix.isAbsolute(normalized) || /^[a-zA-Z]:/.test(normalized) || normalized === ".." || normalized.startsWith("../");
}

/**
 * Extracts the files of `zipPath` into `targetDir`, each written atomically, and only after every
 * entry was read back intact (yauzl checks sizes and inflates; no hand-written inflate).
 * @param maxEntryBytes refuse entries that unpack to more than this.
 * @returns the names of the extracted files.
 * @throws DataFormatError for a truncated or corrupt zip, an oversized entry, or an entry whose path
 *   leaves `targetDir` (zip slip).
 */
export async function extractZip(zipPath: string, targetDir: string, maxEntryBytes = MAX_ZIP_ENTRY_BYTES): Promise<string[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(zipPath);
  } catch (err) {
    throw new DataFormatError(`${path.basename(zipPath)} is not a valid zip file (${(err as Error).message})`, { cause: err });
  }
  const files: Array<{ name: string; data: Buffer }> = [];
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on("error", reject);
      zip.on("end", () => resolve());
      zip.on("entry", (entry: yauzl.Entry) => {
        if (escapesFolder(entry.fileName)) {
          reject(new DataFormatError(`Refusing zip entry "${entry.fileName}": its path leaves the target folder`));
          return;
        }
        if (entry.fileName.endsWith("/")) { zip.readEntry(); return; }
        if (entry.uncompressedSize > maxEntryBytes) {
          reject(new DataFormatError(`Refusing zip entry "${entry.fileName}": it unpacks to ${entry.uncompressedSize} bytes (limit ${maxEntryBytes})`));
          return;
        }
        readEntry(zip, entry).then((data) => { files.push({ name: entry.fileName, data }); zip.readEntry(); }, reject);
      });
      zip.readEntry();
    });
  } catch (err) {
    if (err instanceof DataFormatError) throw err;
    // yauzl itself refuses absolute and "../" entry names.
    const slip = /(?:invalid relative path|absolute path): (.*)$/.exec((err as Error).message);
    if (slip) throw new DataFormatError(`Refusing zip entry "${slip[1]}": its path leaves the target folder`, { cause: err });
    throw new DataFormatError(`${path.basename(zipPath)} is corrupt (${(err as Error).message})`, { cause: err });
  } finally {
    zip.close();
  }
  // Write only after every entry read back intact: a corrupt zip leaves nothing behind.
  for (const f of files) writeFileAtomic(path.join(targetDir, f.name), f.data);
  return files.map((f) => f.name);
}

export interface DownloadSpamOptions extends Pick<DownloadOptions, "progress" | "timeoutMs" | "retries" | "retryDelayMs"> {
  /** URLs of the zip, tried in order (settings.smsSpamUrls: UCI, then the book's backup). */
  urls: readonly string[];
  log?: (line: string) => void;
}

/**
 * Downloads the zip (unless the data file exists), extracts it and renames `SMSSpamCollection` to
 * `SMSSpamCollection.tsv`. Book: download_and_unzip_spam_data, 6.2.
 * @returns the path of the `.tsv` file.
 * @throws DownloadError when every URL fails; DataFormatError for a bad zip or one without the data file.
 */
export async function downloadAndUnzipSpamData(dataDir: string, opts: DownloadSpamOptions): Promise<string> {
  const { zipPath, extractedPath, dataFilePath } = spamDataPaths(dataDir);
  const log = opts.log ?? (() => {});
  if (fs.existsSync(dataFilePath)) {
    log(`${dataFilePath} already exists. Skipping download and extraction.`);
    return dataFilePath;
  }
  ensureDataDir(dataDir);
  const { url } = await downloadFile(opts.urls, zipPath, {
    ...opts, log, label: path.basename(zipPath),
    hint: `Without internet, point SMS_SPAM_URL (or --sms-spam-url) at a copy of the zip (a local file or URL), or put the extracted file at ${dataFilePath}.`,
  });
  const removed = `the file from ${url} was removed (the next run downloads it again); check SMS_SPAM_URL / --sms-spam-url`;
  // Extract into a staging folder first: a bad zip leaves nothing in sms_spam_collection/.
  const staging = fs.mkdtempSync(path.join(dataDir, ".sms_spam_collection-"));
  try {
    let names: string[];
    try {
      names = await extractZip(zipPath, staging);
      if (!names.includes(SMS_ZIP_ENTRY)) {
        throw new DataFormatError(`The zip has no "${SMS_ZIP_ENTRY}" file (found: ${names.join(", ") || "nothing"})`);
      }
    } catch (err) {
      fs.rmSync(zipPath, { force: true }); // don't trust it next time
      if (err instanceof DataFormatError) throw new DataFormatError(`${err.message}; ${removed}`, { cause: err });
      throw err;
    }
    // The data file is moved last: once the .tsv exists, the extraction is complete.
    for (const name of [...names.filter((n) => n !== SMS_ZIP_ENTRY), SMS_ZIP_ENTRY]) {
      const target = name === SMS_ZIP_ENTRY ? dataFilePath : path.join(extractedPath, name);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.renameSync(path.join(staging, name), target);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  log(`File downloaded and saved as ${dataFilePath}`);
  return dataFilePath;
}
