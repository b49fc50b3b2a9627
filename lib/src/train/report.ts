/**
 * The files a fine-tuning run leaves next to its classifier: metrics.json, log.txt and the book's two
 * figures as offline HTML (and PNG where a headless Chromium is installed). Each file is written atomically.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../util/atomic";
import { trainingFigures, writePlotHtml, writePlotPng } from "../plot";
import type { TrainResult } from "./trainClassifier";

/** Accuracies (0–1) on the three sets. */
export interface Evaluation {
  trainAcc: number;
  valAcc: number;
  testAcc: number;
}

export interface TrainingReport {
  initial?: Evaluation & Record<string, number>;
  final?: Evaluation;
  train: TrainResult;
  numEpochs: number;
  runner?: string;
  /** The options the run used (e.g. the bonus experiments' variant: readout, trainable layers, …). */
  variant?: Readonly<Record<string, unknown>>;
  /** Where to report written PNGs and PNG failures. */
  log?: (line: string) => void;
}

/**
 * Writes metrics.json, log.txt, loss-plot.html/.png and accuracy-plot.html/.png into `dir`.
 * A failing Chromium only costs the PNGs (logged), never the run.
 * @returns the PNG files written.
 */
export async function saveTrainingReport(dir: string, r: TrainingReport): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const { logLines, ...curves } = r.train;
  writeFileAtomic(
    path.join(dir, "metrics.json"),
    JSON.stringify(
      {
        initial: r.initial,
        final: r.final,
        runner: r.runner,
        ...(r.variant ? { variant: r.variant } : {}),
        numEpochs: r.numEpochs,
        ...curves,
      },
      null,
      2,
    ) + "\n",
  );
  writeFileAtomic(path.join(dir, "log.txt"), logLines.join("\n") + "\n");
  const figs = trainingFigures(r.train, r.numEpochs);
  const pngs: string[] = [];
  for (const [name, fig] of [
    ["loss-plot", figs.loss],
    ["accuracy-plot", figs.accuracy],
  ] as const) {
    writePlotHtml(path.join(dir, `${name}.html`), fig, name);
    const png = path.join(dir, `${name}.png`);
    try {
      if (await writePlotPng(png, fig)) pngs.push(png);
    } catch (err) {
      r.log?.(`Warning: no ${name}.png (${(err as Error).message})`);
    }
  }
  if (pngs.length) r.log?.(`Wrote ${pngs.join(", ")}`);
  return pngs;
}
