/**
 * What the web app shows about a classifier: its base weights, what was trained (last block, LoRA, prompt
 * tuning, …), the length it was trained with, and the accuracies and plots its training run wrote
 * (config.json, metrics.json, loss-plot.png/.html, accuracy-plot.png/.html; see train/report.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ClassifierConfig } from "../train/classifierFile";

/** The plots a training run writes beside its classifier. */
export const PLOT_NAMES = ["loss", "accuracy"] as const;
export type PlotName = (typeof PLOT_NAMES)[number];

/** Accuracies (0–1) on the three sets, as metrics.json has them. */
export interface Accuracies {
  trainAcc: number;
  valAcc: number;
  testAcc: number;
}

export interface ModelCard {
  name: string;
  /** The GPT-2 it was fine-tuned from: a size, or a checkpoint's last two path parts (no full paths). */
  baseWeights: string | null;
  /** last-block, last-two-blocks, all, last-layer, lora, prompt-tuning (config.json's info.trainable). */
  method: string | null;
  /** LoRA's rank and alpha, or prompt tuning's virtual tokens, when the method has them. */
  methodDetails: Record<string, unknown> | null;
  trainedLength: number;
  model: { embDim: number; nLayers: number; nHeads: number; contextLength: number };
  epochs: number | null;
  steps: number | null;
  smoke: boolean;
  metrics: { initial: Accuracies | null; final: Accuracies | null } | null;
  /** Which plots exist, and in which formats (the page prefers the PNG). */
  plots: Partial<Record<PlotName, Array<"png" | "html">>>;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function accuracies(v: unknown): Accuracies | null {
  const a = v as Partial<Accuracies> | undefined;
  return a && [a.trainAcc, a.valAcc, a.testAcc].every((x) => typeof x === "number")
    ? { trainAcc: a.trainAcc!, valAcc: a.valAcc!, testAcc: a.testAcc! }
    : null;
}

/** A size stays a size; a path keeps only its last two parts (`124M/model.ckpt`). */
function shortWeights(w: unknown): string | null {
  if (typeof w !== "string") return null;
  return path.isAbsolute(w) ? w.split(/[\\/]/).slice(-2).join("/") : w;
}

/** The card of the classifier saved in `dir` (config.json must be readable; the rest is optional). */
export function readModelCard(name: string, dir: string): ModelCard {
  const config = readJson(path.join(dir, "config.json")) as unknown as ClassifierConfig;
  const info = config.info ?? {};
  const metrics = readJson(path.join(dir, "metrics.json"));
  const plots: ModelCard["plots"] = {};
  for (const p of PLOT_NAMES) {
    const formats = (["png", "html"] as const).filter((f) => fs.existsSync(plotFile(dir, p, f)));
    if (formats.length) plots[p] = formats;
  }
  const details = (info.lora ?? info.promptTuning ?? null) as Record<string, unknown> | null;
  return {
    name,
    baseWeights: shortWeights(info.baseWeights),
    method: typeof info.trainable === "string" ? info.trainable : null,
    methodDetails: details,
    trainedLength: config.maxLength,
    model: {
      embDim: config.gpt.embDim,
      nLayers: config.gpt.nLayers,
      nHeads: config.gpt.nHeads,
      contextLength: config.gpt.contextLength,
    },
    epochs: typeof info.epochs === "number" ? info.epochs : null,
    steps: typeof info.steps === "number" ? info.steps : null,
    smoke: info.smoke === true,
    metrics: metrics ? { initial: accuracies(metrics.initial), final: accuracies(metrics.final) } : null,
    plots,
  };
}

/** The file of a plot (`loss-plot.png`). */
export function plotFile(dir: string, plot: PlotName, format: "png" | "html"): string {
  return path.join(dir, `${plot}-plot.${format}`);
}
