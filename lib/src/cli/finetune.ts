import type { CliCommand, ParsedValues, CliContext } from "./command";
import { optionalIntOption } from "./command";
import { ConfigError } from "../errors";
import { checkTrainable } from "../train/classifier";
import type { FinetuneResult, FinetuneVariant } from "../train/finetune";
import { MODEL_SIZES } from "../model/config";
import type { ReadoutKind } from "../model/gpt";
import { isModelSize } from "../weights/gpt2Files";
import { LORA_HELP, LORA_OPTIONS, loraFromOptions, promptTuningFromOptions, resolvePeftAliases } from "./peftOptions";
import { checkDataSplit } from "../data/balance";
import { checkDataset } from "./data";
import { BERT_FINETUNE_HELP, BERT_FINETUNE_OPTIONS, finetuneBertFromOptions, wantsBert } from "./finetuneBert";

export const FINETUNE_OPTIONS = {
  epochs: { type: "string" },
  "max-steps": { type: "string" },
  "trainable-layers": { type: "string" },
  trainable: { type: "string" },
  "token-position": { type: "string" },
  "average-embeddings": { type: "boolean" },
  "context-length": { type: "string" },
  "no-padding": { type: "boolean" },
  "batch-size": { type: "string" },
  "accumulation-steps": { type: "string" },
  "disable-causal-mask": { type: "boolean" },
  "ignore-index": { type: "string" },
  weights: { type: "string" },
  "model-size": { type: "string" },
  lr: { type: "string" },
  "weight-decay": { type: "string" },
  out: { type: "string" },
  path: { type: "string" },
  split: { type: "string" },
  dataset: { type: "string" },
  ...LORA_OPTIONS,
  ...BERT_FINETUNE_OPTIONS,
} as const;

export const FINETUNE_HELP = `Options:
  --epochs N                 training epochs (default 5, the book's, or 1 for imdb; short ones with --smoke)
  --max-steps N              stop after N optimizer steps, then evaluate and save as usual (a quick check
                             of a configuration on the real model sizes; default: the whole schedule)
  --out DIR                  where the classifier, metrics.json, log.txt and the plots go
                             (default <data>/review-classifier)
  --dataset sms|imdb         sms (default): the chapter's SMS messages; imdb: the IMDb bonus's movie reviews
                             (ch06/03 train_gpt.py: 35,000 / 5,000 / 10,000 reviews, --context-length 256
                             unless given, 1 epoch, evaluations over 20 batches; output <data>/imdb-classifier)
  --split chapter|bonus      the data split: the chapter's (default) or the bonus experiments script's
                             (one more shuffle before the same 70/10/20 split; CSVs in <data>/bonus-split)
  --path auto|plain|fast|native
                             auto (default): the fastest exact path for the configuration: fast (the frozen
                             embeddings and leading blocks cached; the trainable blocks after them or the head
                             only, any readout), else native (every layer, forward and backward, on ONNX
                             Runtime: any layers, readout or mask), else plain (every layer every step, like
                             the book's loop; it also takes --no-padding's texts of every length beyond the
                             fast path's configurations)

The bonus experiments' variants (ch06/02_bonus_additional-experiments, additional_experiments.py; its flag
in brackets):
  --trainable-layers LAYERS  last-block (default, the book's), last-two-blocks, all, last-layer (head only)
                             [--trainable_layers]; --trainable is the same; also lora (appendix E: LoRA
                             adapters on every Linear layer) or prompt-tuning (a soft prompt): see below
  --token-position POS       last (default), first, or flexible (the last real token before the padding)
                             [--trainable_token_pos]
  --average-embeddings       the mean of the outputs over every position instead of one
                             [--average_embeddings]
  --context-length L         longest (default: the longest training text; validation and test padded or
                             truncated to it), model (the model's context, 1024) or a number of tokens
                             [--context_length longest_training_example|model_context_length|N]
  --no-padding               each text at its own length; needs --batch-size 1 [--no_padding]
  --batch-size N             texts per batch (default 8) [--batch_size]
  --accumulation-steps N     divide the loss by N and step every N batches and after each epoch (default 1)
                             [--accumulation_steps]
  --disable-causal-mask      every position attends to every other [--disable_causal_mask]
  --ignore-index N           the cross-entropy's ignore_index (default -100; a no-op for labels 0/1 unless
                             0 or 1; the book's script parses it but never passes it on) [--ignore_index]
  --weights W                pretrained (default) or random (PyTorch's default initialisation, seed 123)
                             [--weights]; or the GPT-2 to start from: a size (124M, 355M, 774M, 1558M;
                             downloaded), an OpenAI checkpoint folder or a Hugging Face model folder
  --model-size SIZE          124M (default), 355M, 774M or 1558M, for pretrained or random weights
                             [--model_size "gpt2-small (124M)"…]
  --lr X                     AdamW learning rate (default 5e-5, the book's)
  --weight-decay X           AdamW weight decay (default 0.1, the book's)

${LORA_HELP}`;

/** A positive (or, with `allowZero`, non-negative) finite number option. */
function numberOption(values: ParsedValues, name: string, allowZero = false): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
  if (!(Number.isFinite(n) && (n > 0 || (allowZero && n === 0))))
    throw new ConfigError(
      `--${name} must be a ${allowZero ? "non-negative" : "positive"} number, got "${String(raw)}"`,
    );
  return n;
}

/** The variant of the bonus experiments from the CLI flags (checked again by resolveFinetuneVariant). */
export function variantFromOptions(
  values: ParsedValues,
  opts: { peft?: boolean } = {},
): FinetuneVariant & { weights: string } {
  const str = (k: string): string | undefined => {
    const raw = values[k];
    return typeof raw === "string" ? raw : undefined;
  };
  const layers = str("trainable-layers"),
    alias = str("trainable");
  if (layers !== undefined && alias !== undefined && layers !== alias)
    throw new ConfigError(`--trainable-layers "${layers}" and --trainable "${alias}" disagree; give one`);
  // LoRA and prompt tuning choose their own trainable set (peftOptions.ts).
  const trainable = opts.peft ? undefined : checkTrainable(layers ?? alias ?? "last-block");
  const position = str("token-position");
  if (position !== undefined && !["last", "first", "flexible"].includes(position))
    throw new ConfigError(`--token-position must be last, first or flexible, got "${position}"`);
  if (values["average-embeddings"] && position !== undefined && position !== "last")
    throw new ConfigError(
      `--average-embeddings averages every position; it cannot be combined with --token-position ${position}`,
    );
  const readout: ReadoutKind = values["average-embeddings"] ? "mean" : ((position ?? "last") as ReadoutKind);
  const ctx = str("context-length");
  let contextLength: FinetuneVariant["contextLength"];
  if (ctx === undefined) contextLength = undefined;
  else if (["longest", "longest_training_example", "longest-training-example"].includes(ctx)) contextLength = "longest";
  else if (["model", "model_context_length", "model-context-length"].includes(ctx)) contextLength = "model";
  else contextLength = optionalIntOption(values, "context-length", 1);
  const w = str("weights"),
    size = str("model-size");
  if (w === "") throw new ConfigError("--weights needs pretrained, random, a size (124M, …) or a path");
  if (size !== undefined && !isModelSize(size))
    throw new ConfigError(`--model-size must be one of ${Object.values(MODEL_SIZES).join(", ")}, got "${size}"`);
  const mode = w === "random" ? "random" : "pretrained";
  if (size !== undefined && w !== undefined && w !== "random" && w !== "pretrained" && w !== size)
    throw new ConfigError(`--model-size ${size} and --weights ${w} disagree; give the size once`);
  const weights = w === undefined || w === "random" || w === "pretrained" ? (size ?? "124M") : w;
  return {
    weights,
    trainable,
    readout,
    contextLength,
    padding: values["no-padding"] ? false : undefined,
    batchSize: optionalIntOption(values, "batch-size", 1, 1_000_000),
    accumulationSteps: optionalIntOption(values, "accumulation-steps", 1, 1_000_000),
    causalMask: values["disable-causal-mask"] ? false : undefined,
    ignoreIndex: optionalIntOption(values, "ignore-index", -(2 ** 31), 2 ** 31 - 1),
    initWeights: mode,
    lr: numberOption(values, "lr"),
    weightDecay: numberOption(values, "weight-decay", true),
  };
}

/**
 * Runs the fine-tuning from parsed options (shared by `finetune` and `chapter`). Ctrl-C ends the process
 * (main.ts); the classifier and its files are written only after training, each atomically.
 */
export async function finetuneFromOptions(given: ParsedValues, ctx: CliContext): Promise<FinetuneResult> {
  const values = resolvePeftAliases(given);
  for (const k of Object.keys(BERT_FINETUNE_OPTIONS))
    if (values[k] !== undefined)
      throw new ConfigError(
        k === "model"
          ? "--model (BERT) is for `npm start -- finetune`; GPT-2 is chosen with --weights"
          : `--${k} goes with --model (BERT); see npm start -- finetune --help`,
      );
  // Loaded here, not at CLI start: `--help` and the other commands need no tfjs.
  const { finetuneClassifier, resolveFinetuneVariant } = await import("../train/finetune");
  const smoke = ctx.settings.smoke;
  const epochs = optionalIntOption(values, "epochs", 1, 1000);
  const maxSteps = optionalIntOption(values, "max-steps", 1);
  const method = typeof values["trainable-layers"] === "string" ? values["trainable-layers"] : values.trainable;
  const lora = loraFromOptions(values, typeof method === "string" ? method : undefined);
  const promptTuning = promptTuningFromOptions(values, typeof method === "string" ? method : undefined);
  const { weights, ...variant } = variantFromOptions(values, {
    peft: lora !== undefined || promptTuning !== undefined,
  });
  resolveFinetuneVariant(variant); // every option checked before any work
  const p = typeof values.path === "string" ? values.path : "auto";
  if (!["auto", "plain", "fast", "native"].includes(p))
    throw new ConfigError(`--path must be auto, plain, fast or native, got "${p}"`);
  const dataset = checkDataset(typeof values.dataset === "string" ? values.dataset : undefined);
  const split = typeof values.split === "string" ? checkDataSplit(values.split) : undefined;
  await ctx.backend();
  return finetuneClassifier(ctx.settings, {
    ...variant,
    weights,
    epochs,
    maxSteps,
    lora,
    promptTuning,
    split,
    dataset,
    smoke,
    outDir: typeof values.out === "string" ? values.out : undefined,
    path: p as "auto" | "plain" | "fast" | "native",
    log: ctx.log,
  });
}

/** Machine-readable summary for --json. */
export function finetuneSummary(r: FinetuneResult): string {
  return JSON.stringify({
    outDir: r.outDir,
    initial: r.initial,
    final: r.final,
    minutes: r.train.minutes,
    steps: r.train.steps,
    runner: r.runner,
    log: r.train.logLines,
  });
}

/** `npm start -- finetune`: sections 6.5–6.7 end to end. */
export const finetuneCommand: CliCommand = {
  name: "finetune",
  summary: "Fine-tune GPT-2 into a spam classifier and save it with metrics and plots",
  usage:
    "[--model bert-base-uncased|DIR --dataset imdb [--trainer-args K=V,…] [--method prompt-tuning] [--max-length N] [--resume]] [--epochs N] [--max-steps N] [--trainable-layers last-block|last-two-blocks|all|last-layer|lora|prompt-tuning] [--token-position last|first|flexible] [--average-embeddings] [--context-length longest|model|N] [--no-padding] [--batch-size N] [--accumulation-steps N] [--disable-causal-mask] [--ignore-index N] [--weights pretrained|random|PATH_OR_SIZE] [--model-size SIZE] [--lr X] [--weight-decay X] [--lora-rank R --lora-alpha A --lora-scaling alpha-over-rank|alpha] [--split chapter|bonus] [--dataset sms|imdb] [--out DIR] [--path auto|plain|fast|native] [--smoke]",
  help: `Prepares the data (if needed), loads GPT-2, swaps in a 2-class head, trains with AdamW (lr 5e-5,
weight decay 0.1, batch 8) printing the book's log lines, reports full-set accuracies and saves the
classifier (model.safetensors + config.json), metrics.json, log.txt and the loss/accuracy plots
(HTML, and PNG when Chromium is installed). The options of the chapter's bonus experiments choose a
variant (e.g. row 4: --trainable-layers last-two-blocks; row 15: --no-padding --batch-size 1
--accumulation-steps 8); config.json's info and metrics.json record it.

With --model it fine-tunes BERT on the IMDb reviews as the fine-tuning chapter does (below).

${FINETUNE_HELP}

${BERT_FINETUNE_HELP}`,
  options: FINETUNE_OPTIONS,
  async run(given, _positionals, ctx) {
    const values = resolvePeftAliases(given);
    if (wantsBert(values)) {
      const r = await finetuneBertFromOptions(values, ctx);
      if (values.json) ctx.out(JSON.stringify(r));
      return;
    }
    const r = await finetuneFromOptions(values, ctx);
    if (values.json) ctx.out(finetuneSummary(r));
  },
};
