import * as path from "node:path";
import type { CliCommand } from "./command";
import { ConfigError } from "../errors";
import { loadClassifier } from "../train/checkpoint";
import { classifyWithProbability } from "../train/classify";
import { withSmokeSources } from "./smokeSources";

/** `npm start -- classify "TEXT"`: section 6.8. */
export const classifyCommand: CliCommand = {
  name: "classify",
  summary: "Classify a text as spam or not spam with a fine-tuned model",
  usage: '"TEXT" [--model DIR] [--max-length N] [--json]',
  help: `Prints "spam" or "not spam" for TEXT, using the classifier saved by \`finetune\`.

Options:
  --model DIR        the fine-tuned classifier folder (default <data>/review-classifier;
                     with --smoke the one \`finetune --smoke\` wrote)
  --max-length N     pad/truncate length (default: the length it was trained with, 120 in the book)
  --json             print {"label", "spamProbability"}`,
  options: { model: { type: "string" }, "max-length": { type: "string" } },
  async run(values, positionals, ctx) {
    const text = positionals.join(" ");
    if (!text.trim()) throw new ConfigError('classify needs a text, e.g. npm start -- classify "You won a prize!"');
    const raw = values["max-length"];
    const maxLength = raw === undefined ? undefined : Number(raw);
    if (maxLength !== undefined && !(typeof raw === "string" && Number.isInteger(maxLength) && maxLength > 0)) {
      throw new ConfigError(`--max-length must be a positive integer, got "${String(raw)}"`);
    }
    await ctx.backend();
    // (smoke runs keep their files apart, in <data>/smoke/: withSmokeSources gives the same folder as `finetune --smoke`)
    const dir = await withSmokeSources(ctx, async (settings) => path.resolve(typeof values.model === "string" ? values.model : path.join(settings.dataDir, "review-classifier")));
    const { model } = loadClassifier(dir);
    try {
      const r = classifyWithProbability(text, model, undefined, { maxLength });
      if (values.json) ctx.out(JSON.stringify(r)); else ctx.log(r.label);
    } finally {
      model.dispose();
    }
  },
};
