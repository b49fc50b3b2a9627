import type { CliCommand, ParsedValues, CliContext } from "./command";
import { optionalIntOption } from "./command";
import { ConfigError } from "../errors";
import { checkTrainable } from "../train/classifier";
import { checkDataSplit } from "../data/balance";
import { finetuneClassifier, type FinetuneResult } from "../train/finetune";

export const FINETUNE_OPTIONS = {
  epochs: { type: "string" },
  "max-steps": { type: "string" },
  trainable: { type: "string" },
  weights: { type: "string" },
  out: { type: "string" },
  path: { type: "string" },
  split: { type: "string" },
} as const;

export const FINETUNE_HELP = `Options:
  --epochs N                 training epochs (default 5, the book's; 2 short ones with --smoke)
  --max-steps N              stop after N optimizer steps, then evaluate and save as usual (a quick check
                             of a configuration on the real model sizes; default: the whole schedule)
  --trainable LAYERS         last-block (default, the book's), all, or last-layer (head only)
  --weights PATH_OR_SIZE     GPT-2 to start from: a size (124M, 355M, 774M, 1558M; downloaded), an OpenAI
                             checkpoint folder or a Hugging Face model folder (default 124M)
  --out DIR                  where the classifier, metrics.json, log.txt and the plots go
                             (default <data>/review-classifier)
  --split chapter|bonus      the data split: the chapter's (default) or the bonus experiments script's
                             (one more shuffle before the same 70/10/20 split; CSVs in <data>/bonus-split)
  --path auto|plain|fast|native
                             auto (default): the exact fast path when available and the frozen layers
                             allow it, else native; plain: every layer every step, like the book's loop
                             (the frozen layers' forward pass on ONNX Runtime when it loads;
                             ONNX_DISABLE=1 keeps every layer in tfjs); native: every layer, forward and
                             backward, on ONNX Runtime (any trainable layers, e.g. --trainable all)`;

/**
 * Runs the fine-tuning from parsed options (shared by `finetune` and `chapter`). Ctrl-C ends the process
 * (main.ts); the classifier and its files are written only after training, each atomically.
 */
export async function finetuneFromOptions(values: ParsedValues, ctx: CliContext): Promise<FinetuneResult> {
  const smoke = ctx.settings.smoke;
  const epochs = optionalIntOption(values, "epochs", 1, 1000);
  const maxSteps = optionalIntOption(values, "max-steps", 1);
  const trainable = checkTrainable(typeof values.trainable === "string" ? values.trainable : "last-block");
  const p = typeof values.path === "string" ? values.path : "auto";
  if (!["auto", "plain", "fast", "native"].includes(p))
    throw new ConfigError(`--path must be auto, plain, fast or native, got "${p}"`);
  const split = checkDataSplit(typeof values.split === "string" ? values.split : "chapter");
  if (values.weights === "") throw new ConfigError("--weights needs a size (124M, …) or a path");
  await ctx.backend();
  return finetuneClassifier(ctx.settings, {
    weights: typeof values.weights === "string" ? values.weights : "124M",
    epochs,
    maxSteps,
    trainable,
    split,
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
    "[--epochs N] [--max-steps N] [--trainable last-block|all|last-layer] [--weights PATH_OR_SIZE] [--split chapter|bonus] [--out DIR] [--smoke]",
  help: `Prepares the data (if needed), loads GPT-2, swaps in a 2-class head, trains with AdamW (lr 5e-5,
weight decay 0.1, batch 8) printing the book's log lines, reports full-set accuracies and saves the
classifier (model.safetensors + config.json), metrics.json, log.txt and the loss/accuracy plots
(HTML, and PNG when Chromium is installed).

${FINETUNE_HELP}`,
  options: FINETUNE_OPTIONS,
  async run(values, _positionals, ctx) {
    const r = await finetuneFromOptions(values, ctx);
    if (values.json) ctx.out(finetuneSummary(r));
  },
};
