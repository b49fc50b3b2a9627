#!/usr/bin/env node
/**
 * The chapter's command line (`npm start -- <command>`), like the book's gpt_class_finetune.py:
 * thin commands over the library's functions. Without a command it runs the whole chapter.
 */
import { isUserError, ConfigError } from "../errors";
import { parseCommandArgs, makeContext, COMMON_HELP, type CliCommand } from "./command";
import { COMMANDS } from "./commands";

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `GPT-2 spam classifier: chapter 6 of "Build a Large Language Model (From Scratch)" in TypeScript.

Usage: npm start -- [command] [options]     (or: llm-spam [command] [options])

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Without a command, "chapter" runs: data → weights → finetune → final accuracies → classify examples.
Run "npm start -- <command> --help" for a command's options.

${COMMON_HELP}`;
}

function commandHelp(cmd: CliCommand): string {
  return `Usage: npm start -- ${cmd.name} ${cmd.usage}\n\n${cmd.summary}\n\n${cmd.help.trim()}\n\n${COMMON_HELP}`;
}

/** Runs the CLI on argv (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === "--help" || first === "-h" || first === "help") {
    const named = argv[1] && COMMANDS.find((c) => c.name === argv[1]);
    process.stdout.write((named ? commandHelp(named) : topHelp()) + "\n");
    return 0;
  }
  const explicit = first !== undefined && !first.startsWith("-");
  const cmd = explicit ? COMMANDS.find((c) => c.name === first) : COMMANDS.find((c) => c.name === "chapter");
  try {
    if (!cmd)
      throw new ConfigError(
        `Unknown command "${first}". Commands: ${COMMANDS.map((c) => c.name).join(", ")}. See: npm start -- --help`,
      );
    const { values, positionals } = parseCommandArgs(cmd, explicit ? argv.slice(1) : argv);
    if (values.help) {
      process.stdout.write(commandHelp(cmd) + "\n");
      return 0;
    }
    const code = await cmd.run(values, positionals, makeContext(values));
    return code ?? 0;
  } catch (err) {
    if (isUserError(err)) {
      process.stderr.write(`error: ${err.message}\n`);
      return err instanceof ConfigError ? 2 : 1;
    }
    throw err;
  }
}

if (require.main === module) {
  // `npm start -- weights inspect X | head`: a closed pipe is not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  process.on("SIGINT", () => {
    if (process.listenerCount("SIGINT") > 1) return; // a command that stops on its own (serve) handles it
    // Every file we write is written atomically, so stopping here leaves no half-written file.
    process.stderr.write("\nInterrupted; nothing half-written was kept.\n");
    process.exit(130);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
