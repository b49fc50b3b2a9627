/**
 * `npm run bench -- --bert`: bert-base-uncased for sequence classification with random weights, batch 8 × 256,
 * beside PyTorch (scripts/bench/bert_step_torch.py, Hugging Face's layout written by hand, 2 threads): the training
 * step with every parameter trained (ours: bench/bertStep.ts in its own process, every layer on ONNX Runtime
 * forward and backward) → `ratio bert_step`, and the evaluation forward → `ratio bert_forward` (issue 15's
 * targets: ≤ 1.0 and ≤ 0.6).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BertStepResult, BertStepSpec } from "./bertStep";
import { pythonPath } from "./torchRef";

/** What bert_step_torch.py writes. */
export interface TorchBertResult {
  torch_version: string;
  threads: number;
  blas_info: string;
  matmul_gflops: number;
  step_median_s: number;
  step_times_s: number[];
  forward_median_s: number;
  forward_times_s: number[];
  first_loss: number;
  trainable_params: number;
}

export interface BertRows {
  torch: TorchBertResult;
  ours: BertStepResult;
  ratios: { bert_step: number; bert_forward: number };
  lines: string[];
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GB`;

/** Runs both sides (PyTorch first, then ours, never at once) and returns the rows. @throws Error when a side fails */
export function benchBert(
  work: string,
  opts: { reps: number; forwardReps: number; seed: number; allowSlowTorch?: boolean },
): BertRows {
  const spec = {
    reps: opts.reps,
    forward_reps: opts.forwardReps,
    threads: 2,
    seed: opts.seed,
    batch_size: 8,
    seq_len: 256,
  };
  const root = path.resolve(__dirname, "..");
  const input = path.join(work, "torch-bert-input.json"),
    output = path.join(work, "torch-bert-output.json");
  fs.writeFileSync(input, JSON.stringify(spec));
  console.log("PyTorch bert-base training step and forward (scripts/bench/bert_step_torch.py) ...");
  const t = spawnSync(
    pythonPath(),
    [path.join(root, "scripts", "bench", "bert_step_torch.py"), "--input", input, "--output", output],
    {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, OMP_NUM_THREADS: "2" },
    },
  );
  if (t.status !== 0) throw new Error(`bert_step_torch.py failed (exit ${t.status})`);
  const torch = JSON.parse(fs.readFileSync(output, "utf8")) as TorchBertResult;
  if (torch.matmul_gflops < 20 && !opts.allowSlowTorch)
    throw new Error(
      `PyTorch's matmul runs at ${torch.matmul_gflops.toFixed(1)} GFLOP/s (${torch.blas_info}): install libopenblas0-pthread, or pass --allow-slow-torch`,
    );

  console.log("Our bert-base training step and forward (bench/bertStep.ts) ...");
  const ourSpec: BertStepSpec = {
    reps: opts.reps,
    forwardReps: opts.forwardReps,
    batchSize: 8,
    seqLen: 256,
    seed: opts.seed,
  };
  const specPath = path.join(work, "bert-spec.json"),
    outPath = path.join(work, "bert-out.json");
  fs.writeFileSync(specPath, JSON.stringify(ourSpec));
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "bertStep.ts"), specPath, outPath], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error(`bertStep.ts failed (exit ${r.status})`);
  const ours = JSON.parse(fs.readFileSync(outPath, "utf8")) as BertStepResult;

  const ratios = {
    bert_step: ours.stepSeconds / torch.step_median_s,
    bert_forward: ours.forwardSeconds / torch.forward_median_s,
  };
  const lines = [
    `PyTorch ${torch.torch_version} (${torch.threads} threads) for the BERT rows: BLAS ${torch.blas_info}, matmul 960x768 @ 768x3072 ${torch.matmul_gflops.toFixed(1)} GFLOP/s`,
    `bert_step (bert-base-uncased, batch 8 x 256, every parameter: ${ours.trainableParams.toLocaleString("en-US")} trainable, PyTorch ${torch.trainable_params.toLocaleString("en-US")}; AdamW lr 2e-5, decay 0.01): ours ${ours.stepSeconds.toFixed(2)} s (ONNX Runtime ${ours.graphSeconds.toFixed(2)} s + AdamW ${ours.optimizerSeconds.toFixed(2)} s; first step +${ours.setupSeconds.toFixed(1)} s to build the graph) vs PyTorch ${torch.step_median_s.toFixed(2)} s; peak RSS ${gb(ours.peakRssBytes)}`,
    `ratio bert_step = ${ratios.bert_step.toFixed(3)}`,
    `bert_forward (evaluation forward, no gradient, batch 8 x 256): ours ${ours.forwardSeconds.toFixed(2)} s vs PyTorch ${torch.forward_median_s.toFixed(2)} s`,
    `ratio bert_forward = ${ratios.bert_forward.toFixed(3)}`,
  ];
  return { torch, ours, ratios, lines };
}
