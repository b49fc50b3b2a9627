import type { CliContext } from "./command";
import type { Settings } from "../config";
import { startSmokeServer } from "../smoke";

/**
 * In smoke mode without GPT2_BASE_URL, serves the tiny checkpoint that ships with the package from
 * 127.0.0.1 for the duration of `fn`, so `--smoke` works offline through the real download code.
 */
export async function withSmokeSources<T>(ctx: CliContext, fn: (settings: Settings) => Promise<T>): Promise<T> {
  const s = ctx.settings;
  const usesDefault = s.gpt2BaseUrls.length === 2; // no GPT2_BASE_URL given
  if (!s.smoke || !usesDefault) return fn(s);
  const server = await startSmokeServer();
  try {
    ctx.log(`Smoke mode: tiny GPT-2 served from ${server.env.GPT2_BASE_URL}`);
    return await fn({ ...s, gpt2BaseUrls: [server.env.GPT2_BASE_URL] });
  } finally {
    await server.close();
  }
}
