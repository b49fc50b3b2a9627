/**
 * One call from "a size or a path" to GPT-2's weights (no tfjs here: pretrained.ts builds the GPTModel): OpenAI sizes are downloaded to
 * `<dataDir>/gpt2/<size>/`; an OpenAI checkpoint folder, a Hugging Face model folder (config.json +
 * safetensors) or a safetensors file load from disk.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, DataFormatError } from "../errors";
import { getSettings } from "../config";
import {
  BASE_CONFIG,
  configFromHparams,
  modelConfig,
  MODEL_SIZES,
  resolveModelName,
  type GPTConfig,
} from "../model/config";
import { parameterShapes } from "../model/parameters";
import { downloadGpt2, type DownloadGpt2Options } from "./downloadGpt2";
import { TfCheckpoint } from "./tfCheckpoint";
import { SafetensorsFile } from "./safetensors";
import { gpt2WeightArrays, type WeightSource } from "./loadWeights";
import { cachedWeightFiller, cachedWeights, weightCacheDir, type WeightArrays, type WeightFiller } from "./weightCache";

export { weightCacheDir } from "./weightCache";

export interface PretrainedOptions extends Partial<DownloadGpt2Options> {
  /** A size (`124M`, `gpt2-small (124M)`, …) or a path (the CLI's `--weights`). Default `124M`. */
  weights?: string;
  /** Same as `weights` with a size (`124M`, `gpt2-small (124M)`). */
  size?: string;
  /** Same as `weights` with a path: an OpenAI checkpoint folder, a Hugging Face folder or a safetensors file. */
  path?: string;
  /** Where sizes are downloaded: `<dataDir>/gpt2/<size>`. Default: `getSettings().dataDir`. */
  dataDir?: string;
  /** Base URLs for downloads. Default: `getSettings().gpt2BaseUrls` (GPT2_BASE_URL, else the book's two URLs). */
  baseUrls?: readonly string[];
  /**
   * Where converted copies of the weights are cached (one file read on later loads; see weightCache.ts), or
   * `false` for none. Default: env LLM_WEIGHT_CACHE (`0` or `off`: none), else `<dataDir>/cache/weights`.
   */
  cacheDir?: string | false;
  /** Cache only sources of at least this many bytes in total (default 16 MiB: small files load fast anyway). */
  cacheMinBytes?: number;
}

/** Every file a weight source reads (a checkpoint's index and data shards; a safetensors model's shards). */
export function weightSourceFiles(src: WeightSource): string[] {
  if (src instanceof TfCheckpoint)
    return [`${src.prefix}.index`, ...Array.from({ length: src.numShards }, (_, i) => src.shardPath(i))];
  if (src instanceof SafetensorsFile) return [...new Set([...src.entries.values()].map((e) => e.file))];
  return [];
}

/** Config from a Hugging Face config.json (n_embd, n_layer, n_head, n_positions/n_ctx, vocab_size). */
export function configFromHfConfig(c: Record<string, unknown>): GPTConfig {
  return configFromHparams({
    n_vocab: c.vocab_size,
    n_ctx: c.n_positions ?? c.n_ctx,
    n_embd: c.n_embd,
    n_head: c.n_head,
    n_layer: c.n_layer,
  });
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new DataFormatError(`${file} is not valid JSON`, { cause: err });
  }
}

/** A weight file or bundle that can also list its tensors (TfCheckpoint or SafetensorsFile). */
export type ListableWeightSource = WeightSource & {
  listVariables(prefix?: string): Array<{ name: string; dtype: string; shape: number[] }>;
  readBytes(name: string): Uint8Array;
};

/**
 * Opens a weight file or bundle without interpreting it as GPT-2 (used by `weights inspect`).
 * @param p an OpenAI checkpoint folder or prefix, a `.safetensors` file, a Hugging Face folder or a `*.safetensors.index.json`.
 * @returns the source, its folder, and the file or prefix actually opened.
 * @throws ConfigError when nothing exists at `p`; DataFormatError for unreadable files.
 */
export function openWeightSource(p: string): { src: ListableWeightSource; dir: string; source: string } {
  const abs = path.resolve(p);
  if (!fs.existsSync(abs) && !fs.existsSync(`${abs}.index`)) {
    throw new ConfigError(
      `No weights at ${p}: give a size (124M, 355M, 774M, 1558M), an OpenAI checkpoint folder, a Hugging Face model folder or a .safetensors file`,
    );
  }
  const isDir = fs.existsSync(abs) && fs.statSync(abs).isDirectory();
  const dir = isDir ? abs : path.dirname(abs);
  if (
    abs.endsWith(".safetensors") ||
    abs.endsWith(".safetensors.index.json") ||
    fs.existsSync(path.join(abs, "model.safetensors")) ||
    fs.existsSync(path.join(abs, "model.safetensors.index.json"))
  ) {
    const file = isDir
      ? path.join(
          abs,
          fs.existsSync(path.join(abs, "model.safetensors.index.json"))
            ? "model.safetensors.index.json"
            : "model.safetensors",
        )
      : abs;
    return { src: new SafetensorsFile(file), dir, source: file };
  }
  const ckpt = new TfCheckpoint(abs);
  return { src: ckpt, dir, source: ckpt.prefix };
}

/**
 * Opens GPT-2 weights on disk with their config (hparams.json / config.json beside them, else inferred from shapes).
 * @throws ConfigError when nothing exists at `p`; DataFormatError for unreadable files or an unknown config.
 */
export function openWeights(p: string): { src: ListableWeightSource; config: GPTConfig; source: string } {
  const { src, dir, source } = openWeightSource(p);
  let config: GPTConfig;
  if (src instanceof SafetensorsFile) {
    const cfgFile = path.join(dir, "config.json");
    config = fs.existsSync(cfgFile) ? configFromHfConfig(readJson(cfgFile)) : inferConfig(src);
  } else {
    const hp = path.join(dir, "hparams.json");
    config = fs.existsSync(hp) ? configFromHparams(readJson(hp)) : inferConfig(src);
  }
  return { src, config, source };
}

/** Infers vocab/context/embedding/layers from tensor shapes; heads from the standard GPT-2 sizes (64 per head). */
function inferConfig(src: ListableWeightSource): GPTConfig {
  const vars = src.listVariables();
  const find = (re: RegExp) => vars.find((v) => re.test(v.name));
  const wte = find(/(^|\/|\.)(wte|tok_emb)(\.weight)?$/),
    wpe = find(/(^|\/|\.)(wpe|pos_emb)(\.weight)?$/);
  if (!wte || !wpe)
    throw new DataFormatError(
      "Cannot infer the model config: no wte/wpe (or tok_emb/pos_emb) tensors (add hparams.json or config.json)",
    );
  const layers = new Set(vars.map((v) => /(?:^|\/|\.)(?:h\.?|trf_blocks\.)(\d+)[./]/.exec(v.name)?.[1]).filter(Boolean))
    .size;
  const E = wte.shape[1];
  const qkvBias = !src.has("tok_emb.weight") || src.has("trf_blocks.0.att.W_query.bias");
  return {
    ...BASE_CONFIG,
    vocabSize: wte.shape[0],
    contextLength: wpe.shape[0],
    embDim: E,
    nLayers: layers,
    nHeads: Math.max(1, Math.round(E / 64)),
    qkvBias,
  };
}

/** True when `weights` names a GPT-2 size rather than a path. */
export function isModelSize(weights: string): boolean {
  try {
    resolveModelName(weights);
    return !fs.existsSync(weights);
  } catch {
    return false;
  }
}

/** Resolves `opts` to weights on disk, downloading a size first. */
async function locateWeights(
  opts: PretrainedOptions,
): Promise<{ src: ListableWeightSource; config: GPTConfig; source: string }> {
  const weights = opts.path ?? opts.size ?? opts.weights ?? "124M";
  let location = weights;
  if (opts.path === undefined && isModelSize(weights)) {
    const size = MODEL_SIZES[resolveModelName(weights)];
    const settings = opts.dataDir && opts.baseUrls ? undefined : getSettings();
    const modelsDir = path.join(opts.dataDir ?? settings!.dataDir, "gpt2");
    const { progress, timeoutMs, retries, retryDelayMs, log } = opts;
    location = await downloadGpt2(size, modelsDir, {
      baseUrls: opts.baseUrls ?? settings!.gpt2BaseUrls,
      progress,
      timeoutMs,
      retries,
      retryDelayMs,
      log,
    });
  } else if (opts.size !== undefined && opts.path === undefined) {
    throw new ConfigError(`Unknown GPT-2 size "${opts.size}"; use one of ${Object.values(MODEL_SIZES).join(", ")}`);
  }
  const opened = openWeights(location);
  if (opts.path === undefined && isModelSize(weights)) {
    const expected = modelConfig(weights);
    const { config, source } = opened;
    if (config.embDim !== expected.embDim || config.nLayers !== expected.nLayers) {
      opts.log?.(
        `Note: ${source} holds a model with ${config.nLayers} layers of width ${config.embDim}, not GPT-2 ${MODEL_SIZES[resolveModelName(weights)]}'s ${expected.nLayers} × ${expected.embDim} (smoke-mode weights?)`,
      );
    }
  }
  return opened;
}

/** What reading GPT-2's weights in our layout takes: its files, a cache key, the conversion, the cache settings. */
async function pretrainedConversion(opts: PretrainedOptions) {
  const { src, config, source } = await locateWeights(opts);
  const shapes = parameterShapes(config);
  const convert = (): WeightArrays => {
    const { arrays: values, layout } = gpt2WeightArrays(src, shapes);
    opts.log?.(`Loaded ${values.size} tensors (${layout === "book" ? "book state_dict" : layout} layout).`);
    return new Map(shapes.map(([n, shape]) => [n, { data: values.get(n)!, shape }]));
  };
  const cache = { dir: weightCacheDir(opts), minBytes: opts.cacheMinBytes, log: opts.log };
  return { files: weightSourceFiles(src), kind: `gpt2:${JSON.stringify(config)}`, convert, cache, config, source };
}

/**
 * GPT-2's weights as our parameters' values (names, layout, the tied head transposed), without building a
 * model: what `loadPretrainedGpt2` puts into a GPTModel, and what ONNX Runtime takes directly. A converted
 * copy is cached (`cacheDir`), so a second load of the same files is one read.
 * @returns the arrays (our names → values and shapes), the config, the weights' location and whether the cache served them.
 * @throws like `loadPretrainedGpt2`.
 */
export async function loadPretrainedArrays(
  opts: PretrainedOptions = {},
): Promise<{ arrays: WeightArrays; config: GPTConfig; source: string; cached: boolean }> {
  const c = await pretrainedConversion(opts);
  const { arrays, hit } = cachedWeights(c.files, c.kind, c.convert, c.cache);
  return { arrays, config: c.config, source: c.source, cached: hit };
}

/**
 * Like `loadPretrainedArrays`, as a filler for `new GPTModel(config, { fill })`: from a cache hit, each tensor is
 * read from the cache file straight into the model's memory. Call `filler.close()` when the model is built.
 */
export async function openPretrainedFiller(
  opts: PretrainedOptions = {},
): Promise<{ filler: WeightFiller; config: GPTConfig; source: string; cached: boolean }> {
  const c = await pretrainedConversion(opts);
  const { filler, hit } = cachedWeightFiller(c.files, c.kind, c.convert, c.cache);
  return { filler, config: c.config, source: c.source, cached: hit };
}
