import type { CliCommand } from "./command";
import { UserError } from "../errors";

/** Placeholder until its chapter issue lands. */
export const finetuneCommand: CliCommand = {
  name: "finetune",
  summary: "Fine-tune GPT-2 into a spam classifier and save it with metrics and plots",
  usage: "[--epochs N] [--trainable last-block|all|last-layer] [--weights PATH_OR_SIZE] [--out DIR]",
  help: "Not available yet in this version.",
  options: {},
  async run() {
    throw new UserError("'finetune' is not available yet in this version.");
  },
};
