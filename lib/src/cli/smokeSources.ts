import * as path from "node:path";
import type { CliContext } from "./command";
import type { Settings } from "../config";
import { startSmokeServer } from "../smoke";

/**
 * In smoke mode without GPT2_BASE_URL, serves the tiny checkpoint that ships with the package from
 * 127.0.0.1 for the duration of `fn`, so `--smoke` works offline through the real download code.
 * Everything of such a run lands in `<data>/smoke/`, so the tiny "124M" files never sit where the
 * real GPT-2 124M goes (a later offline run would otherwise take them as up to date).
 */
export async function withSmokeSources<T>(ctx: CliContext, fn: (settings: Settings) => Promise<T>): Promise<T> {
  const s = ctx.settings;
  const usesDefault = s.gpt2BaseUrls.length === 2; // no GPT2_BASE_URL given
  if (!s.smoke || !usesDefault) return fn(s);
  const server = await startSmokeServer();
  try {
    const dataDir = path.join(s.dataDir, "smoke");
    ctx.log(`Smoke mode: tiny GPT-2 served from ${server.env.GPT2_BASE_URL}; files go to ${dataDir}`);
    return await fn({ ...s, dataDir, gpt2BaseUrls: [server.env.GPT2_BASE_URL] });
  } finally {
    await server.close();
  }
}
