import type { CliCommand } from "./command";
import { UserError } from "../errors";

/** Placeholder until its chapter issue lands. */
export const classifyCommand: CliCommand = {
  name: "classify",
  summary: "Classify a text as spam or not spam with a fine-tuned model",
  usage: '"TEXT" [--model DIR]',
  help: "Not available yet in this version.",
  options: {},
  async run() {
    throw new UserError("'classify' is not available yet in this version.");
  },
};
