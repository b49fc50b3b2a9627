/**
 * Atomic file writes: write a temporary file next to the target, then rename it over the target.
 * An interrupted write (Ctrl-C, crash, full disk) leaves either the old file or none, never half a file.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** A temporary name in the same folder (rename is atomic only within one file system). */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

/** Writes `data` to `target` atomically, creating the folder if needed. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  writePartsAtomic(target, [data]);
}

function writeAll(fd: number, part: string | Uint8Array): void {
  const buf = typeof part === "string" ? Buffer.from(part, "utf8") : part;
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** Writes several parts (e.g. a header and a large body) to `target` atomically without concatenating them in memory. */
export function writePartsAtomic(target: string, parts: ReadonlyArray<string | Uint8Array>): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      for (const p of parts) writeAll(fd, p);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
