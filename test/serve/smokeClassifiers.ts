/**
 * Two real smoke classifiers in a temporary data folder, made by the CLI as a reader would make them
 * (`finetune --smoke`: the tiny GPT-2 and dataset copy that ship in the package, a few steps): the chapter's
 * (last block) and a LoRA one, each with its metrics.json and plots.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { ROOT, tempDir } from "../helpers";

const cli = path.join(ROOT, "lib", "dist", "cli", "main.js");

function finetune(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "finetune", "--smoke", ...args], {
      cwd: ROOT,
      env: { ...process.env, GPT2_BASE_URL: "", SMS_SPAM_URL: "", LLM_SMOKE: "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`finetune ${args.join(" ")}: ${err}`))));
  });
}

/** Names of the two classifiers under the data folder (relative paths, as the app lists them). */
export const CHAPTER_MODEL = "smoke/review-classifier";
export const LORA_MODEL = "smoke/lora-classifier";
/** A bonus-experiment variant (row 2: the first token's output), which ONNX Runtime does not run: tfjs does. */
export const FIRST_TOKEN_MODEL = "smoke/first-token-classifier";

/** A data folder with both classifiers (or only one of them, or only the variant); `cleanup` removes it. */
export async function makeSmokeClassifiers(
  prefix: string,
  opts: { only?: "chapter" | "first-token" } = {},
): Promise<{ dataDir: string; cleanup: () => void }> {
  const { dir, cleanup } = tempDir(prefix);
  if (opts.only === "first-token") {
    await finetune(["--data-dir", dir, "--token-position", "first", "--out", path.join(dir, FIRST_TOKEN_MODEL)]);
    return { dataDir: dir, cleanup };
  }
  await finetune(["--data-dir", dir]);
  if (opts.only !== "chapter")
    await finetune(["--data-dir", dir, "--method", "lora", "--out", path.join(dir, LORA_MODEL)]);
  return { dataDir: dir, cleanup };
}
