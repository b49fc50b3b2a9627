/**
 * One call from "a size or a path" to a loaded GPT-2 (book 6.4): the weights as gpt2Files.ts finds, reads,
 * converts and caches them, put into a new GPTModel.
 */
import { GPTModel } from "../model/gptModel";
import type { GPTConfig } from "../model/config";
import { openPretrainedFiller, type PretrainedOptions } from "./gpt2Files";

export * from "./gpt2Files";

export interface Pretrained {
  model: GPTModel;
  config: GPTConfig;
  /** The folder or file the weights came from. */
  source: string;
}

/**
 * Downloads (for a size) and loads GPT-2 into a new GPTModel (eval mode, drop rate 0).
 * Book: download_and_load_gpt2 + GPTModel(BASE_CONFIG) + load_weights_into_gpt, 6.4.
 * The model is created straight from the loaded values (no random init first); a converted copy of the
 * weights is cached (`cacheDir`), so later loads of the same files are one read.
 * @param opts `weights` (a size or a path; or `size` / `path`), `dataDir`, `baseUrls`, `cacheDir`, `log`, `progress`;
 *   `frozen` builds the model for training part of it (frozen weights as arrays outside tfjs: GPTModelOptions).
 * @returns the model (the caller disposes it), its config (from hparams.json / config.json) and the weights' location.
 * @throws ConfigError for an unknown size or a missing path; DownloadError; DataFormatError / ShapeMismatchError for bad files.
 */
export async function loadPretrainedGpt2(opts: PretrainedOptions & { frozen?: boolean } = {}): Promise<Pretrained> {
  const { filler, config, source } = await openPretrainedFiller(opts);
  try {
    return { model: new GPTModel(config, { fill: filler, frozen: opts.frozen }), config, source };
  } finally {
    filler.close(); // the model holds the only copy from here on
  }
}
