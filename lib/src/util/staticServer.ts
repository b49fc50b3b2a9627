/**
 * A tiny HTTP file server on 127.0.0.1 for tests, smoke runs and offline mirrors: maps URL paths
 * to local files, answers HEAD and Range requests like a real file host, 404 for the rest.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";

export interface StaticServer {
  /** e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly baseUrl: string;
  /** Paths requested so far, in order (for tests). */
  readonly requests: string[];
  readonly close: () => Promise<void>;
}

/**
 * Serves `routes`: each key is a URL path prefix (`/gpt2/models/`) or exact path (`/data.zip`),
 * each value a local folder or file.
 */
export async function serveFiles(routes: Record<string, string>, port = 0): Promise<StaticServer> {
  const requests: string[] = [];
  const resolve = (urlPath: string): string | undefined => {
    for (const [prefix, target] of Object.entries(routes)) {
      if (urlPath === prefix) return target;
      if (prefix.endsWith("/") && urlPath.startsWith(prefix)) {
        const rel = urlPath.slice(prefix.length);
        const full = path.resolve(target, rel);
        if (!full.startsWith(path.resolve(target) + path.sep)) return undefined; // no ../ escapes
        return full;
      }
    }
    return undefined;
  };
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    requests.push(urlPath);
    const file = resolve(urlPath);
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const size = fs.statSync(file).size;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]),
        end = range[2] ? Number(range[2]) : size - 1;
      if (start >= size) {
        res.writeHead(416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, {
        "content-length": end - start + 1,
        "content-range": `bytes ${start}-${end}/${size}`,
        "accept-ranges": "bytes",
      });
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      fs.createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, {
      "content-length": size,
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  const { port: actual } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${actual}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
