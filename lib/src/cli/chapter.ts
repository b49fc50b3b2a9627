import type { CliCommand } from "./command";
import { UserError } from "../errors";

/** Placeholder until its chapter issue lands. */
export const chapterCommand: CliCommand = {
  name: "chapter",
  summary: "Run the whole chapter: data, weights, finetune, evaluate, classify examples",
  usage: "[--epochs N] [--weights PATH_OR_SIZE] [--out DIR]",
  help: "Not available yet in this version.",
  options: {},
  async run() {
    throw new UserError("'chapter' is not available yet in this version.");
  },
};
