/**
 * Runs scripts/bench/torch_reference.py (Debian python3 + torch 1.13, 2 threads) on batches from our own
 * data pipeline and returns its timings, initial accuracies/losses and the path of its random weights.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { TorchExperimentConfig, TorchExperimentTimes } from "./experiments";

export interface SplitRows {
  ids: number[][];
  labels: number[];
}

export interface TorchSpec {
  config: {
    vocab_size: number;
    context_length: number;
    emb_dim: number;
    n_heads: number;
    n_layers: number;
    drop_rate: number;
    qkv_bias: boolean;
  };
  seed: number;
  init_std: number;
  threads: number;
  batch_size: number;
  acc_batches: number;
  loss_batches: number;
  step_reps: number;
  /** Steps with every parameter trainable to time (0: skip). */
  all_step_reps?: number;
  /** Refuse a PyTorch whose 960×768 @ 768×3072 matmul is slower than this (GFLOP/s): a reference BLAS. */
  min_matmul_gflops: number;
  splits: { train: SplitRows; train_loss?: SplitRows; validation: SplitRows; test: SplitRows };
  /** `--experiments`: the configurations of the additional-experiments rows to time (bench/experiments.ts). */
  experiment_configs?: TorchExperimentConfig[];
}

export interface TorchResult {
  torch_version: string;
  threads: number;
  cpu: string;
  /** BLAS_INFO from torch.__config__ ("generic" is Debian's reference BLAS unless libopenblas0 provides libblas.so.3). */
  blas_info: string;
  /** PyTorch's 960×768 @ 768×3072 matmul, GFLOP/s. */
  matmul_gflops: number;
  initial: {
    train_accuracy: number;
    validation_accuracy: number;
    test_accuracy: number;
    train_loss: number;
    validation_loss: number;
    test_loss: number;
  };
  first_train_batch_logits: number[][];
  step_times_s: number[];
  forward_times_s: number[];
  step_median_s: number;
  forward_median_s: number;
  chapter_estimate_s: number;
  trainable_params: number;
  total_params: number;
  /** With all_step_reps: the every-parameter-trainable step (times, median, the warm-up step's loss). */
  all_step_times_s?: number[];
  all_step_median_s?: number;
  all_step_first_loss?: number;
  all_step_trainable_params?: number;
  /** With experiment_configs: each configuration's step and forward times, by key. */
  experiment_configs?: Record<string, TorchExperimentTimes>;
  /** Added by us: wall time of the whole Python run. */
  wall_s: number;
}

/** The Python interpreter with torch: Debian's, not pyenv's. */
export function pythonPath(): string {
  return process.env.BENCH_PYTHON ?? (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
}

/**
 * Runs the reference. Writes `spec` to `workDir/torch-input.json`; the weights go to `weightsPath`.
 * @throws Error with Python's stderr when it fails
 */
export function runTorchReference(spec: TorchSpec, workDir: string, weightsPath: string): TorchResult {
  const root = path.resolve(__dirname, "..");
  const input = path.join(workDir, "torch-input.json"),
    output = path.join(workDir, "torch-output.json");
  fs.writeFileSync(input, JSON.stringify(spec));
  const t0 = performance.now();
  const r = spawnSync(
    pythonPath(),
    [
      path.join(root, "scripts", "bench", "torch_reference.py"),
      "--input",
      input,
      "--weights",
      weightsPath,
      "--output",
      output,
    ],
    {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, OMP_NUM_THREADS: String(spec.threads) },
    },
  );
  if (r.status !== 0) throw new Error(`torch_reference.py failed (exit ${r.status}):\n${r.stderr.trim()}`);
  const result = JSON.parse(fs.readFileSync(output, "utf8")) as TorchResult;
  result.wall_s = (performance.now() - t0) / 1000;
  return result;
}

/** What scripts/bench/peft_step_torch.py times: appendix E's LoRA step and the prompt-tuning step. */
export interface TorchPeftSpec {
  methods: Array<"lora" | "prompt-tuning">;
  reps: number;
  forward_reps: number;
  threads: number;
  seed: number;
  batch_size: number;
  seq_len: number;
}

export interface TorchPeftTimes {
  step_times_s: number[];
  step_median_s: number;
  forward_times_s: number[];
  forward_median_s: number;
  first_loss: number;
  trainable_params: number;
}

export interface TorchPeftResult {
  torch_version: string;
  threads: number;
  blas_info: string;
  /** PyTorch's 960×768 @ 768×3072 matmul in this process, GFLOP/s (the load of the moment shows in it). */
  matmul_gflops: number;
  methods: Partial<Record<"lora" | "prompt-tuning", TorchPeftTimes>>;
}

/** Runs scripts/bench/peft_step_torch.py (its progress lines go to our stdout). @throws Error when it fails */
export function runTorchPeft(spec: TorchPeftSpec, workDir: string): TorchPeftResult {
  const root = path.resolve(__dirname, "..");
  const input = path.join(workDir, "torch-peft-input.json"),
    output = path.join(workDir, "torch-peft-output.json");
  fs.writeFileSync(input, JSON.stringify(spec));
  const r = spawnSync(
    pythonPath(),
    [path.join(root, "scripts", "bench", "peft_step_torch.py"), "--input", input, "--output", output],
    {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, OMP_NUM_THREADS: String(spec.threads) },
    },
  );
  if (r.status !== 0) throw new Error(`peft_step_torch.py failed (exit ${r.status})`);
  return JSON.parse(fs.readFileSync(output, "utf8")) as TorchPeftResult;
}
