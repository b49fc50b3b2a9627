/**
 * Settings shared by notebooks, CLI, tests and benchmarks. Each comes from an environment
 * variable with a default; CLI options override them by passing `overrides`.
 *
 * | variable        | meaning                                             | default |
 * |-----------------|-----------------------------------------------------|---------|
 * | LLM_DATA_DIR    | where downloads, weights and runs land              | `data/` in the project (or cwd) |
 * | SMS_SPAM_URL    | dataset zip URL (the book's backup URL follows it)  | UCI URL |
 * | IMDB_URL        | IMDb archive URL (aclImdb_v1.tar.gz)                | Stanford's URL |
 * | GPT2_BASE_URL   | base URL of the GPT-2 model files                   | OpenAI's URL |
 * | TFJS_BACKEND    | force a tfjs backend: tensorflow, wasm, cpu         | automatic |
 * | LLM_SMOKE       | `1`: tiny model, few steps (the CLI's `--smoke`)    | off |
 *
 * Smoke mode needs no network and no wiring: without SMS_SPAM_URL / IMDB_URL / GPT2_BASE_URL it "downloads" the
 * dataset copy, the synthetic IMDb archive and the tiny GPT-2 that ship in the package (`file://` URLs, through the real download,
 * unzip and checkpoint code), and keeps its files in `<data>/smoke/`, apart from the real ones.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "./errors";
import { IMDB_SYNTHETIC_TAR, SMS_SPAM_ZIP, TINY_GPT2_DIR } from "./assets";

/** The book's dataset URLs (section 6.2): UCI first, the book's Backblaze mirror as fallback. */
export const SMS_SPAM_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip";
export const SMS_SPAM_BACKUP_URL = "https://f001.backblazeb2.com/file/LLMs-from-scratch/sms%2Bspam%2Bcollection.zip";
/** Where the IMDb bonus's download_prepare_dataset.py downloads the reviews from (Stanford). */
export const IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz";
/** The book's GPT-2 URLs (gpt_download.py): OpenAI's blob store first, the book's mirror as fallback. */
export const GPT2_BASE_URL = "https://openaipublic.blob.core.windows.net/gpt-2/models";
export const GPT2_BACKUP_BASE_URL = "https://f001.backblazeb2.com/file/LLMs-from-scratch/gpt2";

export interface Settings {
  /** Folder for datasets, GPT-2 weights, fine-tuned models and run outputs. */
  readonly dataDir: string;
  /** Dataset zip URLs, tried in order. */
  readonly smsSpamUrls: readonly string[];
  /** IMDb archive URLs (aclImdb_v1.tar.gz), tried in order. */
  readonly imdbUrls: readonly string[];
  /** GPT-2 base URLs (the size and file name are appended), tried in order. */
  readonly gpt2BaseUrls: readonly string[];
  /** Forced tfjs backend, or undefined for automatic choice. */
  readonly backend: string | undefined;
  /** Smoke mode: tiny model, a few training steps. */
  readonly smoke: boolean;
}

export type SettingsOverrides = Partial<{
  dataDir: string;
  smsSpamUrl: string;
  imdbUrl: string;
  gpt2BaseUrl: string;
  backend: string;
  smoke: boolean;
}>;

/** Finds the project root (the folder with the root package.json that depends on this lib), if any. */
function projectRoot(start: string): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg) && fs.existsSync(path.join(dir, "notebooks")) && fs.existsSync(path.join(dir, "lib")))
      return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Parses a boolean environment value: 1/true/yes/on and 0/false/no/off/empty. */
export function parseFlag(name: string, value: string | undefined): boolean {
  if (value === undefined || value === "") return false;
  const v = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError(`${name}=${value} is not a yes/no value; use 1 or 0`);
}

/**
 * Reads the settings from the environment, then applies `overrides` (CLI options win).
 * The default data folder is `<project>/data` when run inside this project (notebooks run in
 * `notebooks/`, the CLI anywhere in the tree), else `./data`.
 */
export function getSettings(overrides: SettingsOverrides = {}, env: NodeJS.ProcessEnv = process.env): Settings {
  const root = projectRoot(process.cwd());
  const baseDir = path.resolve(overrides.dataDir ?? env.LLM_DATA_DIR ?? path.join(root ?? process.cwd(), "data"));
  const smsUrl = overrides.smsSpamUrl ?? env.SMS_SPAM_URL;
  const imdbUrl = overrides.imdbUrl ?? env.IMDB_URL;
  const gptUrl = overrides.gpt2BaseUrl ?? env.GPT2_BASE_URL;
  const backend = overrides.backend ?? (env.TFJS_BACKEND || undefined);
  const smoke = overrides.smoke ?? parseFlag("LLM_SMOKE", env.LLM_SMOKE);
  // Smoke mode's tiny "124M" lives in <data>/smoke/, so a later real run never takes it for GPT-2 124M.
  const tinyGpt2 = smoke && !gptUrl;
  return {
    dataDir: tinyGpt2 ? path.join(baseDir, "smoke") : baseDir,
    // A user-given URL is used alone: falling back to the internet would hide a typo in it.
    smsSpamUrls: smsUrl ? [smsUrl] : smoke ? [pathToFileURL(SMS_SPAM_ZIP).href] : [SMS_SPAM_URL, SMS_SPAM_BACKUP_URL],
    imdbUrls: imdbUrl ? [imdbUrl] : smoke ? [pathToFileURL(IMDB_SYNTHETIC_TAR).href] : [IMDB_URL],
    gpt2BaseUrls: gptUrl
      ? [gptUrl.replace(/\/+$/, "")]
      : tinyGpt2
        ? [pathToFileURL(TINY_GPT2_DIR).href]
        : [GPT2_BASE_URL, GPT2_BACKUP_BASE_URL],
    backend,
    smoke,
  };
}
