/**
 * The classifiers the web app may load: every folder under the data folder that holds a classifier saved by
 * `finetune` (model.safetensors + config.json), named by its path relative to the data folder
 * (`review-classifier`, `smoke/review-classifier`). Names are all a browser ever sees or sends; a name that is
 * not in the list (`../x`, an absolute path, a symlink out of the folder) is refused.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError } from "../errors";

/** Folders that hold downloads and caches, never classifiers (skipped by the scan). */
const SKIPPED = new Set(["cache", "gpt2", "node_modules", "lora-adapter", "soft-prompt"]);
/** How deep under the data folder the scan looks (`experiments/row-3/classifier` is depth 3). */
const MAX_DEPTH = 4;

/** A model name that is not in the catalog, or points outside the data folder (HTTP 400 / 404). */
export class ModelNameError extends ConfigError {
  constructor(
    message: string,
    readonly status: 400 | 404,
  ) {
    super(message);
  }
}

/** True when `dir` holds a saved classifier. */
export function isClassifierDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, "model.safetensors")) && fs.existsSync(path.join(dir, "config.json"));
}

/** The classifiers under `dataDir` (names relative to it, `/`-separated, sorted). */
export function scanClassifiers(dataDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, rel: string, depth: number) => {
    if (depth > 0 && isClassifierDir(dir)) found.push(rel);
    if (depth >= MAX_DEPTH) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries)
      if (e.isDirectory() && !SKIPPED.has(e.name) && !e.name.startsWith("."))
        walk(path.join(dir, e.name), rel ? `${rel}/${e.name}` : e.name, depth + 1);
  };
  walk(dataDir, "", 0);
  return found.sort((a, b) => a.localeCompare(b));
}

/** The classifiers the app serves: those under the data folder, plus the one `--model` named. */
export class ModelCatalog {
  private extra?: { name: string; dir: string };
  private known = new Set<string>();

  constructor(readonly dataDir: string) {}

  /**
   * Adds the folder given on the command line (`serve --model DIR`): under the data folder it keeps its
   * relative name; elsewhere it is listed by its folder name (the operator chose it, the browser only sees the name).
   * @returns its name
   */
  addStartupModel(dir: string): string {
    const abs = path.resolve(dir);
    if (!isClassifierDir(abs))
      throw new ConfigError(
        `No fine-tuned classifier in ${abs} (model.safetensors + config.json). Make one with \`npm start -- finetune\` (or \`finetune --smoke\`).`,
      );
    const rel = this.relativeName(abs);
    if (rel !== undefined) return rel;
    this.extra = { name: path.basename(abs), dir: abs };
    return this.extra.name;
  }

  /** Names of every classifier, the `--model` one first. */
  list(): string[] {
    const under = scanClassifiers(this.dataDir);
    return this.extra ? [this.extra.name, ...under.filter((n) => n !== this.extra!.name)] : under;
  }

  /**
   * The folder of a listed classifier.
   * @throws ModelNameError (400) for a name that leaves the data folder, (404) for one that is not a classifier
   */
  resolve(name: string): string {
    if (this.extra && name === this.extra.name) return this.extra.dir;
    const parts = name.split(/[\\/]/);
    if (path.isAbsolute(name) || parts.some((p) => p === ".." || p === "." || p === ""))
      throw new ModelNameError(
        `Model "${name}" is outside the data folder: give a name from GET /api/models (e.g. "review-classifier")`,
        400,
      );
    const dir = path.join(this.dataDir, ...parts);
    // A symlink inside the data folder may still point out of it: compare real paths.
    if (fs.existsSync(dir) && this.relativeName(fs.realpathSync(dir), true) === undefined)
      throw new ModelNameError(`Model "${name}" is outside the data folder`, 400);
    // The last scan answers names it knows (a scan per request would walk the data folder each time).
    if (!this.known.has(name)) this.known = new Set(this.list());
    if (!this.known.has(name))
      throw new ModelNameError(`No classifier named "${name}" in the data folder; GET /api/models lists them`, 404);
    return dir;
  }

  /** `dir`'s name relative to the data folder, or undefined when it lies outside. */
  private relativeName(abs: string, real = false): string | undefined {
    const root = real && fs.existsSync(this.dataDir) ? fs.realpathSync(this.dataDir) : path.resolve(this.dataDir);
    const rel = path.relative(root, abs);
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return undefined;
    return rel.split(path.sep).join("/");
  }
}
