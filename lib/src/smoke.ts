/**
 * Smoke mode's offline sources: a 127.0.0.1 server with the tiny GPT-2 checkpoint in OpenAI's layout
 * that ships in `lib/assets/gpt2-tiny/` (served as size "124M", like OpenAI's URL scheme) and,
 * optionally, a local copy of the dataset zip. CI, tests and `--smoke` use it so the real download,
 * read and load code runs without internet.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { serveFiles, type StaticServer } from "./util/staticServer";

/** Folder of the tiny checkpoint that ships with the package. */
export const TINY_GPT2_DIR = path.resolve(__dirname, "..", "assets", "gpt2-tiny");

export interface SmokeServer extends StaticServer {
  /** Environment to point the downloads at this server: GPT2_BASE_URL and (with a zip) SMS_SPAM_URL. */
  readonly env: { GPT2_BASE_URL: string; SMS_SPAM_URL?: string };
}

/**
 * Starts the smoke server. `smsZip`: a local SMS Spam Collection zip to serve as
 * `/sms+spam+collection.zip` (scripts/run-notebooks.mjs passes the real dataset's zip when it has one).
 */
export async function startSmokeServer(opts: { smsZip?: string } = {}): Promise<SmokeServer> {
  const routes: Record<string, string> = { "/gpt2/models/": TINY_GPT2_DIR };
  if (opts.smsZip) {
    if (!fs.existsSync(opts.smsZip)) throw new Error(`smoke server: no such file ${opts.smsZip}`);
    routes["/sms+spam+collection.zip"] = path.resolve(opts.smsZip);
  }
  const server = await serveFiles(routes);
  return {
    ...server,
    close: server.close,
    env: {
      GPT2_BASE_URL: `${server.baseUrl}/gpt2/models`,
      ...(opts.smsZip ? { SMS_SPAM_URL: `${server.baseUrl}/sms+spam+collection.zip` } : {}),
    },
  };
}
