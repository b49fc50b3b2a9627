/**
 * What every CLI command shares: its option table, help text and a context with settings,
 * logging and the lazily initialised tfjs backend.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { getSettings, type Settings } from "../config";
import type { BackendInfo } from "../backend";
import { weightCacheDir } from "../weights/weightCache";
import { ConfigError } from "../errors";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;
export type ParsedValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface CliContext {
  readonly settings: Settings;
  /** Human-readable progress and results go to stderr when `--json` owns stdout, else stdout. */
  readonly log: (line: string) => void;
  /** Machine-readable output (stdout). */
  readonly out: (line: string) => void;
  /** Initialises tfjs once and prints the backend in one line. */
  readonly backend: () => Promise<BackendInfo>;
}

export interface CliCommand {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Usage lines after `npm start -- <name>`, e.g. `[--out DIR]`. */
  readonly usage: string;
  /** Longer help: what it does, each option, examples. */
  readonly help: string;
  readonly options: OptionSpec;
  /** Runs the command; returns the exit code (default 0). */
  run(values: ParsedValues, positionals: string[], ctx: CliContext): Promise<number | void>;
}

/** Options every command accepts (they override the environment variables of the same meaning). */
export const COMMON_OPTIONS: OptionSpec = {
  help: { type: "boolean", short: "h" },
  "data-dir": { type: "string" },
  backend: { type: "string" },
  smoke: { type: "boolean" },
  "sms-spam-url": { type: "string" },
  "imdb-url": { type: "string" },
  "gpt2-base-url": { type: "string" },
  json: { type: "boolean" },
};

export const COMMON_HELP = `Common options:
  --data-dir DIR        where downloads and runs land (env LLM_DATA_DIR, default data/)
  --backend NAME        tfjs backend: tensorflow-gpu, webgpu, tensorflow, wasm, cpu (env TFJS_BACKEND)
  --smoke               tiny model and a few steps, for a quick check (env LLM_SMOKE=1)
  --sms-spam-url URL    dataset zip URL or local file (env SMS_SPAM_URL)
  --imdb-url URL        IMDb archive (aclImdb_v1.tar.gz) URL or local file (env IMDB_URL)
  --gpt2-base-url URL   base URL of the GPT-2 files (env GPT2_BASE_URL)
  --json                machine-readable output on stdout
  -h, --help            this help`;

/** A value that reads as a negative number (`-1`, `-0.5`, `-.5`), never an option name. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * Joins `--name -1` (and `-n -1`) into `--name=-1` for options that take a value. parseArgs would call
 * `-1` an ambiguous option argument; joined, the value reaches the option's own check, whose message
 * says what the value must be (e.g. `--epochs must be a positive integer`).
 */
export function attachNegativeValues(argv: readonly string[], options: OptionSpec): string[] {
  const takesValue = new Set<string>();
  for (const [name, spec] of Object.entries(options)) {
    if (spec.type !== "string") continue;
    takesValue.add(`--${name}`);
    if (spec.short) takesValue.add(`-${spec.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--") return out.concat(argv.slice(i)); // the rest are positionals
    const joined = takesValue.has(argv[i]) && i + 1 < argv.length && NEGATIVE_NUMBER.test(argv[i + 1]);
    out.push(joined ? `${argv[i]}=${argv[++i]}` : argv[i]);
  }
  return out;
}

/** Parses argv for a command; unknown options and bad values become ConfigErrors (exit 2). */
export function parseCommandArgs(cmd: CliCommand, argv: string[]): { values: ParsedValues; positionals: string[] } {
  const options = { ...COMMON_OPTIONS, ...cmd.options };
  try {
    const { values, positionals } = parseArgs({
      args: attachNegativeValues(argv, options),
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedValues, positionals };
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.split("\n")[0]}. See: npm start -- ${cmd.name} --help`);
  }
}

/** Builds the context for a parsed command line. */
export function makeContext(values: ParsedValues): CliContext {
  const str = (k: string) => {
    const v = values[k];
    return typeof v === "string" ? v : undefined;
  };
  const settings = getSettings({
    dataDir: str("data-dir"),
    backend: str("backend"),
    smsSpamUrl: str("sms-spam-url"),
    imdbUrl: str("imdb-url"),
    gpt2BaseUrl: str("gpt2-base-url"),
    smoke: values.smoke === true ? true : undefined,
  });
  const json = values.json === true;
  let info: Promise<BackendInfo> | undefined;
  const log = (line: string) => (json ? process.stderr : process.stdout).write(line + "\n");
  return {
    settings,
    log,
    out: (line) => process.stdout.write(line + "\n"),
    backend: () =>
      // tfjs is loaded here, on first use, not when the CLI starts (classify on ONNX Runtime never loads it).
      (info ??= import("../backend").then(async ({ initBackend, describeBackend }) => {
        const b = await initBackend(settings.backend);
        process.stderr.write(describeBackend(b) + "\n");
        if (settings.smoke) process.stderr.write(`Smoke mode: tiny model, few steps; files in ${settings.dataDir}\n`);
        return b;
      })),
  };
}

/** The weight cache folder for a command (env LLM_WEIGHT_CACHE, else `<data>/cache/weights`). */
export function weightCacheDirFor(ctx: CliContext): string | false {
  return weightCacheDir({ dataDir: ctx.settings.dataDir });
}

/** "a positive integer (at most 1000)", "an integer from -3 to 3", … for an option's error message. */
function integerRange(min: number, max: number): string {
  const atMost = max < Number.MAX_SAFE_INTEGER ? ` (at most ${max})` : "";
  if (min === 1) return `a positive integer${atMost}`;
  if (min === 0) return `a non-negative integer${atMost}`;
  return atMost ? `an integer from ${min} to ${max}` : `an integer of at least ${min}`;
}

/**
 * Reads an integer option (decimal digits, optionally signed) within [min, max].
 * @returns the value, or undefined when the option is absent
 * @throws ConfigError saying what the value must be (e.g. `--epochs must be a positive integer (at most 1000), got "-3"`)
 */
export function optionalIntOption(
  values: ParsedValues,
  name: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = typeof raw === "string" && /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${name} must be ${integerRange(min, max)}, got "${String(raw)}"`);
  }
  return n;
}

/** Like `optionalIntOption`, with a default for an absent option. */
export function intOption(
  values: ParsedValues,
  name: string,
  def: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  return optionalIntOption(values, name, min, max) ?? def;
}
