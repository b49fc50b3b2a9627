/**
 * Section 6.7: the book's loss and accuracy figures (`plot_values`): training and validation curves
 * against epochs, with a second x-axis on top for the number of examples seen.
 */

/** A Plotly figure: traces and layout, as plotly.js takes them. */
export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

/** `n` evenly spaced values from `start` to `end` (torch.linspace; [start] when n is 1). */
export function linspace(start: number, end: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 1 ? start : start + ((end - start) * i) / (n - 1)));
}

/**
 * Axis ranges with 5% padding, the top one mapped linearly from the bottom one, so that a point's
 * epoch and its examples seen sit at the same horizontal position (matplotlib's twiny() with an
 * invisible plot, as in the book).
 */
function twinRanges(epochs: number[], examples: number[]): { x: [number, number]; x2: [number, number] } {
  const lo = Math.min(...epochs),
    hi = Math.max(...epochs);
  const elo = Math.min(...examples),
    ehi = Math.max(...examples);
  if (!(hi > lo)) return { x: [lo - 0.5, lo + 0.5], x2: ehi > elo ? [elo, ehi] : [elo - 0.5, elo + 0.5] };
  const pad = 0.05 * (hi - lo);
  const scale = (ehi - elo) / (hi - lo); // examples per epoch
  const map = (e: number) => elo + (e - lo) * scale;
  return { x: [lo - pad, hi + pad], x2: scale > 0 ? [map(lo - pad), map(hi + pad)] : [elo - 0.5, elo + 0.5] };
}

/**
 * Builds the figure. Book: plot_values(epochs_seen, examples_seen, train_values, val_values, label), 6.7.
 * @param epochsSeen x positions in epochs (the book: torch.linspace(0, num_epochs, len(values)))
 * @param examplesSeen the same positions in examples seen (top axis)
 * @param label "loss" or "accuracy" (y-axis title, legend).
 * @returns a Plotly figure (render with showPlot, plotlyHtml, writePlotHtml or writePlotPng).
 */
export function plotValues(
  epochsSeen: number[],
  examplesSeen: number[],
  trainValues: number[],
  valValues: number[],
  label = "loss",
): PlotlyFigure {
  const title = label.charAt(0).toUpperCase() + label.slice(1);
  const mode = epochsSeen.length <= 10 ? "lines+markers" : "lines"; // a short run still shows its points
  const ranges = epochsSeen.length
    ? twinRanges(epochsSeen, examplesSeen.length ? examplesSeen : epochsSeen)
    : undefined;
  return {
    data: [
      {
        x: epochsSeen,
        y: trainValues,
        type: "scatter",
        mode,
        name: `Training ${label}`,
        line: { color: "#1f77b4", width: 2 },
      },
      {
        x: epochsSeen,
        y: valValues,
        type: "scatter",
        mode,
        name: `Validation ${label}`,
        line: { color: "#ff7f0e", width: 2, dash: "dashdot" },
      },
      // Invisible trace on the top axis (the book's ax2.plot(examples_seen, train_values, alpha=0)).
      {
        x: examplesSeen,
        y: trainValues,
        xaxis: "x2",
        type: "scatter",
        mode: "lines",
        opacity: 0,
        showlegend: false,
        hoverinfo: "skip",
      },
    ],
    layout: {
      width: 640,
      height: 400,
      margin: { l: 60, r: 20, t: 60, b: 90 },
      xaxis: { title: { text: "Epochs" }, zeroline: false, ...(ranges ? { range: ranges.x } : {}) },
      xaxis2: {
        title: { text: "Examples seen" },
        overlaying: "x",
        side: "top",
        zeroline: false,
        ...(ranges ? { range: ranges.x2 } : {}),
      },
      yaxis: { title: { text: title } },
      // below the plot, so it never hides a point (the book's legend sits inside, upper right)
      legend: { orientation: "h", x: 0.5, xanchor: "center", y: -0.2, yanchor: "top" },
      template: "plotly_white",
    },
  };
}

/** What trainingFigures needs from a training run (trainClassifierSimple's result). */
export interface TrainingCurves {
  trainLosses: number[];
  valLosses: number[];
  trainAccs: number[];
  valAccs: number[];
  examplesSeen: number;
}

/**
 * The book's two figures for a training run: x positions by torch.linspace(0, numEpochs, n) and
 * linspace(0, examplesSeen, n), as the notebook computes them before calling plot_values.
 * @returns { loss, accuracy } figures.
 */
export function trainingFigures(r: TrainingCurves, numEpochs: number): { loss: PlotlyFigure; accuracy: PlotlyFigure } {
  const at = (n: number) => [linspace(0, numEpochs, n), linspace(0, r.examplesSeen, n)] as const;
  const [le, lx] = at(r.trainLosses.length),
    [ae, ax] = at(r.trainAccs.length);
  return {
    loss: plotValues(le, lx, r.trainLosses, r.valLosses, "loss"),
    accuracy: plotValues(ae, ax, r.trainAccs, r.valAccs, "accuracy"),
  };
}
