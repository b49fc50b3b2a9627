/**
 * `npm run bench -- --ui [--model DIR | --ui-size 124M] [--texts 100]`: the web app's throughput. Classifies N
 * texts of the test split (default 100) through the HTTP API, three ways (one request with every text; one
 * request per text, all at once; one request per text, one after the other), against the library's
 * `classifyReview` (tfjs) in a loop, and prints texts per second for each. Each way gets its own texts, so the
 * server's cache of answered texts never helps.
 *
 * The classifier: --model DIR; else <data>/review-classifier when there is one; else a fresh one in a temporary
 * folder: a smoke classifier (`finetune --smoke`), or with --ui-size 124M the chapter's classifier shape on
 * random weights (PyTorch's initialisation, seed 123), which prices GPT-2 124M without downloading it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  classifyReview,
  finetuneClassifier,
  getSettings,
  GPTModel,
  initBackend,
  loadClassifier,
  modelConfig,
  prepareClassifier,
  prepareSpamData,
  readSplitCsv,
  saveClassifier,
  SMS_SPAM_ZIP,
} from "llm-spam-classifier";
import { startUiServer } from "llm-spam-classifier/serve";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The classifier folder to measure (see the file comment). */
async function classifierDir(work: string, dataDir: string): Promise<string> {
  const given = arg("--model");
  if (given) return path.resolve(given);
  const size = arg("--ui-size");
  if (size) {
    const model = new GPTModel(modelConfig(size), { init: "pytorch", seed: 123 });
    try {
      prepareClassifier(model, { numClasses: 2, trainable: "last-block", seed: 123 });
      const dir = path.join(work, `random-${size}`);
      saveClassifier(dir, model, { maxLength: 120, info: { baseWeights: `random ${size}`, trainable: "last-block" } });
      return dir;
    } finally {
      model.dispose();
    }
  }
  const chapter = path.join(dataDir, "review-classifier");
  if (fs.existsSync(path.join(chapter, "model.safetensors"))) return chapter;
  const settings = getSettings({ smoke: true, dataDir: work });
  return (await finetuneClassifier(settings, { progress: false })).outDir;
}

const rate = (n: number, ms: number) => `${((n * 1000) / ms).toFixed(1)} texts/s (${(ms / 1000).toFixed(2)} s)`;

/** Runs the web app bench (see the file comment). */
export async function runUiBench(dataDir: string): Promise<void> {
  const n = Number(arg("--texts") ?? 100);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "llm-ui-bench-"));
  try {
    await initBackend();
    const data = await prepareSpamData(dataDir, { urls: [SMS_SPAM_ZIP] });
    const pool = readSplitCsv(data.files.test.path).map((r) => r.Text);
    const warmUp = readSplitCsv(data.files.validation.path).map((r) => r.Text);
    if (pool.length < 3 * n) throw new Error(`--texts ${n}: the test split has only ${pool.length} texts`);
    const sets = [0, 1, 2].map((k) => pool.slice(k * n, (k + 1) * n));
    const dir = await classifierDir(work, dataDir);
    console.log(`Web app bench: ${n} texts, classifier ${dir}`);

    const ui = await startUiServer({
      dataDir: path.dirname(dir),
      model: dir,
      port: 0,
      handleSignals: false,
      initTfjs: () => initBackend(),
    });
    const post = async (body: object) => {
      const res = await fetch(new URL("/api/classify", ui.url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      return (await res.json()) as { engine: string; results: Array<{ label: string }> };
    };
    let engine = "";
    try {
      engine = (await post({ texts: warmUp.slice(0, 8) })).engine; // loads the model and warms it up
      let t = performance.now();
      await post({ texts: sets[0] });
      console.log(`API, one request of ${n} texts (${engine}, 8 per forward): ${rate(n, performance.now() - t)}`);
      const passes = async () =>
        ((await (await fetch(new URL("/api/health", ui.url))).json()) as { stats: { passes: number } }).stats.passes;
      const before = await passes();
      t = performance.now();
      await Promise.all(sets[1].map((text) => post({ text })));
      const ms = performance.now() - t;
      console.log(`API, ${n} requests at once (${(await passes()) - before} merged passes): ${rate(n, ms)}`);
      t = performance.now();
      for (const text of sets[2]) await post({ text });
      console.log(`API, ${n} requests one after another: ${rate(n, performance.now() - t)}`);
    } finally {
      await ui.close();
    }

    const { model } = loadClassifier(dir, { cacheDir: false });
    try {
      classifyReview(warmUp[0], model); // warm-up
      const t = performance.now();
      for (const text of sets[0]) classifyReview(text, model);
      console.log(`classifyReview in a loop (tfjs): ${rate(n, performance.now() - t)}`);
    } finally {
      model.dispose();
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
