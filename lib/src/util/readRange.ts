/** Reading one byte range of a file without loading the rest (one tensor of a 500 MB checkpoint). */
import * as fs from "node:fs";
import * as path from "node:path";
import { DataFormatError } from "../errors";

/**
 * Reads `length` bytes at `offset` of `file` into a new buffer, looping over short reads.
 * @throws DataFormatError when the file ends first (a truncated file).
 */
export function readFileRange(file: string, offset: number, length: number): Buffer {
  // Its own ArrayBuffer at offset 0 (never a slice of Node's shared pool), so float32 views over it are aligned;
  // not zero-filled, since every byte is read into.
  const buf = Buffer.allocUnsafeSlow(length);
  const fd = fs.openSync(file, "r");
  try {
    for (let done = 0; done < length;) {
      const n = fs.readSync(fd, buf, done, length - done, offset + done);
      if (n === 0)
        throw new DataFormatError(
          `${path.basename(file)} ends at byte ${offset + done}, before ${offset + length}; the file is truncated`,
        );
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}
