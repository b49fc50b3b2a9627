/**
 * `npm start -- serve` as a reader runs it: --help loads neither tfjs nor Fastify; with no classifier it starts
 * and says how to make one; on the smoke classifier it serves the page and classifies on ONNX Runtime without
 * loading tfjs; Ctrl-C (SIGINT) stops it cleanly (exit 0); another host than 127.0.0.1 gets a warning.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { ROOT, tempDir } from "../helpers";
import { CHAPTER_MODEL, makeSmokeClassifiers } from "./smokeClassifiers";

const MAIN = path.join(ROOT, "lib", "dist", "cli", "main.js");

/** Runs the CLI's main() with a hook that records whether tfjs or Fastify was loaded (printed at exit). */
function probeScript(args: string[]): string {
  return `
    const Module = require("module"); const load = Module._load; const seen = new Set();
    Module._load = function (req) {
      if (/@tensorflow\\//.test(req)) seen.add("tfjs");
      if (req === "fastify") seen.add("fastify");
      return load.apply(this, arguments);
    };
    process.on("exit", (code) => process.stderr.write("LOADED=" + [...seen].sort().join(",") + " EXIT=" + code + "\\n"));
    require(${JSON.stringify(MAIN)}).main(${JSON.stringify(args)}).then((c) => { process.exitCode = c; });`;
}

test("serve --help loads neither tfjs nor Fastify", () => {
  const r = spawnSync(process.execPath, ["-e", probeScript(["serve", "--help"])], { encoding: "utf8" });
  assert.match(r.stdout, /Usage: npm start -- serve \[--model DIR\] \[--port 8000\] \[--host 127\.0\.0\.1\]/);
  assert.match(r.stderr, /LOADED= EXIT=0/);
  const top = spawnSync(process.execPath, [MAIN, "--help"], { encoding: "utf8" });
  assert.match(top.stdout, /^ {2}serve {2,}A local web page to classify messages/m);
});

/** Starts `serve` (through main.js, as `npm run ui` does) and resolves with its URL once it prints it. */
function startServe(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [MAIN, "serve", "--port", "0", ...args], {
    cwd: ROOT,
    env: { ...process.env, LLM_SMOKE: "", LLM_WEIGHT_CACHE: "off", ...env },
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const waitFor = (re: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = re.exec(out);
        if (m) {
          clearInterval(timer);
          resolve(m);
        } else if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`serve exited (${child.exitCode}): ${out}`));
        }
      }, 20);
    });
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child: child, output: () => out, waitFor, exited };
}

test("without a classifier: starts, prints the URL and how to make one; Ctrl-C stops it with exit 0", async () => {
  const { dir, cleanup } = tempDir("serve-cli-empty-");
  try {
    const s = startServe(["--data-dir", dir]);
    const [, url] = await s.waitFor(/Spam classifier in your browser: (http:\/\/127\.0\.0\.1:\d+\/)/);
    await s.waitFor(/No fine-tuned classifier under .* yet\. Fine-tune one with `npm start -- finetune`/);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Spam or not\?/);
    s.child.kill("SIGINT");
    assert.equal(await s.exited, 0, s.output());
    assert.match(s.output(), /Stopping: finishing 0 request\(s\) in progress …\nStopped\./);
    assert.doesNotMatch(s.output(), /Interrupted/); // main.ts's own Ctrl-C exit stays out of the way
  } finally {
    cleanup();
  }
});

test("--model DIR on ONNX Runtime: classifies without loading tfjs, stops on Ctrl-C", async () => {
  const smoke = await makeSmokeClassifiers("serve-cli-smoke-", { only: "chapter" });
  const { dir, cleanup } = tempDir("serve-cli-model-");
  try {
    const model = path.join(smoke.dataDir, CHAPTER_MODEL);
    const child = spawn(
      process.execPath,
      ["-e", probeScript(["serve", "--port", "0", "--data-dir", dir, "--model", model])],
      { cwd: ROOT, env: { ...process.env, LLM_SMOKE: "", LLM_WEIGHT_CACHE: "off" } },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    while (!/Loaded review-classifier \(ONNX Runtime\)/.test(out)) {
      assert.equal(child.exitCode, null, out);
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1];
    const models = (await (await fetch(new URL("/api/models", url))).json()) as { models: Array<{ name: string }> };
    assert.deepEqual(
      models.models.map((m) => m.name),
      ["review-classifier"],
    ); // listed by its folder name only: it lies outside the data folder
    const res = await fetch(new URL("/api/classify", url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ texts: ["Win a prize now", "See you at five"] }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { engine: string; results: unknown[] };
    assert.equal(body.engine, "onnx");
    assert.equal(body.results.length, 2);
    child.kill("SIGINT"); // (what is in flight at that moment is finished first: see api.test.ts)
    assert.equal(await exited, 0, out);
    assert.match(out, /LOADED=fastify EXIT=0/); // ONNX Runtime only: no tfjs
  } finally {
    cleanup();
    smoke.cleanup();
  }
});

test("--host other than 127.0.0.1 prints a warning; a bad --port is one clear error", async () => {
  const { dir, cleanup } = tempDir("serve-cli-host-");
  try {
    const s = startServe(["--data-dir", dir, "--host", "0.0.0.0"]);
    await s.waitFor(/Spam classifier in your browser/);
    assert.match(s.output(), /Warning: listening on 0\.0\.0\.0, not 127\.0\.0\.1: anyone who can reach this machine/);
    s.child.kill("SIGTERM");
    assert.equal(await s.exited, 0);
    const bad = spawnSync(process.execPath, [MAIN, "serve", "--port", "70000", "--data-dir", dir], {
      encoding: "utf8",
    });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim(), 'error: --port must be a non-negative integer (at most 65535), got "70000"');
    const missing = spawnSync(process.execPath, [MAIN, "serve", "--model", path.join(dir, "nope"), "--data-dir", dir], {
      encoding: "utf8",
    });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^error: No fine-tuned classifier in .*nope .*finetune/);
  } finally {
    cleanup();
  }
});
