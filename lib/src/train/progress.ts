/**
 * A progress bar per epoch for trainClassifierSimple's `onProgress`: util/progress's bar, so an HTML bar
 * that updates in place inside a tslab notebook and a text bar elsewhere.
 */
import { createProgress, type Progress, type ProgressOptions } from "../util/progress";
import type { TrainProgress } from "./trainClassifier";

/**
 * `stream`: text bars go here (default stderr; not used in a notebook), null disables every bar;
 * `display`: the notebook display (default tslab's inside a kernel); `throttleMs`: notebook redraws (default 300).
 */
export type TrainingProgressOptions = Pick<ProgressOptions, "stream" | "display" | "throttleMs">;

/**
 * Creates the `onProgress` callback: one bar per epoch with the step count and the last batch loss.
 * @example trainClassifierSimple(model, trainLoader, valLoader, optimizer, { onProgress: trainingProgress() })
 */
export function trainingProgress(opts: TrainingProgressOptions = {}): (p: TrainProgress) => void {
  let epoch = 0,
    bar: Progress | undefined;
  return (p) => {
    if (p.epoch !== epoch) {
      bar?.finish();
      epoch = p.epoch;
      bar = createProgress({
        ...opts,
        label: `Epoch ${p.epoch}/${p.numEpochs}`,
        total: p.stepsPerEpoch,
        unit: "items",
      });
    }
    bar?.status(`loss ${p.loss.toFixed(3)}`);
    bar?.update(p.step);
    if (p.step === p.stepsPerEpoch) {
      bar?.finish();
      bar = undefined;
    }
  };
}
