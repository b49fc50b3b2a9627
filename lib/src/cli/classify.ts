import * as path from "node:path";
import type { CliCommand } from "./command";
import { ConfigError } from "../errors";
import { loadClassifier } from "../train/checkpoint";
import { classifyWithProbability } from "../train/classify";

/** `npm start -- classify "TEXT"`: section 6.8. */
export const classifyCommand: CliCommand = {
  name: "classify",
  summary: "Classify a text as spam or not spam with a fine-tuned model",
  usage: '"TEXT" [--model DIR] [--max-length N] [--json]',
  help: `Prints "spam" or "not spam" for TEXT, using the classifier saved by \`finetune\`.

Options:
  --model DIR        the fine-tuned classifier folder (default <data>/review-classifier)
  --max-length N     pad/truncate length (default: the length it was trained with, 120 in the book)
  --json             print {"label", "spamProbability"}`,
  options: { model: { type: "string" }, "max-length": { type: "string" } },
  async run(values, positionals, ctx) {
    const text = positionals.join(" ");
    if (!text.trim()) throw new ConfigError('classify needs a text, e.g. npm start -- classify "You won a prize!"');
    const dir = path.resolve(typeof values.model === "string" ? values.model : path.join(ctx.settings.dataDir, "review-classifier"));
    const maxLength = values["max-length"] === undefined ? undefined : Number(values["max-length"]);
    if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength > 0)) throw new ConfigError(`--max-length must be a positive integer, got "${String(values["max-length"])}"`);
    await ctx.backend();
    const { model } = loadClassifier(dir);
    try {
      const r = classifyWithProbability(text, model, undefined, { maxLength });
      if (values.json) ctx.out(JSON.stringify(r)); else ctx.log(r.label);
    } finally {
      model.dispose();
    }
  },
};
