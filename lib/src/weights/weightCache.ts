/**
 * A converted copy of a model's weights, so that later loads are one read: our parameter names and layout
 * (q/k/v split, Linear weights `[in, out]`, the tied head transposed), float32, stored as one safetensors
 * file (8-byte aligned header, so every tensor is a Float32Array view over the one buffer read).
 *
 * The cache file is keyed by the source files' identity: absolute path, size and modification time of
 * each (a changed source gets a new key, and the stale copy is deleted when the new one is written), plus
 * what the conversion was and its version. It is written atomically (temp file + rename): an interrupted
 * write leaves no partial cache file. A cache that cannot be written (read-only folder, full disk) or read
 * is skipped with a note: the load itself never fails because of the cache.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { getSettings } from "../config";
import { SafetensorsFile, writeSafetensors } from "./safetensors";

/** Bump when the conversion changes, so that old cache files are not used. */
const CACHE_VERSION = "1";

/** Sources smaller than this in total are not cached (they load fast anyway). */
export const DEFAULT_MIN_CACHE_BYTES = 16 * 1024 * 1024;

/** Parameter values by name with their shapes. */
export type WeightArrays = Map<string, { data: Float32Array; shape: number[] }>;

export interface WeightCacheOptions {
  /** The cache folder; `false` turns the cache off. */
  dir: string | false;
  /** Cache only when the sources together have at least this many bytes (default 16 MiB). */
  minBytes?: number;
  log?: (line: string) => void;
}

/** Where a cached copy of `sources` (converted as `kind`) lives, or undefined when a source is missing. */
export function weightCacheFile(dir: string, sources: readonly string[], kind: string): string | undefined {
  const ids: Array<{ file: string; size: number; mtimeMs: number }> = [];
  for (const s of sources) {
    let st: fs.Stats;
    try {
      st = fs.statSync(s);
    } catch {
      return undefined;
    }
    ids.push({ file: path.resolve(s), size: st.size, mtimeMs: st.mtimeMs });
  }
  const sha = (v: unknown) => crypto.createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);
  // <which files, converted how>-<their current state>: a rebuild for changed sources replaces its stale sibling.
  const where = sha({ kind, files: ids.map((i) => i.file) });
  return path.join(dir, `${where}-${sha({ v: CACHE_VERSION, kind, ids })}.safetensors`);
}

/** Reads a cache file in one read; every tensor a view over that buffer. */
function readCache(file: string): WeightArrays {
  const st = new SafetensorsFile(file);
  const all = fs.readFileSync(file);
  const out: WeightArrays = new Map();
  for (const e of st.entries.values()) {
    if (e.dtype !== "F32" || (all.byteOffset + e.begin) % 4 !== 0) throw new Error(`unexpected tensor ${e.name}`);
    out.set(e.name, {
      data: new Float32Array(all.buffer, all.byteOffset + e.begin, (e.end - e.begin) / 4),
      shape: e.shape,
    });
  }
  return out;
}

/** The cache file to use for `sources`, or undefined when caching is off, the sources are small or missing. */
function cacheTarget(sources: readonly string[], kind: string, opts: WeightCacheOptions): string | undefined {
  if (opts.dir === false) return undefined;
  const total = sources.reduce((a, s) => a + (fs.existsSync(s) ? fs.statSync(s).size : 0), 0);
  if (total < (opts.minBytes ?? DEFAULT_MIN_CACHE_BYTES)) return undefined;
  return weightCacheFile(opts.dir, sources, kind);
}

/** Converts, and saves the result to `file` (atomically; failures are notes, not errors). */
function convertAndStore(
  file: string | undefined,
  kind: string,
  sources: readonly string[],
  convert: () => WeightArrays,
  opts: WeightCacheOptions,
): { arrays: WeightArrays; written: boolean } {
  const arrays = convert();
  if (!file) return { arrays, written: false };
  try {
    writeSafetensors(file, arrays, { format: "llm-spam-classifier-weight-cache", kind, sources: sources.join("\n") });
    // Copies of the same sources in an earlier state are stale now.
    const dir = path.dirname(file),
      stem = path.basename(file).split("-")[0];
    for (const f of fs.readdirSync(dir))
      if (f.startsWith(`${stem}-`) && f.endsWith(".safetensors") && f !== path.basename(file))
        fs.rmSync(path.join(dir, f), { force: true });
    opts.log?.(`Saved a converted copy of the weights to ${file}: later loads read it in one go.`);
    return { arrays, written: true };
  } catch (err) {
    opts.log?.(`Note: could not write the weight cache ${file} (${(err as Error).message}); continuing without it.`);
    return { arrays, written: false };
  }
}

/**
 * The converted weights of `sources`: from the cache when a copy for their current state is there (one read;
 * every tensor a view over it), else from `convert()` (then saved to the cache for next time).
 * @param sources the files the conversion reads (all of them: index and data shards of a checkpoint).
 * @param kind what the conversion is (e.g. `gpt2:<config>`), part of the key.
 * @returns the arrays and whether they came from the cache (`file`: the cache file used or written).
 */
export function cachedWeights(
  sources: readonly string[],
  kind: string,
  convert: () => WeightArrays,
  opts: WeightCacheOptions,
): { arrays: WeightArrays; hit: boolean; file?: string } {
  const file = cacheTarget(sources, kind, opts);
  if (file && fs.existsSync(file)) {
    try {
      return { arrays: readCache(file), hit: true, file };
    } catch (err) {
      opts.log?.(`Note: ignoring the unreadable weight cache ${file} (${(err as Error).message}); rebuilding it.`);
    }
  }
  const { arrays, written } = convertAndStore(file, kind, sources, convert, opts);
  return { arrays, hit: false, ...(written ? { file } : {}) };
}

/** Weights that write themselves into memory given to them (GPTModel's `fill`); `close()` when done. */
export interface WeightFiller {
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  fill(name: string, values: Float32Array): void;
  close(): void;
}

/** A filler over a cache file: each tensor read from the file straight into the memory given (no copy between). */
function fileFiller(file: string): WeightFiller {
  const st = new SafetensorsFile(file); // checks the header and that every tensor lies inside the file
  for (const e of st.entries.values()) if (e.dtype !== "F32") throw new Error(`unexpected dtype of ${e.name}`);
  const fd = fs.openSync(file, "r");
  return {
    shapes: new Map([...st.entries.values()].map((e) => [e.name, e.shape])),
    fill(name, values) {
      const e = st.entries.get(name)!;
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      if (bytes.length !== e.end - e.begin)
        throw new Error(`${name}: ${bytes.length} bytes asked, ${e.end - e.begin} stored`);
      for (let done = 0; done < bytes.length;) {
        const n = fs.readSync(fd, bytes, done, bytes.length - done, e.begin + done);
        if (n === 0) throw new Error(`${file} ends inside ${name}`);
        done += n;
      }
    },
    close: () => fs.closeSync(fd),
  };
}

/** A filler over arrays in memory. */
function arraysFiller(arrays: WeightArrays): WeightFiller {
  return {
    shapes: new Map([...arrays].map(([n, t]) => [n, t.shape])),
    fill: (name, values) => values.set(arrays.get(name)!.data),
    close: () => arrays.clear(),
  };
}

/**
 * Like `cachedWeights`, for building a model: on a cache hit nothing is read up front, and each tensor is later
 * read from the cache file straight into the memory the model gives (the WASM heap with tfjs-wasm).
 */
export function cachedWeightFiller(
  sources: readonly string[],
  kind: string,
  convert: () => WeightArrays,
  opts: WeightCacheOptions,
): { filler: WeightFiller; hit: boolean } {
  const file = cacheTarget(sources, kind, opts);
  if (file && fs.existsSync(file)) {
    try {
      return { filler: fileFiller(file), hit: true };
    } catch (err) {
      opts.log?.(`Note: ignoring the unreadable weight cache ${file} (${(err as Error).message}); rebuilding it.`);
    }
  }
  return { filler: arraysFiller(convertAndStore(file, kind, sources, convert, opts).arrays), hit: false };
}

/** The weight cache folder for these options (`cacheDir` as given; else env LLM_WEIGHT_CACHE, `0`/`off` for none; else `<dataDir>/cache/weights`). */
export function weightCacheDir(opts: { cacheDir?: string | false; dataDir?: string }): string | false {
  if (opts.cacheDir !== undefined) return opts.cacheDir;
  const env = process.env.LLM_WEIGHT_CACHE;
  if (env === "0" || env === "off") return false;
  if (env) return path.resolve(env);
  return path.join(opts.dataDir ?? getSettings().dataDir, "cache", "weights");
}
