/**
 * A progress bar per epoch for trainClassifierSimple's `onProgress`: an HTML bar that updates in
 * place inside a tslab notebook, a text bar (util/progress) elsewhere.
 */
import { createProgress, type Progress } from "../util/progress";
import type { TrainProgress } from "./trainClassifier";

interface TslabDisplay { html(s: string): void }

/** A tslab display, or undefined outside a running tslab kernel. */
function notebookDisplay(): TslabDisplay | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- tslab is there only inside a notebook kernel
    const tslab = require("tslab") as { newDisplay(): TslabDisplay };
    const d = tslab.newDisplay(); // throws "Not ready" outside a kernel
    d.html("");
    return d;
  } catch {
    return undefined;
  }
}

export interface TrainingProgressOptions {
  /** Text bars go here (default stderr); null disables them. Ignored in a notebook. */
  stream?: NodeJS.WritableStream | null;
  /** Minimum milliseconds between two notebook updates (default 300). */
  throttleMs?: number;
}

/**
 * Creates the `onProgress` callback: one bar per epoch with the step count and the last batch loss.
 * @example trainClassifierSimple(model, trainLoader, valLoader, optimizer, { onProgress: trainingProgress() })
 */
export function trainingProgress(opts: TrainingProgressOptions = {}): (p: TrainProgress) => void {
  let epoch = 0, bar: Progress | undefined, display: TslabDisplay | undefined, inNotebook: boolean | undefined, last = 0;
  const throttle = opts.throttleMs ?? 300;
  return (p) => {
    const label = `Epoch ${p.epoch}/${p.numEpochs}`;
    const done = p.step === p.stepsPerEpoch;
    if (inNotebook === undefined) {
      display = notebookDisplay();
      inNotebook = display !== undefined;
      if (inNotebook) epoch = p.epoch;
    }
    if (inNotebook) {
      if (p.epoch !== epoch) { epoch = p.epoch; display = notebookDisplay(); last = 0; }
      const now = Date.now();
      if (!done && now - last < throttle) return;
      last = now;
      display?.html(`<div style="font-family:monospace">${label} <progress value="${p.step}" max="${p.stepsPerEpoch}" style="width:240px"></progress> ` +
        `${p.step}/${p.stepsPerEpoch} · loss ${p.loss.toFixed(3)}</div>`);
      return;
    }
    if (p.epoch !== epoch) {
      bar?.finish();
      epoch = p.epoch;
      bar = createProgress({ label, total: p.stepsPerEpoch, unit: "items", stream: opts.stream });
    }
    bar!.status(`loss ${p.loss.toFixed(3)}`);
    bar!.update(p.step);
    if (done) { bar!.finish(); bar = undefined; }
  };
}
