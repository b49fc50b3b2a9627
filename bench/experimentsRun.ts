/**
 * Child process of `npm run bench -- --experiments`: the book's additional-experiments rows through the library's
 * own runner (runExperiments → finetuneClassifier, each row's fastest exact path) on PyTorch's random 124M weights.
 * Usage: node --import tsx bench/experimentsRun.ts SPEC.json OUT.json
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { getSettings, initBackend, runExperiments, type ExperimentRecord } from "llm-spam-classifier";
import { writeSafetensors } from "llm-spam-classifier/weights";
import { peakRssBytes } from "./machine";
import { readSafetensorsF32 } from "./safetensors";

export interface ExperimentsSpec {
  /** PyTorch's random weights (scripts/bench/torch_reference.py: the book's state_dict with the 2-class head). */
  weightsPath: string;
  /** The data folder (the dataset download is reused; the bonus split is written beside the chapter's). */
  dataDir: string;
  work: string;
  rows: number[];
  epochs?: number;
  maxSteps?: number;
}

export interface ExperimentsResult {
  records: ExperimentRecord[];
  ran: number[];
  peakRssBytes: number;
  markdown: string;
}

async function main(): Promise<void> {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(specPath, "utf8")) as ExperimentsSpec;
  await initBackend();
  // GPT-2 as the library loads it: the book's state_dict names without the classifier head (each row adds its own).
  const gpt2 = path.join(spec.work, "random-124M-gpt2.safetensors");
  const tensors = readSafetensorsF32(spec.weightsPath);
  for (const name of [...tensors.keys()]) if (name.startsWith("out_head.")) tensors.delete(name);
  writeSafetensors(gpt2, tensors, { source: "PyTorch's random weights (bench), without the classifier head" });
  tensors.clear();

  // Every run starts cold: prefix caches that earlier runs left in <dataDir>/cache are moved aside while the rows
  // run (and back after), so each row pays for the prefixes computed in this run; rows still share them in it.
  const cacheDir = path.join(spec.dataDir, "cache"),
    aside = path.join(cacheDir, `aside-${process.pid}`); // in the same folder: a rename, never a copy
  const earlier = fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((f) => /^prefix-.*\.bin$/.test(f)) : [];
  fs.mkdirSync(aside, { recursive: true });
  for (const f of earlier) fs.renameSync(path.join(cacheDir, f), path.join(aside, f));
  if (earlier.length) console.log(`  (${earlier.length} prefix cache files of earlier runs set aside until the end)`);

  const settings = getSettings({ dataDir: spec.dataDir, smoke: false });
  const outDir = path.join(spec.work, "experiments");
  const report = await runExperiments(settings, {
    rows: spec.rows,
    epochs: spec.epochs,
    maxSteps: spec.maxSteps,
    weights: gpt2,
    outDir,
    progress: false,
    log: (line) => {
      if (/^(Row |Training path|Training completed|Test accuracy|Stopped after|prefix cache)/.test(line.trim()))
        console.log(`  ${line.trim()}`);
    },
  }).finally(() => {
    // This run's files stay; the earlier ones come back (an earlier file of the same name is this run's twin)
    for (const f of earlier)
      if (!fs.existsSync(path.join(cacheDir, f))) fs.renameSync(path.join(aside, f), path.join(cacheDir, f));
    fs.rmSync(aside, { recursive: true, force: true });
  });
  const out: ExperimentsResult = {
    records: report.records,
    ran: report.ran,
    peakRssBytes: peakRssBytes(),
    markdown: fs.readFileSync(report.markdown, "utf8"),
  };
  fs.writeFileSync(outPath, JSON.stringify(out, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
