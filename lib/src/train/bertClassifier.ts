/**
 * A saved BERT classifier for `classify`: a folder `finetuneBert` wrote (config.json with `model_type: "bert"` and
 * its labels, model.safetensors, the tokenizer's files, tokenizer_config.json's `model_max_length`, and for prompt
 * tuning prompt_embeddings.safetensors), or a prompt alone put in front of a pretrained BERT (the chapter's
 * `PromptTunedBERTInference`). Texts run on ONNX Runtime (createBertEvalRunner); the answer is the chapter's
 * `{ prediction, confidence }` with the label's name.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BertTokenizer } from "../bertTokenizer";
import { createBertEvalRunner } from "../engine/trainers/bertRunner";
import type { ClassifierRunner } from "../engine/trainers/runnerTypes";
import { ConfigError } from "../errors";
import type { BertModel } from "../model/bertModel";
import { loadBertModel, loadPretrainedBert, type PretrainedBertOptions } from "../weights/bertWeights";
import { loadBertPrompt, type BertPrediction } from "./bertPromptTuning";
import { BERT_PROMPT_FILE } from "./bertFinetune";

/** A prediction with its class name (config.json's id2label, else the class id). */
export interface BertClassification extends BertPrediction {
  label: string;
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Whether `dir` holds a BERT (config.json's model_type "bert"). */
export function isBertFolder(dir: string): boolean {
  return readJson(path.join(dir, "config.json"))?.model_type === "bert";
}

/** A BERT classifier ready to classify texts. Create with `loadBertClassifier` or `loadBertWithPrompt`; `release()` it. */
export class BertTextClassifier {
  private constructor(
    readonly model: BertModel,
    readonly tokenizer: BertTokenizer,
    /** Tokens per input, a prompt included. */
    readonly maxLength: number,
    readonly labels: readonly string[],
    private readonly runner: ClassifierRunner,
  ) {}

  static async create(
    model: BertModel,
    tokenizer: BertTokenizer,
    maxLength: number,
    labels: readonly string[],
    opts: { threads?: number } = {},
  ): Promise<BertTextClassifier> {
    const n = model.promptLength;
    if (!(Number.isInteger(maxLength) && maxLength - n >= 2 && maxLength <= model.cfg.maxPositionEmbeddings))
      throw new ConfigError(
        `maxLength ${maxLength} must leave room for [CLS], [SEP] and ${n} virtual tokens, within ${model.cfg.maxPositionEmbeddings} positions`,
      );
    const runner = await createBertEvalRunner(model, opts);
    return new BertTextClassifier(model, tokenizer, maxLength, labels, runner);
  }

  /** Each text's class, its softmax probability and every class's (truncated to maxLength − prompt, as trained). */
  async classify(texts: readonly string[]): Promise<BertClassification[]> {
    if (texts.some((t) => t.trim() === "")) throw new ConfigError("Cannot classify an empty text");
    const enc = this.tokenizer.encodeBatch(texts, {
      maxLength: this.maxLength - this.model.promptLength,
      padding: "longest",
    });
    const logits = await this.runner.logits({
      inputIds: enc.inputIds,
      labels: new Int32Array(enc.batchSize).fill(-100),
      indices: texts.map((_, i) => i),
      batchSize: enc.batchSize,
      seqLen: enc.seqLen,
    });
    const C = logits.length / texts.length;
    return texts.map((_, i) => {
      const row = Array.from(logits.subarray(i * C, (i + 1) * C));
      const max = Math.max(...row);
      const exps = row.map((v) => Math.exp(v - max));
      const sum = exps.reduce((a, v) => a + v, 0);
      const probabilities = exps.map((v) => v / sum);
      const prediction = probabilities.indexOf(Math.max(...probabilities));
      return {
        label: this.labels[prediction] ?? String(prediction),
        prediction,
        confidence: probabilities[prediction],
        probabilities,
      };
    });
  }

  /** Frees the runner and the model. */
  async release(): Promise<void> {
    await this.runner.finish();
    this.model.dispose();
  }
}

function labelsOf(config: Record<string, unknown> | undefined, numLabels: number): string[] {
  const id2label = (config?.id2label ?? {}) as Record<string, string>;
  return Array.from({ length: numLabels }, (_, i) => id2label[String(i)] ?? String(i));
}

/**
 * Loads a classifier folder written by `finetuneBert` (or any Hugging Face BERT classifier folder with its head).
 * @param opts.maxLength tokens per input (default tokenizer_config.json's model_max_length, else 512)
 * @throws ConfigError for a folder that is not a BERT; DataFormatError for bad files
 */
export async function loadBertClassifier(
  dir: string,
  opts: { maxLength?: number; threads?: number } = {},
): Promise<BertTextClassifier> {
  if (!isBertFolder(dir))
    throw new ConfigError(`${dir} is not a BERT classifier folder (config.json with model_type "bert")`);
  const { model } = loadBertModel(dir, { missingHead: "error" });
  try {
    const prompt = path.join(dir, BERT_PROMPT_FILE);
    if (fs.existsSync(prompt)) loadBertPrompt(prompt, model);
    const tokConfig = readJson(path.join(dir, "tokenizer_config.json"));
    const saved = Number(tokConfig?.model_max_length);
    const maxLength = opts.maxLength ?? Math.min(model.cfg.maxPositionEmbeddings, saved > 0 ? saved : 512);
    const labels = labelsOf(readJson(path.join(dir, "config.json")), model.cfg.numLabels);
    return await BertTextClassifier.create(model, BertTokenizer.fromDir(dir), maxLength, labels, opts);
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * The chapter's `PromptTunedBERTInference`: a saved prompt (`savePrompt`'s file) in front of a pretrained BERT whose
 * new head is drawn as in training (loadPretrainedBert's seeded head), labels IMDb's.
 * @throws ConfigError, DataFormatError, ShapeMismatchError, DownloadError
 */
export async function loadBertWithPrompt(
  promptFile: string,
  opts: PretrainedBertOptions & { maxLength?: number; threads?: number; labels?: readonly string[] } = {},
): Promise<BertTextClassifier> {
  if (!fs.existsSync(promptFile)) throw new ConfigError(`${promptFile} not found`);
  const { model, tokenizer } = await loadPretrainedBert(opts);
  try {
    loadBertPrompt(promptFile, model);
    const maxLength = opts.maxLength ?? Math.min(512, model.cfg.maxPositionEmbeddings);
    return await BertTextClassifier.create(model, tokenizer, maxLength, opts.labels ?? ["negative", "positive"], opts);
  } catch (err) {
    model.dispose();
    throw err;
  }
}
