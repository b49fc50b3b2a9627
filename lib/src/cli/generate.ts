import type { CliCommand } from "./command";
import { UserError } from "../errors";

/** Placeholder until its chapter issue lands. */
export const generateCommand: CliCommand = {
  name: "generate",
  summary: "Generate text greedily with GPT-2",
  usage: '"PROMPT" [--weights PATH_OR_SIZE] [--max-new-tokens 15]',
  help: "Not available yet in this version.",
  options: {},
  async run() {
    throw new UserError("'generate' is not available yet in this version.");
  },
};
