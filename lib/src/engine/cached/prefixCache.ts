/**
 * Exact cache of the frozen prefix's output (embeddings + blocks 0..L-2) per distinct token sequence.
 * With frozen prefix weights and dropout 0 the prefix is a pure function of the token ids, so each
 * sequence is computed once (ONNX Runtime, or tfjs when ORT is unavailable) and reused by every training
 * step and evaluation. Entries are Float32Arrays [seq, embDim] (1,494 × 120 × 768 × 4 B ≈ 550 MB for
 * the chapter). Optionally saved to / loaded from one file per (weights, sequence set), written atomically.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { DataFormatError } from "../../errors";
import { writePartsAtomic } from "../../util/atomic";

/** Map key of a token sequence (its int32 bytes, base64). */
export function sequenceKey(ids: ArrayLike<number>): string {
  const a = ids instanceof Int32Array ? ids : Int32Array.from(ids);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
}

/** A batch of token ids: a tensor [B, T] or a DataLoader batch (`{ inputIds, batchSize }`, row-major). */
export type TokenBatch = tf.Tensor2D | { readonly inputIds: Int32Array; readonly batchSize: number };

/** The rows of a batch as Int32Arrays (views into a DataLoader batch; copies from a tensor). */
export function rowsOf(batch: TokenBatch): Int32Array[] {
  let data: Int32Array, rows: number;
  if (batch instanceof tf.Tensor) {
    data = Int32Array.from(batch.dataSync());
    rows = batch.shape[0];
  } else {
    data = batch.inputIds;
    rows = batch.batchSize;
  }
  const seq = data.length / rows,
    out: Int32Array[] = [];
  for (let r = 0; r < rows; r++) out.push(data.subarray(r * seq, (r + 1) * seq));
  return out;
}

/** Computes the prefix for a batch: ids row-major [batch, seq] → hidden row-major [batch, seq, E]. */
export type PrefixBatchFn = (ids: Int32Array, batch: number) => Promise<Float32Array>;

/** Options for `PrefixCache.fill`. */
export interface PrefixFillOptions {
  /** Sequences per prefix batch (default 8). */
  batchSize?: number;
  /** Called after each batch with (done, total) sequences computed. */
  onProgress?: (done: number, total: number) => void;
  /** Batches computed at the same time (default 1): the number of workers `compute` spreads them over. */
  concurrency?: number;
}

const MAGIC = "LLMPREFIX1";

/** In-memory store of prefix outputs keyed by token ids. */
export class PrefixCache {
  private readonly entries = new Map<string, Float32Array>();

  /** @param embDim width of the hidden states */
  constructor(readonly embDim: number) {}

  /** Number of cached sequences. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes held by the cached hidden states. */
  get bytes(): number {
    let n = 0;
    for (const v of this.entries.values()) n += v.byteLength;
    return n;
  }

  /** The cached hidden states of one sequence, [seq, E] row-major, or undefined. */
  get(ids: ArrayLike<number>): Float32Array | undefined {
    return this.entries.get(sequenceKey(ids));
  }

  /** Stores the hidden states of one sequence (the array is kept, not copied). */
  set(ids: ArrayLike<number>, hidden: Float32Array): void {
    if (hidden.length !== ids.length * this.embDim)
      throw new DataFormatError(`prefix entry has ${hidden.length} values, expected ${ids.length}×${this.embDim}`);
    this.entries.set(sequenceKey(ids), hidden);
  }

  /** The sequences of `rows` not cached yet, deduplicated. */
  missing(rows: Iterable<ArrayLike<number>>): Int32Array[] {
    const seen = new Set<string>(),
      out: Int32Array[] = [];
    for (const r of rows) {
      const key = sequenceKey(r);
      if (this.entries.has(key) || seen.has(key)) continue;
      seen.add(key);
      out.push(Int32Array.from(r));
    }
    return out;
  }

  /**
   * Computes and stores the prefix of every sequence of `rows` that is not cached yet.
   * Sequences are grouped by length; each group runs in batches of `batchSize`.
   * @returns the number of sequences computed
   */
  async fill(rows: Iterable<ArrayLike<number>>, compute: PrefixBatchFn, opts: PrefixFillOptions = {}): Promise<number> {
    const todo = this.missing(rows),
      bs = opts.batchSize ?? 8,
      E = this.embDim;
    const byLen = new Map<number, Int32Array[]>();
    for (const r of todo) byLen.set(r.length, [...(byLen.get(r.length) ?? []), r]);
    const chunks: Int32Array[][] = [];
    for (const group of byLen.values()) for (let i = 0; i < group.length; i += bs) chunks.push(group.slice(i, i + bs));
    let done = 0,
      next = 0;
    const lane = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++],
          T = chunk[0].length,
          ids = new Int32Array(chunk.length * T);
        chunk.forEach((r, j) => ids.set(r, j * T));
        const hidden = await compute(ids, chunk.length);
        // slice() copies each row out of the batch buffer so batch buffers can be freed
        chunk.forEach((r, j) => this.set(r, hidden.slice(j * T * E, (j + 1) * T * E)));
        done += chunk.length;
        opts.onProgress?.(done, todo.length);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, lane));
    return done;
  }

  /**
   * Copies the hidden states of a batch into one row-major buffer [batch, seq, E].
   * @returns the buffer, or undefined when some sequence is not cached
   */
  gather(rows: readonly ArrayLike<number>[], out?: Float32Array): Float32Array | undefined {
    const T = rows[0]?.length ?? 0,
      n = T * this.embDim;
    const buf = out && out.length === rows.length * n ? out : new Float32Array(rows.length * n);
    for (let j = 0; j < rows.length; j++) {
      const h = this.get(rows[j]);
      if (!h || h.length !== n) return undefined;
      buf.set(h, j * n);
    }
    return buf;
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
  }

  /**
   * Saves the entries to one file (atomic write): a JSON header line, then the float32 data.
   * @param tag identifies what the entries were computed from (e.g. the weights hash); checked by `load`
   */
  save(file: string, tag: string): void {
    const keys = [...this.entries.keys()];
    const lengths = keys.map((k) => this.entries.get(k)!.length / this.embDim);
    const header = JSON.stringify({ magic: MAGIC, tag, embDim: this.embDim, keys, lengths }) + "\n";
    const parts: Array<string | Uint8Array> = [header];
    for (const k of keys) {
      const v = this.entries.get(k)!;
      parts.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    writePartsAtomic(file, parts);
  }

  /**
   * Loads entries saved by `save` when the file exists and its tag matches.
   * @returns the number of entries loaded (0 when the file is absent or was made for another tag)
   * @throws DataFormatError for a damaged file
   */
  load(file: string, tag: string): number {
    if (!fs.existsSync(file)) return 0;
    const fd = fs.openSync(file, "r");
    try {
      // Header: one JSON line (read in growing chunks until the newline).
      let head = Buffer.alloc(0),
        nl = -1;
      while (nl < 0) {
        const chunk = Buffer.alloc(1 << 20);
        const got = fs.readSync(fd, chunk, 0, chunk.length, head.length);
        if (got === 0) throw new DataFormatError(`${file}: not a prefix cache file`);
        head = Buffer.concat([head, chunk.subarray(0, got)]);
        nl = head.indexOf(10);
      }
      let header: { magic?: string; tag?: string; embDim?: number; keys?: string[]; lengths?: number[] };
      try {
        header = JSON.parse(head.subarray(0, nl).toString("utf8")) as typeof header;
      } catch (err) {
        throw new DataFormatError(`${file}: not a prefix cache file`, { cause: err });
      }
      if (header.magic !== MAGIC || !Array.isArray(header.keys) || !Array.isArray(header.lengths))
        throw new DataFormatError(`${file}: not a prefix cache file`);
      if (header.tag !== tag || header.embDim !== this.embDim) return 0;
      const total = header.lengths.reduce((a, l) => a + l * this.embDim * 4, 0);
      const size = fs.fstatSync(fd).size;
      if (size - nl - 1 !== total)
        throw new DataFormatError(`${file}: expected ${total} data bytes, found ${size - nl - 1}`);
      let off = nl + 1;
      header.keys.forEach((k, i) => {
        const v = new Float32Array(header.lengths![i] * this.embDim);
        const bytes = new Uint8Array(v.buffer);
        for (let done = 0; done < bytes.length;) done += fs.readSync(fd, bytes, done, bytes.length - done, off + done);
        off += bytes.length;
        this.entries.set(k, v);
      });
      return header.keys.length;
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** sha256 (hex) over the named parameters' shapes and float32 bytes, in the given order. */
export function hashParams(
  params: ReadonlyMap<string, { readonly shape: readonly number[]; dataSync(): ArrayLike<number> }>,
  names: readonly string[],
): string {
  const h = crypto.createHash("sha256");
  for (const n of names) {
    const t = params.get(n);
    if (!t) continue;
    const d = t.dataSync() as Float32Array;
    h.update(`${n}:${t.shape.join("x")};`);
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex");
}

/** sha256 (hex) over a list of token sequences. */
export function hashSequences(rows: readonly ArrayLike<number>[]): string {
  const h = crypto.createHash("sha256");
  for (const r of rows) h.update(sequenceKey(r) + ";");
  return h.digest("hex");
}
