/**
 * Downloading OpenAI's GPT-2 files (the book's gpt_download.py): seven files per size from OpenAI's
 * URL, the book's backup URL as fallback, each skipped when already complete.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError } from "../errors";
import { downloadFile, remoteSize, type DownloadOptions } from "../util/download";

export const ALLOWED_SIZES = ["124M", "355M", "774M", "1558M"] as const;
export type Gpt2Size = (typeof ALLOWED_SIZES)[number];
export const GPT2_FILES = [
  "checkpoint",
  "encoder.json",
  "hparams.json",
  "model.ckpt.data-00000-of-00001",
  "model.ckpt.index",
  "model.ckpt.meta",
  "vocab.bpe",
] as const;

export interface DownloadGpt2Options extends Pick<
  DownloadOptions,
  "progress" | "timeoutMs" | "retries" | "retryDelayMs"
> {
  /** Base URLs tried in order (settings.gpt2BaseUrls); the size and file name are appended. */
  baseUrls: readonly string[];
  log?: (line: string) => void;
}

/** Checks a size name. @throws ConfigError listing the allowed sizes. */
export function checkGpt2Size(size: string): Gpt2Size {
  if (!(ALLOWED_SIZES as readonly string[]).includes(size))
    throw new ConfigError(`Model size not in ${ALLOWED_SIZES.join(", ")}: "${size}"`);
  return size as Gpt2Size;
}

/**
 * Downloads the seven files of `size` into `<modelsDir>/<size>/` and returns that folder.
 * A file whose local size equals the server's is kept ("File already exists and is up-to-date"),
 * as is a file whose server size cannot be learned (offline); interrupted downloads resume.
 * Book: download_and_load_gpt2 (download part), 6.4.
 * @param size `124M`, `355M`, `774M` or `1558M`.
 * @param modelsDir the book's `models_dir` (e.g. `<data>/gpt2`); or pass options with `dataDir` instead, for `<dataDir>/gpt2`.
 * @returns the folder holding the seven files.
 * @throws ConfigError for another size; DownloadError when every URL fails for a file.
 */
export async function downloadGpt2(size: string, modelsDir: string, opts: DownloadGpt2Options): Promise<string>;
export async function downloadGpt2(size: string, opts: DownloadGpt2Options & { dataDir: string }): Promise<string>;
export async function downloadGpt2(
  size: string,
  dirOrOpts: string | (DownloadGpt2Options & { dataDir: string }),
  maybeOpts?: DownloadGpt2Options,
): Promise<string> {
  const modelsDir = typeof dirOrOpts === "string" ? dirOrOpts : path.join(dirOrOpts.dataDir, "gpt2");
  const opts = typeof dirOrOpts === "string" ? maybeOpts! : dirOrOpts;
  const dir = path.join(modelsDir, checkGpt2Size(size));
  const log = opts.log ?? (() => {});
  for (const file of GPT2_FILES) {
    const dest = path.join(dir, file);
    const urls = opts.baseUrls.map((b) => `${b.replace(/\/+$/, "")}/${size}/${file}`);
    if (fs.existsSync(dest)) {
      const remote = await remoteSize(urls);
      if (remote === undefined || remote === fs.statSync(dest).size) {
        log(`File already exists and is up-to-date: ${dest}`);
        continue;
      }
    }
    const { progress, timeoutMs, retries, retryDelayMs } = opts;
    await downloadFile(urls, dest, {
      progress,
      timeoutMs,
      retries,
      retryDelayMs,
      log,
      label: `${size}/${file}`,
      hint: `Without internet, set GPT2_BASE_URL (or --gpt2-base-url) to a mirror or folder holding <size>/<file>, or put the seven files in ${dir}. For a quick offline check use --smoke.`,
    });
  }
  return dir;
}
