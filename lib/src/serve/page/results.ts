/** Classification results: one message as a label with its probability, many as a table. */
import type { Classification, ExplainResponse } from "./api.js";
import { duration, h, percent } from "./dom.js";

/** A "spam" / "not spam" badge. */
export const badge = (label: string) => h("span", { class: `badge ${label === "spam" ? "spam" : "ham"}` }, label);

/** A bar showing the spam probability. */
function probabilityBar(p: number): HTMLElement {
  const bar = h("div", { class: "bar", role: "img", "aria-label": `spam probability ${percent(p)}` });
  bar.append(h("div", { class: "bar-fill", style: `width:${(p * 100).toFixed(1)}%` }));
  return bar;
}

/** One message's result. */
export function singleResult(r: Classification, ms: number, model: string): HTMLElement {
  return h(
    "div",
    { class: "single", "data-label": r.label },
    h(
      "div",
      { class: "single-head" },
      badge(r.label),
      h("span", { class: "prob" }, `spam probability ${percent(r.spamProbability, 2)}`),
    ),
    probabilityBar(r.spamProbability),
    h("p", { class: "meta" }, `${duration(ms)} · ${model}`),
  );
}

/** Many messages' results: a summary line and a table. */
export function resultsTable(rows: Classification[], ms: number, model: string): HTMLElement {
  const spam = rows.filter((r) => r.label === "spam").length;
  const body = h("tbody");
  rows.forEach((r, i) =>
    body.append(
      h(
        "tr",
        { "data-label": r.label },
        h("td", { class: "num" }, String(i + 1)),
        h("td", { class: "text" }, r.text ?? ""),
        h("td", {}, badge(r.label)),
        h("td", { class: "num" }, percent(r.spamProbability, 2)),
      ),
    ),
  );
  return h(
    "div",
    { class: "batch" },
    h(
      "p",
      { class: "summary" },
      `${rows.length} messages: ${spam} spam, ${rows.length - spam} not spam · ${duration(ms)} · ${model}`,
    ),
    h(
      "div",
      { class: "table-wrap", tabindex: 0, role: "region", "aria-label": "Results" },
      h(
        "table",
        { id: "results-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "#"),
            h("th", { scope: "col" }, "Message"),
            h("th", { scope: "col" }, "Label"),
            h("th", { scope: "col" }, "P(spam)"),
          ),
        ),
        body,
      ),
    ),
  );
}

/** Colour of a token: red toward spam, blue toward not spam, stronger the larger its share of the largest influence. */
function tokenStyle(influence: number, largest: number): string {
  const a = largest > 0 ? Math.min(1, Math.abs(influence) / largest) : 0;
  const rgb = influence > 0 ? "220, 38, 38" : "37, 99, 235";
  return `background: rgba(${rgb}, ${(0.08 + 0.62 * a).toFixed(3)})`;
}

/** Points of probability, signed: "+1.23 pp". */
const points = (x: number) =>
  `${x >= 0 ? "+" : "−"}${Math.abs(x * 100).toFixed(x !== 0 && Math.abs(x) < 0.0001 ? 4 : 2)} pp`;

/** The explanation: the message's tokens coloured by their influence, and the strongest ones listed. */
export function explanationView(e: ExplainResponse): HTMLElement {
  const largest = Math.max(...e.tokens.map((t) => Math.abs(t.influence)));
  const text = h("p", { class: "tokens", id: "explained-tokens" });
  for (const t of e.tokens)
    text.append(
      h(
        "span",
        {
          class: `tok ${t.influence > 0 ? "up" : "down"}`,
          style: tokenStyle(t.influence, largest),
          title: `${JSON.stringify(t.text)}: ${points(t.influence)}`,
        },
        t.text,
      ),
    );
  const top = [...e.tokens].sort((a, b) => b.influence - a.influence);
  const list = (items: typeof top, cls: string) =>
    !items.length
      ? h("p", { class: "none" }, "none")
      : h(
          "ol",
          { class: `top ${cls}` },
          ...items.map((t) =>
            h("li", {}, h("code", {}, JSON.stringify(t.text)), " ", h("span", { class: "pts" }, points(t.influence))),
          ),
        );
  return h(
    "div",
    { class: "explanation" },
    h("h3", {}, "Why: which tokens pushed it toward spam"),
    text,
    h(
      "p",
      { class: "legend" },
      h("span", { class: "swatch up" }),
      " toward spam  ",
      h("span", { class: "swatch down" }),
      " toward not spam",
    ),
    h(
      "div",
      { class: "tops" },
      h("div", {}, h("h4", {}, "Toward spam"), list(top.filter((t) => t.influence > 0).slice(0, 5), "up")),
      h(
        "div",
        {},
        h("h4", {}, "Toward not spam"),
        list(
          top
            .filter((t) => t.influence < 0)
            .reverse()
            .slice(0, 5),
          "down",
        ),
      ),
    ),
    h(
      "p",
      { class: "meta" },
      `Occlusion: each of the ${e.tokens.length} tokens taken out in turn; the colour is how much the spam probability (${percent(e.spamProbability, 2)}) drops without it. ${e.tokens.length + 1} forward passes, ${duration(e.ms)}.` +
        (e.truncatedTokens
          ? ` The last ${e.truncatedTokens} tokens lie past the trained length and are not read.`
          : ""),
    ),
  );
}
