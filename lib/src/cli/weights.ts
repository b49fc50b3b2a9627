import type { CliCommand } from "./command";
import { UserError } from "../errors";

/** Placeholder until its chapter issue lands. */
export const weightsCommand: CliCommand = {
  name: "weights",
  summary: "Download GPT-2 weights (weights download) or list a checkpoint's tensors (weights inspect)",
  usage: "download --size 124M | inspect PATH [--sha256]",
  help: "Not available yet in this version.",
  options: {},
  async run() {
    throw new UserError("'weights' is not available yet in this version.");
  },
};
