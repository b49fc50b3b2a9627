import type { CliCommand } from "./command";
import { UserError } from "../errors";

/** Placeholder until its chapter issue lands. */
export const dataCommand: CliCommand = {
  name: "data",
  summary: "Download the SMS Spam Collection, balance it and write train/validation/test CSVs",
  usage: "[--out DIR]",
  help: "Not available yet in this version.",
  options: {},
  async run() {
    throw new UserError("'data' is not available yet in this version.");
  },
};
