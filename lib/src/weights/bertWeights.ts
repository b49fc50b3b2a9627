/**
 * BERT's weights from Hugging Face: `model.safetensors` read by its parameter names (legacy `LayerNorm.gamma` /
 * `.beta` and prefix-less `BertModel` checkpoints accepted, as transformers does), Linear weights transposed to
 * our `[in, out]`, every shape checked; a pretraining checkpoint's heads (`cls.*`) are left out and a missing
 * classifier is initialised as AutoModelForSequenceClassification does. Downloads follow the Hub's URL scheme
 * `<endpoint>/<repo>/resolve/main/<file>`, with the endpoint overridable (HF_ENDPOINT, as huggingface_hub reads it).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { TINY_BERT_DIR } from "../assets";
import { getSettings } from "../config";
import { ConfigError, DataFormatError, ShapeMismatchError } from "../errors";
import { bertConfigFromHf, bertParameterShapes, isBertLinearWeight, type BertConfig } from "../model/bert";
import { BertModel } from "../model/bertModel";
import { BertTokenizer } from "../bertTokenizer";
import { downloadFile, remoteSize, type DownloadOptions } from "../util/download";
import { SafetensorsFile } from "./safetensors";

/** The Hugging Face Hub. */
export const HF_ENDPOINT = "https://huggingface.co";

/** The files a BERT classifier needs from its repository (tokenizer.json is optional: vocab.txt is enough). */
export const BERT_FILES = ["config.json", "model.safetensors", "vocab.txt"] as const;

/** Tensors a checkpoint may carry that a sequence classifier does not use (pretraining heads, index buffers). */
const UNUSED = [/^cls\./, /\.position_ids$/, /\.token_type_ids$/];

/** Options of `bertWeightArrays`. */
export interface BertWeightOptions {
  /**
   * A missing `classifier.*` (a pretrained, not fine-tuned checkpoint): "init" (default) draws a new head
   * (weight N(0, 0.02), bias 0, as transformers does, seeded), "error" refuses.
   */
  missingHead?: "init" | "error";
  /** Seed of a new head (default 123). */
  seed?: number;
  log?: (line: string) => void;
}

/** A file name's canonical parameter name: legacy gamma/beta, prefix-less BertModel names. */
function canonicalName(name: string, prefixed: boolean): string {
  const n = name.replace(/LayerNorm\.gamma$/, "LayerNorm.weight").replace(/LayerNorm\.beta$/, "LayerNorm.bias");
  return prefixed || n.startsWith("classifier.") ? n : `bert.${n}`;
}

/** Transposes a row-major [rows, cols] matrix. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** A seeded N(0, std) draw (mulberry32 + Box-Muller): a new head that does not depend on tfjs. */
function normalValues(n: number, std: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/**
 * Reads a BERT classifier's parameters from a safetensors file (Hugging Face's names and layout) into our
 * layout (Linear weights `[in, out]`).
 * @throws DataFormatError for missing or unexpected tensors (the message lists them); ShapeMismatchError for a
 *   tensor of the wrong shape
 */
export function bertWeightArrays(
  file: string,
  cfg: BertConfig,
  opts: BertWeightOptions = {},
): Map<string, Float32Array> {
  const st = new SafetensorsFile(file);
  const what = path.basename(file);
  const names = [...st.entries.keys()];
  const prefixed = names.some((n) => n.startsWith("bert."));
  const byCanonical = new Map<string, string>();
  const unexpected: string[] = [];
  const shapes = new Map(bertParameterShapes(cfg));
  for (const n of names) {
    if (UNUSED.some((re) => re.test(n))) continue;
    const c = canonicalName(n, prefixed);
    if (shapes.has(c)) byCanonical.set(c, n);
    else unexpected.push(n);
  }
  if (unexpected.length)
    throw new DataFormatError(
      `${what} has ${unexpected.length} tensor(s) a BERT classifier with this config does not have: ${unexpected.slice(0, 8).join(", ")}${unexpected.length > 8 ? ", …" : ""}. Is it a BERT checkpoint (and does config.json match it)?`,
    );
  const head = ["classifier.weight", "classifier.bias"];
  const missing = [...shapes.keys()].filter((n) => !byCanonical.has(n) && !head.includes(n));
  if (missing.length)
    throw new DataFormatError(
      `${what} lacks ${missing.length} tensor(s) of BERT: ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", …" : ""}`,
    );
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    const src = byCanonical.get(name);
    if (!src) continue;
    const t = st.readTensor(src);
    const hfShape = isBertLinearWeight(name) ? [shape[1], shape[0]] : shape;
    if (t.shape.length !== hfShape.length || t.shape.some((d, i) => d !== hfShape[i]))
      throw new ShapeMismatchError(
        `Shape mismatch for ${src}: expected [${hfShape.join(",")}], got [${t.shape.join(",")}]`,
      );
    out.set(name, isBertLinearWeight(name) ? transpose(t.data, hfShape[0], hfShape[1]) : t.data);
  }
  const headMissing = head.filter((n) => !out.has(n));
  if (headMissing.length) {
    if (opts.missingHead === "error")
      throw new DataFormatError(`${what} has no classifier head (${headMissing.join(", ")})`);
    const [E, C] = shapes.get("classifier.weight")!;
    out.set("classifier.weight", normalValues(E * C, 0.02, opts.seed ?? 123));
    out.set("classifier.bias", new Float32Array(C));
    opts.log?.(
      `Some weights of BertForSequenceClassification were not initialized from ${what} and are newly initialized: classifier.weight, classifier.bias`,
    );
  }
  return out;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new DataFormatError(`${file} is not valid JSON`, { cause: err });
  }
}

/**
 * Loads a BERT classifier from a Hugging Face folder (config.json + model.safetensors).
 * @param numLabels classes of the head (default: config.json's, else 2)
 * @throws ConfigError for a missing folder; DataFormatError / ShapeMismatchError for bad files
 */
export function loadBertModel(
  dir: string,
  opts: BertWeightOptions & { numLabels?: number } = {},
): { model: BertModel; config: BertConfig } {
  const cfgFile = path.join(dir, "config.json"),
    weights = path.join(dir, "model.safetensors");
  for (const f of [cfgFile, weights])
    if (!fs.existsSync(f))
      throw new ConfigError(`${f} not found: a BERT folder needs config.json and model.safetensors`);
  const hf = bertConfigFromHf(readJson(cfgFile));
  const config = { ...hf, numLabels: opts.numLabels ?? hf.numLabels };
  const model = new BertModel(config, { weights: bertWeightArrays(weights, config, opts) });
  return { model, config };
}

/** The Hub's base URL: `HF_ENDPOINT` when set (a mirror, or a local server), else huggingface.co. */
export function hfEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT || HF_ENDPOINT).replace(/\/+$/, "");
}

/** The Hub's URL of a file: `<endpoint>/<repo>/resolve/<revision>/<file>`. */
export function hubFileUrl(repo: string, file: string, opts: { endpoint?: string; revision?: string } = {}): string {
  return `${(opts.endpoint ?? hfEndpoint()).replace(/\/+$/, "")}/${repo}/resolve/${opts.revision ?? "main"}/${file}`;
}

/** Options of `downloadBert`. */
export interface DownloadBertOptions extends Pick<
  DownloadOptions,
  "progress" | "timeoutMs" | "retries" | "retryDelayMs"
> {
  /** The Hub's base URL (default `hfEndpoint()`: HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Files to fetch (default BERT_FILES). */
  files?: readonly string[];
  log?: (line: string) => void;
}

/**
 * Downloads a model repository's files (default config.json, model.safetensors, vocab.txt) into
 * `<modelsDir>/<repo>/`, each skipped when already complete, resumed when interrupted, written atomically.
 * @returns the folder
 * @throws ConfigError for a malformed repository id; DownloadError when a file cannot be fetched
 */
export async function downloadBert(repo: string, modelsDir: string, opts: DownloadBertOptions = {}): Promise<string> {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo) || repo.split("/").some((p) => p === ".." || p === "."))
    throw new ConfigError(
      `"${repo}" is not a Hugging Face model id (e.g. bert-base-uncased or google-bert/bert-base-uncased)`,
    );
  const dir = path.join(modelsDir, ...repo.split("/"));
  for (const file of opts.files ?? BERT_FILES) {
    const dest = path.join(dir, file);
    const url = hubFileUrl(repo, file, { endpoint: opts.endpoint });
    if (fs.existsSync(dest)) {
      const remote = await remoteSize([url]);
      if (remote === undefined || remote === fs.statSync(dest).size) {
        opts.log?.(`File already exists and is up-to-date: ${dest}`);
        continue;
      }
    }
    await downloadFile([url], dest, {
      progress: opts.progress,
      timeoutMs: opts.timeoutMs,
      retries: opts.retries,
      retryDelayMs: opts.retryDelayMs,
      log: opts.log,
      label: `${repo}/${file}`,
      hint: `Without internet, set HF_ENDPOINT to a mirror serving <repo>/resolve/main/<file>, or put the files in ${dir}.`,
    });
  }
  return dir;
}

/** Options of `loadPretrainedBert`. */
export interface PretrainedBertOptions extends DownloadBertOptions, BertWeightOptions {
  /** A Hugging Face model id (default "bert-base-uncased") or a local folder holding its files. */
  model?: string;
  /** Where repositories are downloaded: `<modelsDir>/<repo>/` (default `<dataDir>/bert`). */
  modelsDir?: string;
  /** The data folder (default `getSettings().dataDir`: LLM_DATA_DIR, else the project's data/). */
  dataDir?: string;
  /** Classes of the head (default: config.json's, else 2). */
  numLabels?: number;
}

/**
 * One call from a model id (downloaded from the Hub, or HF_ENDPOINT) or a folder to a BERT classifier and its
 * tokenizer: `AutoModelForSequenceClassification.from_pretrained` + `AutoTokenizer.from_pretrained`.
 * @returns the model (the caller disposes it), its tokenizer, config and folder
 * @throws ConfigError, DownloadError, DataFormatError, ShapeMismatchError
 */
export async function loadPretrainedBert(
  opts: PretrainedBertOptions = {},
): Promise<{ model: BertModel; tokenizer: BertTokenizer; config: BertConfig; dir: string }> {
  const id = opts.model ?? "bert-base-uncased";
  const dir =
    fs.existsSync(id) && fs.statSync(id).isDirectory()
      ? id
      : await downloadBert(id, opts.modelsDir ?? path.join(opts.dataDir ?? getSettings().dataDir, "bert"), opts);
  const tokenizer = BertTokenizer.fromDir(dir);
  const { model, config } = loadBertModel(dir, opts);
  if (tokenizer.vocabSize !== config.vocabSize)
    opts.log?.(`The tokenizer has ${tokenizer.vocabSize} tokens, the model's vocabulary ${config.vocabSize}`);
  return { model, tokenizer, config, dir };
}

/**
 * The tiny BERT that ships with the package (lib/assets/bert-tiny/) as `loadPretrainedBert` loads
 * bert-base-uncased: a new, seeded classifier head on the pretrained-style checkpoint. Smoke mode and the notebooks'
 * smoke runs use it; nothing is downloaded.
 */
export function smokeBert(
  opts: Omit<PretrainedBertOptions, "model" | "modelsDir" | "endpoint" | "files"> = {},
): Promise<{ model: BertModel; tokenizer: BertTokenizer; config: BertConfig; dir: string }> {
  return loadPretrainedBert({ ...opts, model: TINY_BERT_DIR });
}
