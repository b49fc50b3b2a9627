import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { DownloadError } from "llm-spam-classifier";
import { downloadFile, remoteSize, serveFiles, writeFileAtomic } from "llm-spam-classifier/util";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dl-test-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251));
const src = path.join(tmp, "payload.bin");
fs.writeFileSync(src, payload);
const quiet = { progress: false as const, retryDelayMs: 1 };

/** A server whose handler is given per test. */
async function server(handler: http.RequestListener) {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

test("downloads a file atomically and reports the URL used", async () => {
  const srv = await serveFiles({ "/f.bin": src });
  try {
    const dest = path.join(tmp, "a", "f.bin");
    const r = await downloadFile([`${srv.baseUrl}/f.bin`], dest, quiet);
    assert.equal(r.bytes, payload.length);
    assert.deepEqual(fs.readFileSync(dest), payload);
    assert.ok(!fs.existsSync(`${dest}.part`));
    assert.equal(await remoteSize([`${srv.baseUrl}/f.bin`]), payload.length);
  } finally {
    await srv.close();
  }
});

test("in a notebook the download draws one HTML bar updated in place, nothing on stderr", async () => {
  const srv = await serveFiles({ "/f.bin": src });
  try {
    const shown: string[] = [];
    let text = "";
    const stream = new Writable({
      write(chunk, _enc, cb) {
        text += chunk;
        cb();
      },
    });
    const display = () => ({
      html: (s: string) => {
        shown.push(s);
      },
    });
    await downloadFile([`${srv.baseUrl}/f.bin`], path.join(tmp, "nb.bin"), { ...quiet, progress: { display, stream } });
    assert.equal(text, "");
    assert.ok(shown.length >= 2, "drawn, then the final state");
    assert.match(
      shown.at(-1)!,
      new RegExp(`^<div [^>]*>nb\\.bin <progress value="${payload.length}" max="${payload.length}" `),
    );
  } finally {
    await srv.close();
  }
});

test("falls back to the backup URL when the primary answers 404, and logs it", async () => {
  const srv = await serveFiles({ "/backup.bin": src });
  try {
    const lines: string[] = [];
    const dest = path.join(tmp, "b.bin");
    const r = await downloadFile([`${srv.baseUrl}/missing.bin`, `${srv.baseUrl}/backup.bin`], dest, {
      ...quiet,
      log: (l) => lines.push(l),
    });
    assert.equal(r.url, `${srv.baseUrl}/backup.bin`);
    assert.deepEqual(fs.readFileSync(dest), payload);
    assert.match(lines.join("\n"), /Primary URL .*missing\.bin\) failed \(HTTP 404\)\. Attempting backup URL/);
  } finally {
    await srv.close();
  }
});

test("404 on every URL is one DownloadError naming each URL, and leaves no file", async () => {
  const srv = await serveFiles({});
  try {
    const dest = path.join(tmp, "c.bin");
    await assert.rejects(
      downloadFile([`${srv.baseUrl}/x`, `${srv.baseUrl}/y`], dest, quiet),
      (e: unknown) => e instanceof DownloadError && /\/x: HTTP 404/.test(e.message) && /\/y: HTTP 404/.test(e.message),
    );
    assert.ok(!fs.existsSync(dest) && !fs.existsSync(`${dest}.part`));
  } finally {
    await srv.close();
  }
});

test("no network (connection refused) is a DownloadError, after retries", async () => {
  const srv = await server(() => {});
  const url = srv.url;
  await srv.close(); // nothing listens there now
  const lines: string[] = [];
  await assert.rejects(
    downloadFile([`${url}/f`], path.join(tmp, "d.bin"), { ...quiet, retries: 1, log: (l) => lines.push(l) }),
    (e: unknown) => e instanceof DownloadError && /ECONNREFUSED/.test(e.message),
  );
  assert.equal(lines.filter((l) => /retrying/.test(l)).length, 1);
});

test("a connection cut mid-way is resumed with a Range request and gives the exact bytes", async () => {
  let calls = 0;
  const srv = await server((req, res) => {
    calls++;
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? "");
    if (calls === 1) {
      // Promise the whole file, send half, then cut the connection.
      res.writeHead(200, { "content-length": payload.length });
      res.write(payload.subarray(0, 100_000), () => res.destroy());
      return;
    }
    assert.ok(range, "second request continues the part file");
    const start = Number(range[1]);
    res.writeHead(206, {
      "content-length": payload.length - start,
      "content-range": `bytes ${start}-${payload.length - 1}/${payload.length}`,
    });
    res.end(payload.subarray(start));
  });
  try {
    const dest = path.join(tmp, "e.bin");
    const r = await downloadFile([`${srv.url}/f`], dest, quiet);
    assert.equal(r.resumed, true);
    assert.deepEqual(fs.readFileSync(dest), payload);
  } finally {
    await srv.close();
  }
});

test("a stalled server hits the idle timeout", async () => {
  const srv = await server((_req, res) => {
    res.writeHead(200, { "content-length": 10 });
    res.write("ab"); /* then nothing */
  });
  try {
    await assert.rejects(
      downloadFile([`${srv.url}/f`], path.join(tmp, "f.bin"), { ...quiet, retries: 0, timeoutMs: 300 }),
      (e: unknown) => e instanceof DownloadError && /timeout/.test(e.message),
    );
  } finally {
    await srv.close();
  }
});

test("local paths and file:// URLs are copied", async () => {
  const a = path.join(tmp, "g1.bin"),
    b = path.join(tmp, "g2.bin");
  await downloadFile([src], a, quiet);
  await downloadFile([`file://${src}`], b, quiet);
  assert.deepEqual(fs.readFileSync(a), payload);
  assert.deepEqual(fs.readFileSync(b), payload);
  await assert.rejects(downloadFile([path.join(tmp, "nope.bin")], path.join(tmp, "g3.bin"), quiet), /no such file/);
});

test("writeFileAtomic replaces the file in one step and leaves no temporary file", () => {
  const target = path.join(tmp, "h", "out.txt");
  writeFileAtomic(target, "first");
  writeFileAtomic(target, new Uint8Array(Buffer.from("second")));
  assert.equal(fs.readFileSync(target, "utf8"), "second");
  assert.deepEqual(fs.readdirSync(path.dirname(target)), ["out.txt"]);
});
