import type { CliCommand } from "./command";
import { finetuneFromOptions, finetuneSummary, FINETUNE_OPTIONS, FINETUNE_HELP } from "./finetune";

/** The book's two example texts (6.8): "spam", then "not spam". */
export const BOOK_EXAMPLES = [
  "You are a winner you have been specially selected to receive $1000 cash or a $2000 award.",
  "Hey, just wanted to check if we're still on for dinner tonight? Let me know!",
] as const;

/** `npm start` (no command): the whole chapter. */
export const chapterCommand: CliCommand = {
  name: "chapter",
  summary: "Run the whole chapter: data, weights, finetune, evaluate, classify examples",
  usage: "[--epochs N] [--max-steps N] [--trainable LAYERS] [--weights PATH_OR_SIZE] [--out DIR] [--smoke]",
  help: `Runs chapter 6 end to end: downloads and splits the SMS Spam Collection (6.2–6.3), downloads GPT-2
124M (6.4), swaps in the classification head (6.5), reports the initial accuracies and losses (6.6),
fine-tunes for 5 epochs with the book's log (6.7), prints the full-set accuracies (book: 97.21% /
97.32% / 95.67%), saves the model, metrics and plots, and classifies the book's two example texts (6.8).

${FINETUNE_HELP}`,
  options: FINETUNE_OPTIONS,
  async run(values, _positionals, ctx) {
    const r = await finetuneFromOptions(values, ctx);
    const { loadClassifier } = await import("../train/checkpoint");
    const { classifyWithProbabilityAsync } = await import("../train/classify");
    const { model } = loadClassifier(r.outDir);
    try {
      for (const text of BOOK_EXAMPLES)
        ctx.log(`${JSON.stringify(text)} → ${(await classifyWithProbabilityAsync(text, model)).label}`);
    } finally {
      model.dispose();
    }
    if (values.json) ctx.out(finetuneSummary(r));
  },
};
