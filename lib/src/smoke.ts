/**
 * A 127.0.0.1 server for the files that ship in the package: the tiny GPT-2 checkpoint in OpenAI's layout
 * (served as size "124M", like OpenAI's URL scheme) and the SMS Spam Collection copy. Tests use it so the
 * real HTTP download code runs without internet. (Smoke mode itself needs no server: `getSettings` points
 * it at the same files through `file://` URLs.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { serveFiles, type StaticServer } from "./util/staticServer";
import { SMS_SPAM_ZIP, TINY_GPT2_DIR } from "./assets";

export { SMS_SPAM_ZIP, TINY_GPT2_DIR } from "./assets";

export interface SmokeServer extends StaticServer {
  /** Environment that points the downloads at this server: GPT2_BASE_URL and SMS_SPAM_URL. */
  readonly env: { GPT2_BASE_URL: string; SMS_SPAM_URL: string };
}

/**
 * Starts the server: `/gpt2/models/124M/<file>` and `/sms+spam+collection.zip`.
 * @param opts.smsZip another dataset zip to serve instead of the package's copy.
 */
export async function startSmokeServer(opts: { smsZip?: string } = {}): Promise<SmokeServer> {
  const zip = path.resolve(opts.smsZip ?? SMS_SPAM_ZIP);
  if (!fs.existsSync(zip)) throw new Error(`smoke server: no such file ${zip}`);
  const server = await serveFiles({ "/gpt2/models/": TINY_GPT2_DIR, "/sms+spam+collection.zip": zip });
  return {
    ...server,
    close: server.close,
    env: { GPT2_BASE_URL: `${server.baseUrl}/gpt2/models`, SMS_SPAM_URL: `${server.baseUrl}/sms+spam+collection.zip` },
  };
}
