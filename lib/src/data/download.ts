/**
 * Section 6.2: download and unzip the SMS Spam Collection (the book's
 * `download_and_unzip_spam_data`), with the book's backup URL as fallback.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as yauzl from "yauzl";
import { DataFormatError } from "../errors";
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

function openZip(zipPath: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(zipPath, { lazyEntries: true, strictFileNames: false, validateEntrySizes: true }, (err, zip) => (err ? reject(err) : resolve(zip!))));
}

/** Reads one entry of a zip into memory (yauzl checks sizes; inflate errors surface here). */
function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(err);
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
 * Extracts the files of `zipPath` into `targetDir`, each written atomically.
 * @returns the names of the extracted files.
 * @throws DataFormatError for a truncated or corrupt zip, or an entry whose path leaves `targetDir`.
 */
export async function extractZip(zipPath: string, targetDir: string): Promise<string[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(zipPath);
  } catch (err) {
    throw new DataFormatError(`${path.basename(zipPath)} is not a valid zip file (${(err as Error).message}); delete it and download again`, { cause: err });
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
        readEntry(zip, entry).then((data) => { files.push({ name: entry.fileName, data }); zip.readEntry(); }, reject);
      });
      zip.readEntry();
    });
  } catch (err) {
    if (err instanceof DataFormatError) throw err;
    // yauzl itself refuses absolute and "../" entry names.
    const slip = /(?:invalid relative path|absolute path): (.*)$/.exec((err as Error).message);
    if (slip) throw new DataFormatError(`Refusing zip entry "${slip[1]}": its path leaves the target folder`, { cause: err });
    throw new DataFormatError(`${path.basename(zipPath)} is corrupt (${(err as Error).message}); delete it and download again`, { cause: err });
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
  await downloadFile(opts.urls, zipPath, {
    ...opts, log, label: path.basename(zipPath),
    hint: `Without internet, point SMS_SPAM_URL (or --sms-spam-url) at a copy of the zip (a local file or URL), or put the extracted file at ${dataFilePath}.`,
  });
  let names: string[];
  try {
    names = await extractZip(zipPath, extractedPath);
  } catch (err) {
    fs.rmSync(zipPath, { force: true }); // don't trust it next time
    throw err;
  }
  if (!names.includes(SMS_ZIP_ENTRY)) {
    fs.rmSync(zipPath, { force: true });
    throw new DataFormatError(`The downloaded zip has no "${SMS_ZIP_ENTRY}" file (found: ${names.join(", ") || "nothing"}); check SMS_SPAM_URL`);
  }
  fs.renameSync(path.join(extractedPath, SMS_ZIP_ENTRY), dataFilePath);
  log(`File downloaded and saved as ${dataFilePath}`);
  return dataFilePath;
}
