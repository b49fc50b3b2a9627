/**
 * Robust file download used for the dataset and the GPT-2 files: several URLs tried in order
 * (the book's primary URL, then its backup), retries on network errors and 5xx, an idle timeout,
 * a progress bar, resume of an interrupted download (HTTP Range), and an atomic rename: the
 * target file appears only when complete. `file://` URLs and plain paths are copied.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { DownloadError } from "../errors";
import { createProgress, ProgressOptions } from "./progress";

export interface DownloadOptions {
  /** Abort when no byte arrives for this long (ms). Default 60 000, as the book's `timeout=60`. */
  timeoutMs?: number;
  /** Extra attempts per URL after a network error or HTTP 5xx. Default 2. */
  retries?: number;
  /** Base delay between attempts (ms), doubled each time. Default 500. */
  retryDelayMs?: number;
  /** Progress bar label; defaults to the file name. */
  label?: string;
  /**
   * The progress bar (util/progress: an HTML bar updated in place in a tslab notebook, text elsewhere):
   * `false` hides it; an object sets where it draws.
   */
  progress?: boolean | Pick<ProgressOptions, "stream" | "display" | "throttleMs" | "onUpdate">;
  /** Keep a `.part` file after a failure and continue it next time with a Range request. Default true. */
  resume?: boolean;
  /** Appended to the error when every URL fails: what the user can do (e.g. which variable to set). */
  hint?: string;
  /** Called with messages such as "Primary URL failed, trying backup". */
  log?: (line: string) => void;
}

export interface DownloadResult {
  /** The URL that worked. */
  url: string;
  /** Size of the final file in bytes. */
  bytes: number;
  /** True when a partial download was continued. */
  resumed: boolean;
}

/** Thrown for an HTTP status; 4xx are not retried. */
class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`HTTP ${status} from ${url}`);
  }
}

function describe(err: unknown): string {
  if (err instanceof HttpStatusError) return `HTTP ${err.status}`;
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ""}`;
    if (cause?.message) return `${err.message} (${cause.message})`;
    return err.message;
  }
  return String(err);
}

function isLocal(url: string): boolean {
  return url.startsWith("file://") || !/^[a-z][a-z0-9+.-]*:\/\//i.test(url);
}

async function copyLocal(url: string, part: string): Promise<void> {
  const src = url.startsWith("file://") ? fileURLToPath(url) : path.resolve(url);
  if (!fs.existsSync(src)) throw new Error(`no such file: ${src}`);
  await fs.promises.copyFile(src, part);
}

/** Downloads one URL into `part`, continuing it if it exists. Returns whether it resumed. */
async function fetchInto(url: string, part: string, opts: DownloadOptions, label: string): Promise<boolean> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const have = opts.resume !== false && fs.existsSync(part) ? fs.statSync(part).size : 0;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(new Error(`no data for ${timeoutMs / 1000}s (timeout)`)), timeoutMs);
  const kick = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${timeoutMs / 1000}s (timeout)`)), timeoutMs);
  };
  try {
    const res = await fetch(url, { signal: controller.signal, headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
    if (res.status === 416 && have > 0) {
      // The part file is already complete (or larger than the remote file): start over.
      fs.rmSync(part, { force: true });
      await res.body?.cancel();
      return fetchInto(url, part, { ...opts, resume: false }, label);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new HttpStatusError(res.status, url);
    }
    const resumed = res.status === 206 && have > 0;
    const length = Number(res.headers.get("content-length") ?? NaN);
    const total = Number.isFinite(length) ? length + (resumed ? have : 0) : undefined;
    const bar =
      opts.progress === false
        ? undefined
        : createProgress({
            label,
            total,
            unit: "bytes",
            ...(typeof opts.progress === "object" ? opts.progress : {}),
          });
    const out = fs.createWriteStream(part, { flags: resumed ? "a" : "w" });
    let written = resumed ? have : 0;
    bar?.update(written);
    try {
      if (!res.body) throw new Error("empty response body");
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        kick();
        if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
        written += chunk.length;
        bar?.update(written);
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      bar?.finish();
    }
    if (total !== undefined && written !== total) {
      throw new Error(`connection closed after ${written} of ${total} bytes`);
    }
    return resumed;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Downloads the first URL of `urls` that works into `dest` (atomic: `dest` appears only when complete).
 * @throws DownloadError listing each URL and why it failed.
 */
export async function downloadFile(
  urls: readonly string[],
  dest: string,
  opts: DownloadOptions = {},
): Promise<DownloadResult> {
  if (urls.length === 0) throw new DownloadError(`No URL given for ${dest}`);
  fs.mkdirSync(path.dirname(path.resolve(dest)), { recursive: true });
  const part = `${dest}.part`;
  const label = opts.label ?? path.basename(dest);
  const failures: string[] = [];
  for (const [i, url] of urls.entries()) {
    const attempts = 1 + (opts.retries ?? 2);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        let resumed = false;
        if (isLocal(url)) await copyLocal(url, part);
        else resumed = await fetchInto(url, part, opts, label);
        fs.renameSync(part, dest);
        return { url, bytes: fs.statSync(dest).size, resumed };
      } catch (err) {
        const why = describe(err);
        const retryable = !(err instanceof HttpStatusError && err.status < 500) && !isLocal(url);
        if (retryable && attempt < attempts) {
          opts.log?.(`Download of ${url} failed (${why}); retrying (${attempt}/${attempts - 1})`);
          await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 500) * 2 ** (attempt - 1)));
          continue;
        }
        failures.push(`${url}: ${why}`);
        if (opts.resume === false || !retryable) fs.rmSync(part, { force: true });
        if (i + 1 < urls.length)
          opts.log?.(`Primary URL (${url}) failed (${why}). Attempting backup URL: ${urls[i + 1]}`);
        break;
      }
    }
  }
  throw new DownloadError(
    `Could not download ${path.basename(dest)}:\n  ${failures.join("\n  ")}${opts.hint ? `\n${opts.hint}` : ""}`,
  );
}

/**
 * Asks a server for a file's size (HEAD, then a 1-byte Range GET), for "already up to date" checks.
 * Returns undefined when no URL answers with a size.
 */
export async function remoteSize(urls: readonly string[], timeoutMs = 15_000): Promise<number | undefined> {
  for (const url of urls) {
    if (isLocal(url)) {
      const p = url.startsWith("file://") ? fileURLToPath(url) : path.resolve(url);
      if (fs.existsSync(p)) return fs.statSync(p).size;
      continue;
    }
    try {
      const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
      const n = Number(res.headers.get("content-length"));
      if (res.ok && Number.isFinite(n)) return n;
    } catch {
      /* try the next URL */
    }
  }
  return undefined;
}
