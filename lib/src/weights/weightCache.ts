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

/**
 * The converted weights of `sources`: from the cache when a copy for their current state is there, else
 * from `convert()` (then saved to the cache for next time).
 * @param sources the files the conversion reads (all of them: index and data shards of a checkpoint).
 * @param kind what the conversion is (e.g. `gpt2:openai`), part of the key.
 * @returns the arrays and whether they came from the cache (`file`: the cache file used or written).
 */
export function cachedWeights(
  sources: readonly string[],
  kind: string,
  convert: () => WeightArrays,
  opts: WeightCacheOptions,
): { arrays: WeightArrays; hit: boolean; file?: string } {
  if (opts.dir === false) return { arrays: convert(), hit: false };
  const total = sources.reduce((a, s) => a + (fs.existsSync(s) ? fs.statSync(s).size : 0), 0);
  const file = weightCacheFile(opts.dir, sources, kind);
  if (!file || total < (opts.minBytes ?? DEFAULT_MIN_CACHE_BYTES)) return { arrays: convert(), hit: false };
  if (fs.existsSync(file)) {
    try {
      return { arrays: readCache(file), hit: true, file };
    } catch (err) {
      opts.log?.(`Note: ignoring the unreadable weight cache ${file} (${(err as Error).message}); rebuilding it.`);
    }
  }
  const arrays = convert();
  try {
    writeSafetensors(file, arrays, { format: "llm-spam-classifier-weight-cache", kind, sources: sources.join("\n") });
    // Copies of the same sources in an earlier state are stale now.
    const stem = path.basename(file).split("-")[0];
    for (const f of fs.readdirSync(opts.dir))
      if (f.startsWith(`${stem}-`) && f.endsWith(".safetensors") && f !== path.basename(file))
        fs.rmSync(path.join(opts.dir, f), { force: true });
    opts.log?.(`Saved a converted copy of the weights to ${file}: later loads read it in one go.`);
  } catch (err) {
    opts.log?.(`Note: could not write the weight cache ${file} (${(err as Error).message}); continuing without it.`);
    return { arrays, hit: false };
  }
  return { arrays, hit: false, file };
}

/** The weight cache folder for these options (`cacheDir` as given; else env LLM_WEIGHT_CACHE, `0`/`off` for none; else `<dataDir>/cache/weights`). */
export function weightCacheDir(opts: { cacheDir?: string | false; dataDir?: string }): string | false {
  if (opts.cacheDir !== undefined) return opts.cacheDir;
  const env = process.env.LLM_WEIGHT_CACHE;
  if (env === "0" || env === "off") return false;
  if (env) return path.resolve(env);
  return path.join(opts.dataDir ?? getSettings().dataDir, "cache", "weights");
}
