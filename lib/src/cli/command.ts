/**
 * What every CLI command shares: its option table, help text and a context with settings,
 * logging and the lazily initialised tfjs backend.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { getSettings, type Settings } from "../config";
import { initBackend, describeBackend, type BackendInfo } from "../backend";
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
  "gpt2-base-url": { type: "string" },
  json: { type: "boolean" },
};

export const COMMON_HELP = `Common options:
  --data-dir DIR        where downloads and runs land (env LLM_DATA_DIR, default data/)
  --backend NAME        tfjs backend: tensorflow-gpu, tensorflow, wasm, cpu (env TFJS_BACKEND)
  --smoke               tiny model and a few steps, for a quick check (env LLM_SMOKE=1)
  --sms-spam-url URL    dataset zip URL or local file (env SMS_SPAM_URL)
  --gpt2-base-url URL   base URL of the GPT-2 files (env GPT2_BASE_URL)
  --json                machine-readable output on stdout
  -h, --help            this help`;

/** Parses argv for a command; unknown options and bad values become ConfigErrors (exit 2). */
export function parseCommandArgs(cmd: CliCommand, argv: string[]): { values: ParsedValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true });
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
    backend: () => (info ??= initBackend(settings.backend).then((b) => { process.stderr.write(describeBackend(b) + "\n"); return b; })),
  };
}

/** Reads an integer option with bounds, or the default. */
export function intOption(values: ParsedValues, name: string, def: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = values[name];
  if (raw === undefined) return def;
  const n = Number(raw);
  if (typeof raw !== "string" || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${name} must be an integer between ${min} and ${max}, got "${String(raw)}"`);
  }
  return n;
}
