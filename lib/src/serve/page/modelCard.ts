/** The model card: what the loaded classifier is, how it was trained, and how well. */
import { plotUrl, type Accuracies, type ModelCard } from "./api.js";
import { h, percent } from "./dom.js";

const METHODS: Record<string, string> = {
  "last-block": "last transformer block + final norm + head (the book's)",
  "last-two-blocks": "last two blocks + final norm + head",
  all: "every layer",
  "last-layer": "the output head only",
  lora: "LoRA adapters on every Linear layer (appendix E)",
  "prompt-tuning": "a soft prompt (everything else frozen)",
};

function methodText(c: ModelCard): string {
  const base = c.method ? (METHODS[c.method] ?? c.method) : "unknown";
  const d = c.methodDetails ?? {};
  const num = (k: string) => (typeof d[k] === "number" ? d[k] : "?");
  if (c.method === "lora") return `${base}: rank ${num("rank")}, alpha ${num("alpha")}`;
  if (c.method === "prompt-tuning") return `${base}: ${num("numTokens")} virtual tokens`;
  return base;
}

function metricsTable(initial: Accuracies | null, final: Accuracies | null): HTMLElement {
  const row = (name: string, k: keyof Accuracies) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, name),
      h("td", {}, initial ? percent(initial[k]) : "–"),
      h("td", {}, final ? percent(final[k]) : "–"),
    );
  return h(
    "table",
    { class: "metrics", id: "metrics-table" },
    h("caption", {}, "Accuracy (metrics.json)"),
    h(
      "thead",
      {},
      h("tr", {}, h("td"), h("th", { scope: "col" }, "before"), h("th", { scope: "col" }, "after fine-tuning")),
    ),
    h("tbody", {}, row("Training", "trainAcc"), row("Validation", "valAcc"), row("Test", "testAcc")),
  );
}

function plotView(c: ModelCard, plot: "loss" | "accuracy"): HTMLElement | null {
  const formats = c.plots[plot];
  if (!formats) return null;
  const title = plot === "loss" ? "Loss" : "Accuracy";
  const body = formats.includes("png")
    ? h("img", { src: plotUrl(c.name, plot), alt: `${title} during training (${c.name})`, loading: "lazy" })
    : h("a", { href: plotUrl(c.name, plot, "html"), target: "_blank", rel: "noopener" }, `Open the ${plot} plot`);
  return h("figure", { class: "plot" }, body, h("figcaption", {}, `${title}: training and validation`));
}

/** The card of one classifier. */
export function modelCardView(c: ModelCard): HTMLElement {
  const item = (term: string, value: string) => [h("dt", {}, term), h("dd", {}, value)];
  const m = c.model;
  return h(
    "div",
    { class: "card", "data-model": c.name },
    h(
      "dl",
      {},
      ...item("Base weights", c.baseWeights ?? "unknown"),
      ...item("Trained", methodText(c)),
      ...item("Trained length", `${c.trainedLength} tokens`),
      ...item(
        "Model",
        `${m.nLayers} layers × ${m.embDim} dims, ${m.nHeads} heads${c.smoke ? " (smoke: a tiny test model)" : ""}`,
      ),
      ...(c.epochs !== null ? item("Run", `${c.epochs} epochs, ${c.steps ?? "?"} steps`) : []),
    ),
    c.metrics
      ? metricsTable(c.metrics.initial, c.metrics.final)
      : h("p", { class: "meta" }, "No metrics.json beside this classifier."),
    plotView(c, "loss"),
    plotView(c, "accuracy"),
  );
}
