/**
 * `npm run bench [-- --quick] [-- --data-dir DIR] [-- --keep] [-- --skip-plain] [-- --allow-slow-torch]`
 *   [-- --skip-peft | --only-peft] [-- --backend webgpu [--model SIZE]] [-- --large]:
 * chapter 6 on this machine, ours vs PyTorch. A PyTorch on a reference BLAS (matmul under a quarter of
 * ONNX Runtime's) is refused unless --allow-slow-torch: install libopenblas0-pthread.
 *
 *  1. PyTorch reference (scripts/bench/torch_reference.py, Debian torch, 2 threads): the book's 124M model with
 *     random N(0, 0.02) weights, batch 8 × 120 from our data pipeline: training-step and forward times
 *     (medians), initial accuracies and losses, the chapter's estimated total from the book's unit counts;
 *     it saves its weights as safetensors.
 *  2. Our chapter on those weights with the fastest exact path (bench/chapterRun.ts, own process for a clean
 *     peak RSS): prefix cached once per sequence (ONNX Runtime), suffix at the last position; all evaluations.
 *  3. The plain (uncached tfjs) training step (bench/plainStep.ts, own process), and ONNX Runtime's plain
 *     matmul GFLOP/s as the yardstick for the prefix pass.
 *  4. The training step with every parameter trainable (bench/allStep.ts, own process: the native path, every
 *     layer on ONNX Runtime forward and backward) beside PyTorch's (requires_grad everywhere): `ratio all_step`.
 *  5. Loading GPT-2 124M (bench/loadRow.ts, fresh processes) beside PyTorch's load_state_dict from the same
 *     safetensors: `ratio load_124m`.
 *  6. The parameter-efficient steps on 124M random weights (bench/peftStep.ts, own process per method, on the path
 *     createRunner picks: native) beside PyTorch's (scripts/bench/peft_step_torch.py): appendix E's LoRA step
 *     (`ratio lora_step`), the prompt-tuning step (`ratio prompt_step`) and the LoRA chapter estimated from the
 *     book's units on both sides (`ratio lora_chapter_estimate`). `--skip-peft` (and `--quick`) skip them,
 *     `--only-peft` runs only them.
 *  7. `--ui` instead: the web app's API against classifyReview in a loop, texts per second (bench/uiBench.ts).
 *  8. `--bert` (alone: the other rows are not run): bert-base-uncased, batch 8 × 256, the training step with every
 *     parameter and the evaluation forward beside PyTorch's (bench/bertBench.ts): `ratio bert_step`, `ratio bert_forward`.
 *  9. `--large` (alone, not in the chapter's run): GPT-2 1558M with random weights of the real shapes, `last_block` on
 *     the fast path (bench/largeRun.ts, own process): one epoch's prefix pass and 20 steps, with the peak RSS
 *     (target ≤ 14 GB): the frozen weights stay outside tfjs's 4 GB WASM heap.
 * Prints per-phase times, GFLOP/s, peak RSS and `ratio` lines; writes bench/results/bench-<plan>-<time>.json.
 * Quick mode (--quick) runs 10 train batches, 2 val, 2 test, 1 epoch through the same code (< 10 min).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DataLoader, getSettings, prepareSpamData, SMS_SPAM_ZIP, tf } from "llm-spam-classifier";
import { onnxRuntimeVersion } from "llm-spam-classifier/engine";
import type { ChapterResult, ChapterSpec } from "./chapterRun";
import { benchBert } from "./bertBench";
import { describeMachine } from "./machine";
import { measureOrtMatmul } from "./ortMatmul";
import {
  chapterUnits,
  FULL_PLAN,
  loraChapterUnits,
  PLAIN_MODE_LABELS,
  QUICK_PLAN,
  type ChapterPlan,
  type ChapterUnits,
  type PlainMode,
} from "./plan";
import type { AllStepResult, AllStepSpec } from "./allStep";
import type { PeftMethod, PeftStepResult, PeftStepSpec } from "./peftStep";
import type { PlainResult } from "./plainStep";
import type { LargeResult, LargeSpec } from "./largeRun";
import { loadSplits } from "./splits";
import { loadRowLine, runLoadRow } from "./loadRow";
import { runTorchPeft, runTorchReference, SplitRows, TorchSpec, type TorchPeftResult } from "./torchRef";
import {
  BENCH_EXPERIMENT_ROWS,
  benchExperimentRows,
  experimentUnits,
  torchConfigOf,
  type ExperimentBenchRow,
  type TorchExperimentTimes,
} from "./experiments";
import type { ExperimentsResult, ExperimentsSpec } from "./experimentsRun";
import { runUiBench } from "./uiBench";
import { benchWebGpu } from "./webgpuStep";

const SEED = 123;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function child<T>(script: string, spec: object, work: string, name: string): T {
  const specPath = path.join(work, `${name}-spec.json`),
    outPath = path.join(work, `${name}-out.json`);
  fs.writeFileSync(specPath, JSON.stringify(spec));
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, script), specPath, outPath], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status})`);
  return JSON.parse(fs.readFileSync(outPath, "utf8")) as T;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GB`;

async function main(): Promise<void> {
  const plan = process.argv.includes("--quick") ? QUICK_PLAN : FULL_PLAN;
  const experiments = process.argv.includes("--experiments");
  const settings = getSettings();
  const dataDir = arg("--data-dir") ?? settings.dataDir;
  const machine = describeMachine();
  const loadStart = os.loadavg();
  console.log(
    `bench (${plan.name}): ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB, ${machine.cpuFlags}; node ${machine.node}, onnxruntime-node ${onnxRuntimeVersion() ?? "unavailable"}; load average ${loadStart.map((l) => l.toFixed(2)).join(" ")}`,
  );
  if (process.argv.includes("--ui")) return runUiBench(dataDir); // the web app's throughput (bench/uiBench.ts)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "llm-bench-"));
  const tAll = performance.now();
  try {
    if (process.argv.includes("--bert")) {
      const bert = benchBert(work, {
        reps: plan.peftStepReps,
        forwardReps: plan.peftForwardReps,
        seed: SEED,
        allowSlowTorch: process.argv.includes("--allow-slow-torch"),
      });
      console.log("");
      for (const line of bert.lines) console.log(line);
      const outDir = path.join(__dirname, "results");
      fs.mkdirSync(outDir, { recursive: true });
      const date = new Date().toISOString();
      const file = path.join(outDir, `bench-bert-${plan.name}-${date.replace(/[:.]/g, "-")}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify(
          { date, plan: plan.name, machine, bert, loadAverage: { start: loadStart, end: os.loadavg() } },
          null,
          1,
        ),
      );
      console.log(`Report: ${file}`);
      return;
    }
    // Data (ch. 6.2–6.3) through our own pipeline, from the dataset copy that ships with the package.
    const data = await prepareSpamData(dataDir, {
      urls: process.env.SMS_SPAM_URL ? settings.smsSpamUrls : [SMS_SPAM_ZIP],
    });
    // The book's split sizes (the LoRA chapter's units are counted from them, whatever the plan).
    const bookSizes = {
      train: data.files.train.rows,
      validation: data.files.validation.rows,
      test: data.files.test.rows,
    };
    if (arg("--backend") !== undefined) {
      if (arg("--backend") !== "webgpu")
        throw new Error(`--backend: webgpu is the one backend mode (got "${arg("--backend")}")`);
      const webgpu = benchWebGpu({ dataDir, plan, model: arg("--model") ?? "124M" }, work);
      const date = new Date().toISOString();
      const outDir = path.join(__dirname, "results");
      fs.mkdirSync(outDir, { recursive: true });
      const file = path.join(outDir, `bench-webgpu-${plan.name}-${date.replace(/[:.]/g, "-")}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify({ date, plan, machine, webgpu, loadAverage: { start: loadStart, end: os.loadavg() } }, null, 1),
      );
      console.log(`wrote ${path.relative(process.cwd(), file)}`);
      return;
    }
    if (process.argv.includes("--only-peft")) {
      const peft = benchPeft(plan, work, bookSizes);
      console.log("");
      for (const line of peft.lines) console.log(line);
      writeReport(`bench-peft-${plan.name}`, { plan, machine, peft, loadStart, tAll });
      return;
    }
    if (process.argv.includes("--large")) {
      const large = benchLarge(plan, dataDir, work);
      writeReport(`bench-large-${plan.name}`, { plan, machine, large, loadStart, tAll });
      return;
    }
    const splits = loadSplits(dataDir, plan);
    const sizes = { train: splits.train.length, validation: splits.validation.length, test: splits.test.length };
    const units = chapterUnits(plan, sizes);

    // ORT plain matmul yardstick.
    const matmul = await measureOrtMatmul();
    const matmulGflops = Math.max(...matmul.map((m) => m.gflops));
    for (const m of matmul) console.log(`ORT matmul ${m.shape}: ${m.ms.toFixed(1)} ms, ${m.gflops.toFixed(1)} GFLOP/s`);

    // 1. PyTorch reference on the batches our loaders produce (train: two shuffled passes, like the book's cells).
    await tf.ready();
    const rowsOfPass = (loader: DataLoader): SplitRows => {
      const ids: number[][] = [],
        labels: number[] = [];
      for (const b of loader)
        for (let r = 0; r < b.batchSize; r++) {
          ids.push(Array.from(b.inputIds.subarray(r * b.seqLen, (r + 1) * b.seqLen)));
          labels.push(b.labels[r]);
        }
      return { ids, labels };
    };
    const trainLoader = new DataLoader(splits.train, {
      batchSize: plan.batchSize,
      shuffle: true,
      dropLast: true,
      seed: SEED,
    });
    const torchSpec: TorchSpec = {
      config: {
        vocab_size: 50257,
        context_length: 1024,
        emb_dim: 768,
        n_heads: 12,
        n_layers: 12,
        drop_rate: 0,
        qkv_bias: true,
      },
      seed: SEED,
      init_std: 0.02,
      threads: 2,
      batch_size: plan.batchSize,
      acc_batches: plan.initAccBatches,
      loss_batches: plan.initLossBatches,
      step_reps: plan.torchStepReps,
      all_step_reps: process.argv.includes("--skip-all") || experiments ? 0 : plan.allStepReps,
      // A fair reference multiplies at least at a quarter of ONNX Runtime's speed (reference BLAS: ~3 %).
      min_matmul_gflops: process.argv.includes("--allow-slow-torch") ? 0 : 0.25 * matmulGflops,
      splits: {
        train: rowsOfPass(trainLoader),
        train_loss: rowsOfPass(trainLoader),
        validation: rowsOfPass(new DataLoader(splits.validation, { batchSize: plan.batchSize })),
        test: rowsOfPass(new DataLoader(splits.test, { batchSize: plan.batchSize })),
      },
    };
    const experimentRows = benchExperimentRows(arg("--rows"));
    const longest = splits.train.maxLength;
    if (experiments) {
      const configs = new Map(
        experimentRows.map((r) => torchConfigOf(r, longest, plan.name === "quick")).map((c) => [c.key, c]),
      );
      torchSpec.experiment_configs = [...configs.values()];
    }
    const weightsPath = path.join(work, "torch-random-124M.safetensors");
    console.log("PyTorch reference ...");
    const torch = runTorchReference(torchSpec, work, weightsPath);
    const torchChapter = units.trainingSteps * torch.step_median_s + units.forwards * torch.forward_median_s;
    console.log(`PyTorch BLAS ${torch.blas_info}: matmul 960x768 @ 768x3072 ${torch.matmul_gflops.toFixed(1)} GFLOP/s`);
    console.log(
      `PyTorch ${torch.torch_version} (${torch.threads} threads): step ${torch.step_median_s.toFixed(3)} s, forward ${torch.forward_median_s.toFixed(3)} s; chapter estimate ${torchChapter.toFixed(1)} s (${units.trainingSteps} steps + ${units.forwards} forwards)`,
    );

    if (experiments) {
      await benchExperiments({ plan, dataDir, work, weightsPath, torch, longest, settings, machine, loadStart, tAll });
      return;
    }

    // 2. Our chapter with the fast path.
    console.log("Our chapter (fast path) ...");
    const ours = child<ChapterResult>(
      "chapterRun.ts",
      { weightsPath, dataDir, plan, seed: SEED } satisfies ChapterSpec,
      work,
      "chapter",
    );
    // 3. Plain (uncached) training step of the library's PlainRunner: tfjs-wasm kernels only, tfjs with matmuls
    //    on ONNX Runtime, and the library's default plain path (frozen trunk on ONNX Runtime, every step).
    const plain: PlainResult[] = [];
    if (!process.argv.includes("--skip-plain")) {
      for (const mode of ["tfjs", "ortMatMul", "native"] as PlainMode[]) {
        console.log(`Plain training step (${PLAIN_MODE_LABELS[mode]}) ...`);
        plain.push(child<PlainResult>("plainStep.ts", { weightsPath, dataDir, plan, mode }, work, `plain-${mode}`));
      }
    }

    // 4. The step with every parameter trainable (native path: every layer on ONNX Runtime, forward and backward).
    let allStep: AllStepResult | undefined;
    if (!process.argv.includes("--skip-all")) {
      console.log("Training step with every parameter trainable (native path) ...");
      allStep = child<AllStepResult>(
        "allStep.ts",
        { weightsPath, dataDir, plan, seed: SEED } satisfies AllStepSpec,
        work,
        "all-step",
      );
    }

    // 5. Cold start: loading 124M (ours in fresh processes, PyTorch's load_state_dict).
    const load124m = process.argv.includes("--skip-load")
      ? undefined
      : (console.log("Loading GPT-2 124M ..."), runLoadRow(work));

    // 6. The parameter-efficient steps (LoRA, prompt tuning) and the LoRA chapter's estimate.
    // Not in --quick: over 2 minutes with PyTorch's side (`--quick --only-peft` runs them alone).
    const peft =
      process.argv.includes("--skip-peft") || plan.name === "quick" ? undefined : benchPeft(plan, work, bookSizes);

    // Checks: initial accuracies equal, losses within 1e-3.
    const keys = [
      "train_accuracy",
      "validation_accuracy",
      "test_accuracy",
      "train_loss",
      "validation_loss",
      "test_loss",
    ] as const;
    const checks: Array<{ key: string; ours: number; torch: number; ok: boolean }> = keys.map((k) => {
      const a = ours.initial[k],
        b = torch.initial[k];
      const ok = k.endsWith("accuracy") ? Math.abs(a - b) < 1e-9 : Math.abs(a - b) <= 1e-3;
      return { key: k, ours: a, torch: b, ok };
    });
    if (allStep && torch.all_step_first_loss !== undefined) {
      const a = allStep.firstLoss,
        b = torch.all_step_first_loss;
      checks.push({ key: "all_step_first_loss", ours: a, torch: b, ok: Math.abs(a - b) <= 1e-3 });
    }
    let logitDiff = 0;
    torch.first_train_batch_logits.forEach((row, i) =>
      row.forEach((v, j) => {
        logitDiff = Math.max(logitDiff, Math.abs(v - ours.firstTrainBatchLogits[i][j]));
      }),
    );

    const ratio = ours.seconds.chapter / torchChapter;
    const prefixShare = ours.prefix.gflopPerSecond / matmulGflops;
    console.log("");
    for (const c of checks)
      console.log(
        `initial ${c.key.padEnd(20)} ours ${c.key.endsWith("accuracy") ? pct(c.ours) : c.ours.toFixed(4)}  torch ${c.key.endsWith("accuracy") ? pct(c.torch) : c.torch.toFixed(4)}  ${c.ok ? "OK" : "MISMATCH"}`,
      );
    console.log(`first train batch last-token logits: max |ours - torch| = ${logitDiff.toExponential(2)}`);
    console.log(
      `phases (s): load ${ours.seconds.load.toFixed(1)} | prefix ${ours.seconds.prefix.toFixed(1)} | initial eval ${ours.seconds.initialEval.toFixed(1)} | training ${ours.seconds.training.toFixed(1)} (steps ${ours.seconds.trainingSteps.toFixed(1)}, evaluations ${ours.seconds.evaluations.toFixed(1)}) | final accuracy ${ours.seconds.finalAccuracy.toFixed(1)}`,
    );
    console.log(
      `prefix: ${ours.prefix.computed} distinct of ${ours.prefix.sequences} sequences, ${ours.prefix.gflops.toFixed(0)} GFLOP at ${ours.prefix.gflopPerSecond.toFixed(1)} GFLOP/s incl. ${ours.prefix.engineBuildSeconds.toFixed(1)} s ONNX build = ${(prefixShare * 100).toFixed(0)}% of ORT's plain matmul (${matmulGflops.toFixed(1)} GFLOP/s); compute alone ${ours.prefix.computeGflopPerSecond.toFixed(1)} GFLOP/s = ${((100 * ours.prefix.computeGflopPerSecond) / matmulGflops).toFixed(0)}%`,
    );
    console.log(
      `fast step ${ours.stepMs.median.toFixed(1)} ms, eval forward ${ours.evalForwardMs.median.toFixed(1)} ms (medians)`,
    );
    console.log(
      `final accuracies: train ${pct(ours.final.train_accuracy)}, val ${pct(ours.final.validation_accuracy)}, test ${pct(ours.final.test_accuracy)}`,
    );
    console.log(`peak RSS (our chapter process): ${gb(ours.peakRssBytes)}`);
    for (const p of plain) {
      console.log(
        `plain training step, ${PLAIN_MODE_LABELS[p.mode]}: ${p.stepSeconds.toFixed(2)} s vs PyTorch ${torch.step_median_s.toFixed(2)} s: step ratio ${(p.stepSeconds / torch.step_median_s).toFixed(2)}; forward ${p.forwardSeconds.toFixed(2)} s vs ${torch.forward_median_s.toFixed(2)} s; first loss ${p.firstLoss.toFixed(6)} (peak RSS ${gb(p.peakRssBytes)})`,
      );
    }
    let allStepRatio: number | undefined;
    if (allStep && torch.all_step_median_s !== undefined) {
      allStepRatio = allStep.stepSeconds / torch.all_step_median_s;
      console.log(
        `all_step (every parameter trainable, ${allStep.trainableParams.toLocaleString("en-US")} parameters, ${allStep.description}): ours ${allStep.stepSeconds.toFixed(2)} s (ONNX Runtime ${allStep.graphSeconds.toFixed(2)} s + AdamW ${allStep.optimizerSeconds.toFixed(2)} s; first step +${allStep.setupSeconds.toFixed(1)} s to build the graph) vs PyTorch ${torch.all_step_median_s.toFixed(2)} s: ratio all_step = ${allStepRatio.toFixed(3)}; peak RSS ${gb(allStep.peakRssBytes)}`,
      );
    }
    if (load124m) console.log(loadRowLine(load124m));
    for (const line of peft?.lines ?? []) console.log(line);
    console.log(
      `chapter: ours ${ours.seconds.chapter.toFixed(1)} s vs PyTorch ${torchChapter.toFixed(1)} s (estimate): ratio ${ratio.toFixed(3)}`,
    );
    for (const line of ours.log) console.log(`  ${line}`);

    const report = {
      date: new Date().toISOString(),
      plan,
      machine,
      onnxruntime: onnxRuntimeVersion(),
      sizes,
      units,
      ortMatmul: matmul,
      torch: { ...torch, chapterEstimateForPlan_s: torchChapter },
      ours,
      plain,
      allStep,
      allStepRatio,
      load124m,
      peft,
      checks,
      firstLogitsMaxDiff: logitDiff,
      ratio,
      prefixShareOfMatmul: prefixShare,
      benchWallSeconds: (performance.now() - tAll) / 1000,
      loadAverage: { start: loadStart, end: os.loadavg() },
    };
    const outDir = path.join(__dirname, "results");
    fs.mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `bench-${plan.name}-${report.date.replace(/[:.]/g, "-")}.json`);
    fs.writeFileSync(file, JSON.stringify(report, null, 1));
    console.log(
      `wrote ${path.relative(process.cwd(), file)} (bench wall time ${report.benchWallSeconds.toFixed(0)} s; load average at the end ${report.loadAverage.end.map((l) => l.toFixed(2)).join(" ")})`,
    );
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
  } finally {
    if (!process.argv.includes("--keep")) fs.rmSync(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

/** Row 6's results: both sides' times, the LoRA chapter's units, the ratios and the console lines. */
interface PeftRows {
  torch: TorchPeftResult;
  ours: PeftStepResult[];
  units: ChapterUnits;
  loraChapter?: { oursSeconds: number; torchSeconds: number };
  ratios: Partial<Record<"lora_step" | "prompt_step" | "lora_chapter_estimate", number>>;
  lines: string[];
}

const PEFT_ROWS: Record<PeftMethod, { row: "lora_step" | "prompt_step"; what: string }> = {
  lora: { row: "lora_step", what: "appendix E's LoRA, r 16, alpha 16, every Linear, head frozen" },
  "prompt-tuning": { row: "prompt_step", what: "prompt tuning, 20 virtual tokens, the rest frozen" },
};

/**
 * The parameter-efficient steps on 124M random weights, batch 8 × 120: PyTorch's (scripts/bench/peft_step_torch.py,
 * 2 threads), then ours (bench/peftStep.ts, own process per method), and the LoRA chapter estimated on both sides
 * from the same units (appendix E's schedule on the book's split) × each side's median step and forward, plus our
 * one-off graph build.
 */
function benchPeft(plan: ChapterPlan, work: string, sizes: { train: number; validation: number; test: number }) {
  const methods: PeftMethod[] = ["lora", "prompt-tuning"];
  const seqLen = 120;
  console.log("PyTorch LoRA and prompt-tuning steps (scripts/bench/peft_step_torch.py) ...");
  const torch = runTorchPeft(
    {
      methods,
      reps: plan.peftStepReps,
      forward_reps: plan.peftForwardReps,
      threads: 2,
      seed: SEED,
      batch_size: plan.batchSize,
      seq_len: seqLen,
    },
    work,
  );
  // A reference BLAS (~4 GFLOP/s) would flatter ours, as for the chapter's reference (a loaded OpenBLAS: 60+).
  if (torch.matmul_gflops < 20 && !process.argv.includes("--allow-slow-torch"))
    throw new Error(
      `PyTorch's matmul runs at ${torch.matmul_gflops.toFixed(1)} GFLOP/s (${torch.blas_info}): install libopenblas0-pthread, or pass --allow-slow-torch`,
    );
  const ours = methods.map((method) => {
    console.log(`Our ${method} step (bench/peftStep.ts) ...`);
    const spec: PeftStepSpec = {
      method,
      reps: plan.peftStepReps,
      forwardReps: plan.peftForwardReps,
      batchSize: plan.batchSize,
      seqLen,
      seed: SEED,
    };
    return child<PeftStepResult>("peftStep.ts", spec, work, `peft-${method}`);
  });
  const units = loraChapterUnits(sizes);
  const result: PeftRows = { torch, ours, units, ratios: {}, lines: [] };
  result.lines.push(
    `PyTorch ${torch.torch_version} (${torch.threads} threads) for the PEFT rows: BLAS ${torch.blas_info}, matmul 960x768 @ 768x3072 ${torch.matmul_gflops.toFixed(1)} GFLOP/s`,
  );
  for (const o of ours) {
    const t = torch.methods[o.method];
    if (!t) continue;
    const { row, what } = PEFT_ROWS[o.method];
    const r = o.stepSeconds / t.step_median_s;
    result.ratios[row] = r;
    result.lines.push(
      `${row} (${what}; ${o.trainableParams.toLocaleString("en-US")} trainable, PyTorch ${t.trainable_params.toLocaleString("en-US")}; ${o.description}): ours ${o.stepSeconds.toFixed(2)} s (ONNX Runtime ${o.graphSeconds.toFixed(2)} s + AdamW ${o.optimizerSeconds.toFixed(3)} s; first step +${o.setupSeconds.toFixed(1)} s to build the graph) vs PyTorch ${t.step_median_s.toFixed(2)} s; forward ${o.forwardSeconds.toFixed(2)} s vs ${t.forward_median_s.toFixed(2)} s: ratio ${row} = ${r.toFixed(3)}; peak RSS ${gb(o.peakRssBytes)}`,
    );
  }
  const lora = ours.find((o) => o.method === "lora"),
    torchLora = torch.methods.lora;
  if (lora && torchLora) {
    const oursSeconds =
      lora.setupSeconds + units.trainingSteps * lora.stepSeconds + units.forwards * lora.forwardSeconds;
    const torchSeconds = units.trainingSteps * torchLora.step_median_s + units.forwards * torchLora.forward_median_s;
    result.loraChapter = { oursSeconds, torchSeconds };
    result.ratios.lora_chapter_estimate = oursSeconds / torchSeconds;
    result.lines.push(
      `lora_chapter_estimate (appendix E: ${units.trainingSteps} steps + ${units.forwards} forwards): ours ${oursSeconds.toFixed(0)} s (incl. the ${lora.setupSeconds.toFixed(1)} s graph build) vs PyTorch ${torchSeconds.toFixed(0)} s: ratio lora_chapter_estimate = ${result.ratios.lora_chapter_estimate.toFixed(3)}`,
    );
  }
  return result;
}

/** Writes a report to bench/results/<name>-<time>.json and says where. */
/** Peak RSS target of the 1558M row (issue 12). */
const LARGE_RSS_TARGET_BYTES = 14e9;

/** `--large`: GPT-2 1558M, `last_block` on the fast path: one epoch's prefix pass and 20 steps (bench/largeRun.ts). */
function benchLarge(plan: ChapterPlan, dataDir: string, work: string): LargeResult {
  console.log("GPT-2 1558M, last_block (fast path), random weights of the real shapes ...");
  const r = child<LargeResult>(
    "largeRun.ts",
    { dataDir, plan, seed: SEED, size: "1558M", steps: 20 } satisfies LargeSpec,
    work,
    "large",
  );
  const median = [...r.stepMs].sort((a, b) => a - b)[Math.floor(r.stepMs.length / 2)];
  console.log(
    `\nlarge_1558m: built in ${r.seconds.build.toFixed(1)} s (tfjs ${(r.tfjsBytesAfterBuild / 1e9).toFixed(2)} GB); prefix pass ${r.prefix.sequences} sequences (${r.prefix.tokens} tokens) ${r.seconds.prefix.toFixed(0)} s; ${r.stepMs.length} steps ${r.seconds.steps.toFixed(1)} s (median ${median.toFixed(0)} ms, losses ${r.losses[0].toFixed(3)} → ${r.losses[r.losses.length - 1].toFixed(3)}); peak RSS ${(r.peakRssBytes / 1e9).toFixed(2)} GB (target ≤ ${LARGE_RSS_TARGET_BYTES / 1e9} GB: ${r.peakRssBytes <= LARGE_RSS_TARGET_BYTES ? "OK" : "OVER"})`,
  );
  return r;
}

function writeReport(
  name: string,
  a: { plan: ChapterPlan; machine: object; peft?: PeftRows; large?: LargeResult; loadStart: number[]; tAll: number },
) {
  const report = {
    date: new Date().toISOString(),
    plan: a.plan,
    machine: a.machine,
    onnxruntime: onnxRuntimeVersion(),
    ...(a.peft ? { peft: a.peft } : {}),
    ...(a.large ? { large: a.large } : {}),
    benchWallSeconds: (performance.now() - a.tAll) / 1000,
    loadAverage: { start: a.loadStart, end: os.loadavg() },
  };
  const outDir = path.join(__dirname, "results");
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${name}-${report.date.replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 1));
  console.log(
    `wrote ${path.relative(process.cwd(), file)} (bench wall time ${report.benchWallSeconds.toFixed(0)} s; load average at the start ${a.loadStart.map((l) => l.toFixed(2)).join(" ")}, at the end ${report.loadAverage.end.map((l) => l.toFixed(2)).join(" ")})`,
  );
}

/**
 * `--experiments`: the additional-experiments rows of the 124M model, ours (bench/experimentsRun.ts) against PyTorch's
 * per-row estimate (its measured step and forward times of the row's configuration × the row's unit counts).
 */
async function benchExperiments(a: {
  plan: typeof FULL_PLAN;
  dataDir: string;
  work: string;
  weightsPath: string;
  torch: ReturnType<typeof runTorchReference>;
  longest: number;
  settings: ReturnType<typeof getSettings>;
  machine: ReturnType<typeof describeMachine>;
  loadStart: number[];
  tAll: number;
}): Promise<void> {
  const { plan, torch } = a;
  const quick = plan.name === "quick";
  const rows = benchExperimentRows(arg("--rows"));
  const torchTimes: Record<string, TorchExperimentTimes> = torch.experiment_configs ?? {};
  // The rows train on the bonus script's split (runExperiments' default), the sizes the units are counted from.
  const bonus = await prepareSpamData(a.dataDir, {
    urls: process.env.SMS_SPAM_URL ? a.settings.smsSpamUrls : [SMS_SPAM_ZIP],
    split: "bonus",
  });
  const sizes = { train: bonus.files.train.rows, validation: bonus.files.validation.rows, test: bonus.files.test.rows };
  const epochs = quick ? 1 : 5,
    maxSteps = quick ? 10 : undefined;
  console.log(
    `Our additional experiments, rows ${rows.map((r) => r.row).join(", ")} (${quick ? "1 epoch, at most 10 steps each" : "5 epochs each"}) ...`,
  );
  const ours = child<ExperimentsResult>(
    "experimentsRun.ts",
    {
      weightsPath: a.weightsPath,
      dataDir: a.dataDir,
      work: a.work,
      rows: rows.map((r) => r.row),
      epochs,
      maxSteps,
    } satisfies ExperimentsSpec,
    a.work,
    "experiments",
  );
  const results: ExperimentBenchRow[] = [];
  const missing: string[] = [];
  for (const row of rows) {
    const rec = ours.records.find((r) => r.row === row.row);
    const cfg = torchConfigOf(row, a.longest, quick);
    const t = torchTimes[cfg.key];
    if (!rec?.ours || !t) {
      missing.push(
        `row ${row.row} (${row.name}): ${rec?.status ?? "no record"}${rec?.reason ? `: ${rec.reason}` : ""}`,
      );
      continue;
    }
    // Unpadded texts vary in length: their mean time; padded batches: the median.
    const step = cfg.seq_len === null ? t.step_mean_s : t.step_median_s;
    const fwd = cfg.seq_len === null ? t.forward_mean_s : t.forward_median_s;
    const units = experimentUnits(cfg.batch_size, { ...FULL_PLAN, epochs }, sizes, maxSteps);
    const torchSeconds = units.steps * step + units.forwards * fwd;
    results.push({
      row: row.row,
      name: row.name,
      oursSeconds: rec.ours.seconds,
      path: rec.ours.path,
      testAcc: rec.ours.testAcc,
      torchKey: cfg.key,
      steps: units.steps,
      forwards: units.forwards,
      torchStepSeconds: step,
      torchForwardSeconds: fwd,
      torchSeconds,
      ratio: rec.ours.seconds / torchSeconds,
    });
  }
  console.log("");
  for (const r of results)
    console.log(
      `row ${String(r.row).padStart(2)} ${r.name.padEnd(34)} ours ${r.oursSeconds.toFixed(1).padStart(7)} s (${r.path}) vs PyTorch ${r.torchSeconds.toFixed(1).padStart(7)} s (${r.steps} steps × ${r.torchStepSeconds.toFixed(3)} s + ${r.forwards} forwards × ${r.torchForwardSeconds.toFixed(3)} s, ${r.torchKey}): ratio ${r.ratio.toFixed(3)}`,
    );
  for (const m of missing) console.log(`not run: ${m}`);
  // Issue 12's per-row chapter names: that row's whole run, ours / PyTorch's estimate.
  const namedRatios: Record<string, number> = {};
  for (const [row, name] of [
    [3, "last_layer_chapter"],
    [4, "last_two_blocks_chapter"],
    [19, "mean_readout_chapter"],
  ] as const) {
    const r = results.find((x) => x.row === row);
    if (!r) continue;
    namedRatios[name] = r.ratio;
    console.log(
      `${name} (row ${row}): ours ${r.oursSeconds.toFixed(1)} s vs PyTorch ${r.torchSeconds.toFixed(1)} s (estimate): ratio ${name} = ${r.ratio.toFixed(3)}`,
    );
  }
  const oursSum = results.reduce((s, r) => s + r.oursSeconds, 0),
    torchSum = results.reduce((s, r) => s + r.torchSeconds, 0);
  const ratio = oursSum / torchSum;
  console.log(`peak RSS (our experiments process): ${gb(ours.peakRssBytes)}`);
  // The issue's sum is over every bench row; a --rows run prints its own name, so the two are never confused.
  const sumName = rows.length === BENCH_EXPERIMENT_ROWS.length ? "experiments_124m" : "experiments_124m_subset";
  console.log(
    `${sumName}: ours ${oursSum.toFixed(1)} s vs PyTorch ${torchSum.toFixed(1)} s (estimate) over rows ${results.map((r) => r.row).join(", ")}${missing.length ? ` (${missing.length} not run)` : ""}: ratio ${sumName} = ${ratio.toFixed(3)}`,
  );
  const report = {
    date: new Date().toISOString(),
    plan: { ...plan, epochs, maxSteps },
    machine: a.machine,
    onnxruntime: onnxRuntimeVersion(),
    sizes,
    torch,
    rows: results,
    namedRatios,
    missing,
    ours,
    ratio,
    benchWallSeconds: (performance.now() - a.tAll) / 1000,
    loadAverage: { start: a.loadStart, end: os.loadavg() },
  };
  const outDir = path.join(__dirname, "results");
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-experiments-${plan.name}-${report.date.replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 1));
  console.log(`wrote ${path.relative(process.cwd(), file)} (bench wall time ${report.benchWallSeconds.toFixed(0)} s)`);
  if (missing.length) process.exitCode = 1;
}

const HELP = `Usage: npm run bench [-- options]

Chapter 6 on this machine, ours vs PyTorch (Debian python3-torch, 2 threads), in one run: PyTorch's training
step and evaluation forward, our whole chapter end to end on PyTorch's random weights (fast exact path), the
plain training step, ONNX Runtime's plain matmul. Prints phases, GFLOP/s, peak RSS and a ratio line; writes
bench/results/bench-<plan>-<time>.json. See BENCHMARKS.md.

Options:
  --quick             a small subset through the same code (about 3 minutes)
  --data-dir DIR      where the dataset is (default: LLM_DATA_DIR or data/)
  --skip-plain        skip the plain training step
  --skip-all          skip the training step with every parameter trainable (ours and PyTorch's)
  --skip-load         skip load_124m (loading GPT-2 124M, ours and PyTorch's)
  --skip-peft         skip lora_step, prompt_step and lora_chapter_estimate (ours and PyTorch's; --quick
                      skips them too: they take over 2 minutes)
  --only-peft         run only those three rows (no chapter, no PyTorch chapter reference; about 4 minutes)
  --experiments       instead of the chapter: the additional-experiments rows of the 124M model without LoRA
                      (1-5, 10, 13, 14, 16-19) end to end, each against a PyTorch estimate from that row's
                      measured step and forward times; prints \`ratio experiments_124m\` and, for rows 3, 4
                      and 19, \`ratio last_layer_chapter\`, \`last_two_blocks_chapter\`, \`mean_readout_chapter\`
                      (with --quick: 1 epoch, at most 10 steps per row)
  --rows LIST         with --experiments: only these rows (e.g. 3,4,19); the sum is then printed as
                      \`ratio experiments_124m_subset\` (the whole run takes about 3 hours on 2 cores)
  --backend webgpu    instead of the chapter: the adapter tfjs's WebGPU backend runs on (Dawn; TFJS_BACKEND=webgpu,
                      so a software adapter counts too), the chapter's training step and evaluation forward on
                      it and the chapter's estimate (bench/webgpuStep.ts; no PyTorch: it has no WebGPU)
  --model SIZE        with --backend webgpu: a GPT-2 size (default 124M) or LxE (L blocks of width E, GPT-2's
                      vocabulary) for adapters whose buffers cannot hold 124M's token embedding
  --large             only GPT-2 1558M (random weights of the real shapes), last_block on the fast path: one
                      epoch's prefix pass and 20 steps, peak RSS (target ≤ 14 GB); long (about an hour on
                      2 cores); with --quick the prefix pass covers the quick plan's 80 texts
  --allow-slow-torch  compare against a PyTorch on a reference BLAS anyway (the ratio then flatters ours)
  --keep              keep the work folder (PyTorch's weights and JSON files)
  --help              this text

Needs: /usr/bin/python3 with torch (sudo apt-get install python3-torch libopenblas0-pthread).
The dataset is the copy in lib/assets/sms-spam-collection/ (SMS_SPAM_URL picks another).`;

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(HELP);
} else {
  main().catch((err) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
