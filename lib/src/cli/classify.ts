import * as fs from "node:fs";
import * as path from "node:path";
import { optionalIntOption, weightCacheDirFor, type CliCommand } from "./command";
import { ConfigError } from "../errors";
import type { Classification } from "../engine/inference";
import { chooseEngine, engineHelp } from "./engineChoice";

/** From this many texts on, `--engine auto` classifies on ONNX Runtime. */
const ONNX_FROM_TEXTS = 4;

/** The texts to classify: the positionals as one text, or the non-empty lines of --file (- for stdin). */
function textsOf(values: Record<string, unknown>, positionals: string[]): string[] {
  if (typeof values.file === "string") {
    if (positionals.length) throw new ConfigError("Give either TEXT or --file, not both");
    let raw: string;
    try {
      raw = fs.readFileSync(values.file === "-" ? 0 : values.file, "utf8");
    } catch (err) {
      throw new ConfigError(
        `Cannot read --file ${values.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    const lines = raw.split(/\r?\n/).filter((l) => l.trim() !== "");
    if (!lines.length) throw new ConfigError(`--file ${values.file} has no text in it (one text per line)`);
    return lines;
  }
  const text = positionals.join(" ");
  if (!text.trim()) throw new ConfigError('classify needs a text, e.g. npm start -- classify "You won a prize!"');
  return [text];
}

/** `npm start -- classify "TEXT"`: section 6.8. */
export const classifyCommand: CliCommand = {
  name: "classify",
  summary: "Classify a text as spam or not spam with a fine-tuned model",
  usage: '"TEXT" | --file FILE [--model DIR] [--max-length N] [--engine auto|onnx|tfjs] [--json]',
  help: `Prints "spam" or "not spam" for TEXT, using the classifier saved by \`finetune\`.

Options:
  --file FILE        classify every non-empty line of FILE (- reads standard input); prints one
                     label per line (with --json, one JSON object per line, each with its text)
  --model DIR        the fine-tuned classifier folder (default <data>/review-classifier;
                     with --smoke the one \`finetune --smoke\` wrote)
  --max-length N     pad/truncate length (default: the length it was trained with, 120 in the book)
${engineHelp(21, `${ONNX_FROM_TEXTS} texts or more`)}
  --json             print {"label", "spamProbability"}`,
  options: {
    model: { type: "string" },
    "max-length": { type: "string" },
    file: { type: "string" },
    engine: { type: "string" },
  },
  async run(values, positionals, ctx) {
    const texts = textsOf(values, positionals);
    const maxLength = optionalIntOption(values, "max-length");
    const engine = chooseEngine(values.engine, texts.length, ONNX_FROM_TEXTS);
    // (smoke runs keep their files apart: settings.dataDir is then <data>/smoke/, where `finetune --smoke` saved)
    const dir = path.resolve(
      typeof values.model === "string" ? values.model : path.join(ctx.settings.dataDir, "review-classifier"),
    );
    const cacheDir = weightCacheDirFor(ctx);
    let results: Classification[];
    if (engine === "onnx") {
      // Straight from the saved (or cached) arrays to ONNX Runtime: tfjs is never loaded.
      const { readClassifierArrays } = await import("../train/classifierFile");
      const { ArrayGpt } = await import("../model/arrayModel");
      const { OnnxClassifier } = await import("../engine/inference");
      const { arrays, config } = readClassifierArrays(dir, { cacheDir, log: ctx.log });
      const model = new ArrayGpt(config.gpt, arrays);
      model.trainedMaxLength = config.maxLength;
      model.padTokenId = config.padTokenId;
      const onnx = await OnnxClassifier.create(model);
      try {
        results = await onnx.classify(texts, undefined, { maxLength });
      } finally {
        await onnx.release();
      }
    } else {
      await ctx.backend();
      const { loadClassifier } = await import("../train/checkpoint");
      const { classifyWithProbability } = await import("../train/classify");
      const { model } = loadClassifier(dir, { cacheDir });
      try {
        results = texts.map((t) => classifyWithProbability(t, model, undefined, { maxLength }));
      } finally {
        model.dispose();
      }
    }
    const many = typeof values.file === "string";
    results.forEach((r, i) => {
      if (values.json) ctx.out(JSON.stringify(many ? { text: texts[i], ...r } : r));
      else ctx.log(r.label);
    });
  },
};
