/**
 * One call from "a size or a path" to a loaded GPT-2: OpenAI sizes are downloaded to
 * `<dataDir>/gpt2/<size>/`; an OpenAI checkpoint folder, a Hugging Face model folder (config.json +
 * safetensors) or a safetensors file load from disk.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, DataFormatError } from "../errors";
import { BASE_CONFIG, configFromHparams, MODEL_SIZES, resolveModelName, type GPTConfig } from "../model/config";
import { GPTModel } from "../model/gptModel";
import { downloadGpt2, type DownloadGpt2Options } from "./downloadGpt2";
import { TfCheckpoint } from "./tfCheckpoint";
import { SafetensorsFile } from "./safetensors";
import { loadWeightsIntoGpt, type WeightSource } from "./loadWeights";

export interface PretrainedOptions extends Partial<DownloadGpt2Options> {
  /** A size (`124M`, `gpt2-small (124M)`, …) or a path. Default `124M`. */
  weights?: string;
  /** Where sizes are downloaded: `<dataDir>/gpt2/<size>`. */
  dataDir: string;
}

export interface Pretrained {
  model: GPTModel;
  config: GPTConfig;
  /** The folder or file the weights came from. */
  source: string;
}

/** Config from a Hugging Face config.json (n_embd, n_layer, n_head, n_positions/n_ctx, vocab_size). */
export function configFromHfConfig(c: Record<string, unknown>): GPTConfig {
  return configFromHparams({ n_vocab: c.vocab_size, n_ctx: c.n_positions ?? c.n_ctx, n_embd: c.n_embd, n_head: c.n_head, n_layer: c.n_layer });
}

function readJson(file: string): Record<string, unknown> {
  try { return JSON.parse(fs.readFileSync(file, "utf8")); } catch (err) { throw new DataFormatError(`${file} is not valid JSON`, { cause: err }); }
}

/** Opens weights on disk: returns the source and the config (from hparams.json / config.json, else inferred). */
export function openWeights(p: string): { src: WeightSource; config: GPTConfig; source: string } {
  const abs = path.resolve(p);
  if (!fs.existsSync(abs)) throw new ConfigError(`No weights at ${p}: give a size (124M, 355M, 774M, 1558M), an OpenAI checkpoint folder, a Hugging Face model folder or a .safetensors file`);
  const dir = fs.statSync(abs).isDirectory() ? abs : path.dirname(abs);
  if (abs.endsWith(".safetensors") || abs.endsWith(".safetensors.index.json") || fs.existsSync(path.join(abs, "model.safetensors")) || fs.existsSync(path.join(abs, "model.safetensors.index.json"))) {
    const file = fs.statSync(abs).isDirectory()
      ? path.join(abs, fs.existsSync(path.join(abs, "model.safetensors.index.json")) ? "model.safetensors.index.json" : "model.safetensors")
      : abs;
    const src = new SafetensorsFile(file);
    const cfgFile = path.join(dir, "config.json");
    const config = fs.existsSync(cfgFile) ? configFromHfConfig(readJson(cfgFile)) : inferConfig(src);
    return { src, config, source: file };
  }
  const ckpt = new TfCheckpoint(abs);
  const hp = path.join(dir, "hparams.json");
  const config = fs.existsSync(hp) ? configFromHparams(readJson(hp)) : inferConfig(ckpt);
  return { src: ckpt, config, source: ckpt.prefix };
}

/** Infers vocab/context/embedding/layers from tensor shapes; heads from the standard GPT-2 sizes (64 per head). */
function inferConfig(src: WeightSource & { listVariables(): Array<{ name: string; shape: number[] }> }): GPTConfig {
  const vars = src.listVariables();
  const find = (re: RegExp) => vars.find((v) => re.test(v.name));
  const wte = find(/(^|\/|\.)wte(\.weight)?$/), wpe = find(/(^|\/|\.)wpe(\.weight)?$/);
  if (!wte || !wpe) throw new DataFormatError("Cannot infer the model config: no wte/wpe tensors (add hparams.json or config.json)");
  const layers = new Set(vars.map((v) => /(?:^|\/|\.)h\.?(\d+)[./]/.exec(v.name)?.[1]).filter(Boolean)).size;
  const E = wte.shape[1];
  return { ...BASE_CONFIG, vocabSize: wte.shape[0], contextLength: wpe.shape[0], embDim: E, nLayers: layers, nHeads: Math.max(1, Math.round(E / 64)) };
}

/** True when `weights` names a GPT-2 size rather than a path. */
export function isModelSize(weights: string): boolean {
  try { resolveModelName(weights); return !fs.existsSync(weights); } catch { return false; }
}

/**
 * Downloads (for a size) and loads GPT-2 into a new GPTModel (eval mode, drop rate 0).
 * Book: download_and_load_gpt2 + GPTModel(BASE_CONFIG) + load_weights_into_gpt, 6.4.
 */
export async function loadPretrainedGpt2(opts: PretrainedOptions): Promise<Pretrained> {
  const weights = opts.weights ?? "124M";
  let location = weights;
  if (isModelSize(weights)) {
    const size = MODEL_SIZES[resolveModelName(weights)];
    location = await downloadGpt2(size, path.join(opts.dataDir, "gpt2"), { baseUrls: opts.baseUrls ?? [], log: opts.log, progress: opts.progress });
  }
  const { src, config, source } = openWeights(location);
  const model = new GPTModel(config);
  try {
    loadWeightsIntoGpt(model, src, opts.log);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, config, source };
}
