/**
 * Reading and extracting `.tar.gz` archives with the npm `tar` library (no hand-written tar): a checked
 * listing first (truncated or corrupt archives, entries that would leave the target folder, links and
 * devices are refused with one clear error), then the extraction into a staging folder that is renamed
 * into place, so that a bad archive leaves nothing behind.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tar from "tar";
import { DataFormatError } from "../errors";
import { escapesFolder } from "./download";

/** One regular file of an archive, in archive order. */
export interface TarFile {
  /** Its path inside the archive (`aclImdb/train/pos/0_9.txt`). */
  readonly path: string;
  /** Its bytes, when `readContent` asked for them. */
  readonly data?: Buffer;
}

export interface ListTarOptions {
  /** Which files' bytes to keep (default: none). */
  readContent?: (entryPath: string) => boolean;
}

/** Why an entry is refused, or undefined when it may be extracted (only files and folders inside the target). */
function refusal(entry: tar.ReadEntry): string | undefined {
  if (escapesFolder(entry.path)) return "its path leaves the target folder";
  if (entry.type !== "File" && entry.type !== "OldFile" && entry.type !== "Directory")
    return `it is a ${entry.type}${entry.linkpath ? ` to "${entry.linkpath}"` : ""} (only files and folders are extracted)`;
  return undefined;
}

function badArchive(file: string, err: unknown): DataFormatError {
  const e = err as { code?: string; message?: string };
  const why =
    e.code === "Z_BUF_ERROR" || /unexpected end|truncated/i.test(e.message ?? "")
      ? "it is truncated (an interrupted download?)"
      : `it is not a valid tar.gz (${e.message ?? String(err)})`;
  return new DataFormatError(`${path.basename(file)} cannot be read: ${why}`, { cause: err });
}

/**
 * Reads every entry of a `.tar.gz` in archive order and checks it.
 * @returns the regular files in archive order (with their bytes where `readContent` says so).
 * @throws DataFormatError for a truncated or corrupt archive, or an entry that leaves the target folder,
 *   is a link or a special file.
 */
export async function listTarGz(file: string, opts: ListTarOptions = {}): Promise<TarFile[]> {
  if (!fs.existsSync(file)) throw new DataFormatError(`${file} does not exist`);
  const files: Array<{ path: string; data?: Buffer }> = [];
  let refused: string | undefined;
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry: (entry) => {
        const why = refusal(entry);
        if (why) refused ??= `Refusing tar entry "${entry.path}": ${why}`;
        if (why || entry.type === "Directory" || !opts.readContent?.(entry.path)) {
          if (!why && entry.type !== "Directory") files.push({ path: entry.path });
          entry.resume();
          return;
        }
        const chunks: Buffer[] = [];
        const item: { path: string; data?: Buffer } = { path: entry.path };
        files.push(item); // in archive order, whenever its bytes finish arriving
        entry.on("data", (c: Buffer) => chunks.push(c));
        entry.on("end", () => (item.data = Buffer.concat(chunks)));
      },
    });
  } catch (err) {
    throw badArchive(file, err);
  }
  if (refused) throw new DataFormatError(`${path.basename(file)}: ${refused}`);
  return files;
}

/**
 * Extracts a checked `.tar.gz` (see listTarGz) into `targetDir`: the top-level entries named in `expect`
 * appear there only once the whole archive was read back intact.
 * @param expect the top-level folder(s) the archive must hold (e.g. `["aclImdb"]`).
 * @returns the regular files in archive order.
 * @throws DataFormatError as listTarGz, or when a folder of `expect` is missing from the archive.
 */
export async function extractTarGz(file: string, targetDir: string, expect: readonly string[]): Promise<TarFile[]> {
  const files = await listTarGz(file);
  const tops = new Set(files.map((f) => path.posix.normalize(f.path).split("/")[0]));
  const missing = expect.filter((e) => !tops.has(e));
  if (missing.length)
    throw new DataFormatError(
      `${path.basename(file)} has no "${missing.join('", "')}" folder (found: ${[...tops].join(", ") || "nothing"})`,
    );
  fs.mkdirSync(targetDir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(targetDir, `.${path.basename(file)}-`));
  try {
    try {
      await tar.x({ file, cwd: staging, strict: true, filter: (_p, e) => !("type" in e) || refusal(e) === undefined });
    } catch (err) {
      throw badArchive(file, err);
    }
    for (const top of expect) {
      const dest = path.join(targetDir, top);
      fs.rmSync(dest, { recursive: true, force: true });
      fs.renameSync(path.join(staging, top), dest);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return files;
}
