/** The CLI's commands, in the order `--help` lists them. Each lives in its own file. */
import type { CliCommand } from "./command";
import { chapterCommand } from "./chapter";
import { dataCommand } from "./data";
import { weightsCommand } from "./weights";
import { generateCommand } from "./generate";
import { finetuneCommand } from "./finetune";
import { experimentsCommand } from "./experiments";
import { classifyCommand } from "./classify";
import { serveCommand } from "./serve";
import { infoCommand } from "./info";

export const COMMANDS: readonly CliCommand[] = [
  chapterCommand,
  dataCommand,
  weightsCommand,
  generateCommand,
  finetuneCommand,
  experimentsCommand,
  classifyCommand,
  serveCommand,
  infoCommand,
];
