import * as fs from "node:fs";
import * as path from "node:path";
import { optionalIntOption, weightCacheDirFor, type CliCommand, type CliContext, type ParsedValues } from "./command";
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

/** Whether `dir` holds a BERT (config.json's model_type), read without loading tfjs. */
function isBertDir(dir: string): boolean {
  try {
    return (
      (JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as { model_type?: unknown }).model_type ===
      "bert"
    );
  } catch {
    return false;
  }
}

/**
 * A BERT classifier folder (`finetune --model …`) or a BERT prompt file (prompt_embeddings.safetensors) in front of
 * `--weights` (default bert-base-uncased; the tiny BERT with --smoke): one line per text, the label and confidence.
 */
async function classifyWithBert(
  texts: string[],
  source: { dir: string } | { prompt: string; weights?: string },
  values: Record<string, unknown>,
  ctx: CliContext,
): Promise<void> {
  if (values.engine !== undefined && values.engine !== "auto" && values.engine !== "onnx")
    throw new ConfigError("BERT classifies on ONNX Runtime (--engine onnx or auto)");
  const maxLength = optionalIntOption(values as ParsedValues, "max-length", 3);
  await ctx.backend();
  const { loadBertClassifier, loadBertWithPrompt } = await import("../train/bertClassifier");
  const { TINY_BERT_DIR } = await import("../assets");
  const classifier =
    "dir" in source
      ? await loadBertClassifier(source.dir, { maxLength })
      : await loadBertWithPrompt(path.resolve(source.prompt), {
          model: source.weights ?? (ctx.settings.smoke ? TINY_BERT_DIR : "bert-base-uncased"),
          dataDir: ctx.settings.dataDir,
          maxLength,
          log: ctx.log,
        });
  try {
    const results = await classifier.classify(texts);
    results.forEach((r, i) => {
      const { label, prediction, confidence, probabilities } = r;
      if (values.json)
        ctx.out(
          JSON.stringify({ ...(values.file ? { text: texts[i] } : {}), label, prediction, confidence, probabilities }),
        );
      else ctx.log(`${label} (confidence ${(confidence * 100).toFixed(2)} %)`);
    });
  } finally {
    await classifier.release();
  }
}

/** `npm start -- classify "TEXT"`: section 6.8. */
export const classifyCommand: CliCommand = {
  name: "classify",
  summary: "Classify a text as spam or not spam (or a review, with a BERT) with a fine-tuned model",
  usage:
    '"TEXT" | --file FILE [--model DIR | --adapter DIR [--weights SIZE_OR_PATH]] [--max-length N] [--engine auto|onnx|tfjs] [--json]',
  help: `Prints "spam" or "not spam" for TEXT, using the classifier saved by \`finetune\`.

Options:
  --file FILE        classify every non-empty line of FILE (- reads standard input); prints one
                     label per line (with --json, one JSON object per line, each with its text)
  --model DIR        the fine-tuned classifier folder (default <data>/review-classifier;
                     with --smoke the one \`finetune --smoke\` wrote)
  --adapter DIR      instead of --model: a LoRA adapter (<out>/lora-adapter) or a soft prompt
                     (<out>/soft-prompt) saved by \`finetune --trainable lora|prompt-tuning\`, applied to
                     the GPT-2 it was trained from (checked by its hash) with the run's seeded head
  --weights SIZE_OR_PATH
                     with --adapter: that GPT-2 (default 124M)

BERT (the fine-tuning chapter's IMDb classifiers; prints positive or negative with its confidence):
  --model DIR        a folder \`finetune --model bert-base-uncased\` wrote (with or without
                     --method prompt-tuning): BERT is recognised by its config.json
  --adapter FILE     a BERT prompt alone (prompt_embeddings.safetensors), put in front of --weights
                     (a BERT id or folder; default bert-base-uncased, the tiny BERT with --smoke) with
                     its seeded new head, as the chapter's PromptTunedBERTInference
  --max-length N     tokens per text, the prompt included (default: the length it was trained with)
  --max-length N     pad/truncate length (default: the length it was trained with, 120 in the book)
${engineHelp(21, `${ONNX_FROM_TEXTS} texts or more`)}
  --json             print {"label", "spamProbability"}`,
  options: {
    model: { type: "string" },
    adapter: { type: "string" },
    weights: { type: "string" },
    "max-length": { type: "string" },
    file: { type: "string" },
    engine: { type: "string" },
  },
  async run(values, positionals, ctx) {
    const texts = textsOf(values, positionals);
    if (typeof values.adapter === "string" && values.adapter.endsWith(".safetensors")) {
      if (typeof values.model === "string") throw new ConfigError("Give either --model or --adapter, not both");
      const weights = typeof values.weights === "string" ? values.weights : undefined;
      return classifyWithBert(texts, { prompt: values.adapter, weights }, values, ctx);
    }
    if (typeof values.model === "string" && values.adapter === undefined && isBertDir(values.model)) {
      if (values.weights !== undefined)
        throw new ConfigError("--weights goes with --adapter (a --model folder holds its own weights)");
      return classifyWithBert(texts, { dir: path.resolve(values.model) }, values, ctx);
    }
    const maxLength = optionalIntOption(values, "max-length");
    const engine = chooseEngine(values.engine, texts.length, ONNX_FROM_TEXTS);
    // (smoke runs keep their files apart: settings.dataDir is then <data>/smoke/, where `finetune --smoke` saved)
    const dir = path.resolve(
      typeof values.model === "string" ? values.model : path.join(ctx.settings.dataDir, "review-classifier"),
    );
    if (typeof values.adapter === "string" && typeof values.model === "string")
      throw new ConfigError("Give either --model or --adapter, not both");
    if (values.weights !== undefined && typeof values.adapter !== "string")
      throw new ConfigError("--weights goes with --adapter (a --model folder holds its own weights)");
    const cacheDir = weightCacheDirFor(ctx);
    let results: Classification[] | undefined;
    if (engine === "onnx" && typeof values.adapter !== "string") {
      // Straight from the saved (or cached) arrays to ONNX Runtime: tfjs is never loaded.
      const { readClassifierArrays, savedVariant } = await import("../train/classifierFile");
      const { ArrayGpt } = await import("../model/arrayModel");
      const { OnnxClassifier } = await import("../engine/inference");
      const { readsLastToken } = await import("../model/classifierInput");
      const { arrays, config } = readClassifierArrays(dir, { cacheDir, log: ctx.log });
      const model = Object.assign(new ArrayGpt(config.gpt, arrays), savedVariant(config));
      model.trainedMaxLength = config.maxLength;
      model.padTokenId = config.padTokenId;
      // A bonus-experiment variant (another readout, no mask or no padding) is read by tfjs unless --engine onnx asks.
      if (values.engine === "onnx" || readsLastToken(model)) {
        const onnx = await OnnxClassifier.create(model);
        try {
          results = await onnx.classify(texts, undefined, { maxLength });
        } finally {
          await onnx.release();
        }
      }
    }
    if (!results) {
      await ctx.backend();
      const { loadClassifier } = await import("../train/checkpoint");
      const { classifyWithProbabilityAsync } = await import("../train/classify");
      const model =
        typeof values.adapter === "string"
          ? await (
              await import("../train/adapterClassifier")
            ).loadAdapterClassifier(path.resolve(values.adapter), {
              weights: typeof values.weights === "string" ? values.weights : "124M",
              dataDir: ctx.settings.dataDir,
              baseUrls: ctx.settings.gpt2BaseUrls,
            })
          : loadClassifier(dir, { cacheDir }).model;
      try {
        const { readsLastToken } = await import("../model/classifierInput");
        if (engine === "onnx" && (values.engine === "onnx" || readsLastToken(model))) {
          const { OnnxClassifier } = await import("../engine/inference");
          const onnx = await OnnxClassifier.create(model);
          try {
            results = await onnx.classify(texts, undefined, { maxLength });
          } finally {
            await onnx.release();
          }
        } else {
          results = [];
          for (const t of texts) results.push(await classifyWithProbabilityAsync(t, model, undefined, { maxLength }));
        }
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
