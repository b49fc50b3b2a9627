/**
 * Section 6.7: the book's loss and accuracy figures (`plot_values`): training and validation curves
 * against epochs, with a second x-axis on top for the number of examples seen.
 */

/** A Plotly figure: traces and layout, as plotly.js takes them. */
export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

/**
 * Builds the figure. Book: plot_values(epochs_seen, examples_seen, train_values, val_values, label), 6.7.
 * @param label "loss" or "accuracy" (y-axis title, legend).
 */
export function plotValues(epochsSeen: number[], examplesSeen: number[], trainValues: number[], valValues: number[], label = "loss"): PlotlyFigure {
  const title = label.charAt(0).toUpperCase() + label.slice(1);
  const mode = epochsSeen.length <= 10 ? "lines+markers" : "lines"; // a short run still shows its points
  return {
    data: [
      { x: epochsSeen, y: trainValues, type: "scatter", mode, name: `Training ${label}`, line: { color: "#1f77b4", width: 2 } },
      { x: epochsSeen, y: valValues, type: "scatter", mode, name: `Validation ${label}`, line: { color: "#ff7f0e", width: 2, dash: "dot" } },
      // Invisible trace on the top axis, so that examples seen line up with epochs (the book's twiny()).
      { x: examplesSeen, y: trainValues, xaxis: "x2", type: "scatter", mode: "lines", opacity: 0, showlegend: false, hoverinfo: "skip" },
    ],
    layout: {
      width: 640, height: 380, margin: { l: 60, r: 20, t: 60, b: 50 },
      xaxis: { title: { text: "Epochs" }, zeroline: false },
      xaxis2: { title: { text: "Examples seen" }, overlaying: "x", side: "top", zeroline: false },
      yaxis: { title: { text: title } },
      legend: { x: 0.98, xanchor: "right", y: label === "accuracy" ? 0.05 : 0.98, yanchor: label === "accuracy" ? "bottom" : "top", bgcolor: "rgba(255,255,255,0.7)" },
      template: "plotly_white",
    },
  };
}
