/**
 * The page's behaviour: classify what is typed, pasted or dropped (one message per line), explain a single
 * message, export the table, pick a model. Every number comes from the server, which runs the library.
 */
import * as api from "./api.js";
import { byId, h } from "./dom.js";
import { modelCardView } from "./modelCard.js";
import { explanationView, resultsTable, singleResult } from "./results.js";
import { download, messagesOfFile, resultsCsv } from "./textFiles.js";

const input = byId<HTMLTextAreaElement>("text");
const picker = byId<HTMLSelectElement>("model");
const classifyButton = byId<HTMLButtonElement>("classify");
const fileInput = byId<HTMLInputElement>("file");
const output = byId("output");
const errorBox = byId("error");
const card = byId("card");
const status = byId("status");

let cards: api.ModelCard[] = [];

/** "smoke/review-classifier on ONNX Runtime": which model answered, on which engine. */
const where = (r: { model: string; engine: string }) =>
  `${r.model} on ${r.engine === "onnx" ? "ONNX Runtime" : "tfjs"}`;
let lastRows: api.Classification[] = [];

function showError(message: string | null): void {
  errorBox.textContent = message ?? "";
  errorBox.hidden = message === null;
}

function setBusy(busy: boolean, what = "Classifying"): void {
  classifyButton.disabled = busy || !picker.value;
  document.body.classList.toggle("busy", busy);
  status.textContent = busy ? `${what} …` : picker.value ? `Model: ${picker.value}` : "No model";
}

/** Classifies the messages in the text box: one → result and explanation; many → table. */
async function classifyInput(): Promise<void> {
  const texts = input.value.split(/\r?\n/).filter((l) => l.trim() !== "");
  showError(null);
  if (!texts.length) {
    showError("Type or paste a message first (one per line for many).");
    input.focus();
    return;
  }
  const model = picker.value;
  setBusy(true);
  try {
    if (texts.length === 1) {
      const r = await api.classify(texts, model);
      output.replaceChildren(
        singleResult(r.results[0], r.ms, where(r)),
        h("p", { class: "meta", id: "explaining" }, "Explaining …"),
      );
      setBusy(true, "Explaining");
      const e = await api.explain(texts[0], model);
      output.replaceChildren(singleResult(r.results[0], r.ms, where(r)), explanationView(e));
      lastRows = r.results.map((x) => ({ ...x, text: texts[0] }));
    } else {
      const start = performance.now();
      lastRows = [];
      let answered = model;
      for (let i = 0; i < texts.length; i += api.MAX_TEXTS) {
        const r = await api.classify(texts.slice(i, i + api.MAX_TEXTS), model);
        lastRows.push(...r.results);
        answered = where(r);
      }
      const exportButton = h("button", { type: "button", id: "export" }, "Export CSV");
      exportButton.addEventListener("click", () =>
        download("spam-results.csv", resultsCsv(lastRows.map((x) => ({ ...x, text: x.text ?? "" })))),
      );
      output.replaceChildren(resultsTable(lastRows, performance.now() - start, answered), exportButton);
    }
  } catch (err) {
    showError((err as Error).message);
  } finally {
    setBusy(false);
  }
}

async function loadFile(file: File): Promise<void> {
  if (!/\.(txt|csv)$/i.test(file.name)) {
    showError(`${file.name}: drop a .txt file (one message per line) or a .csv file`);
    return;
  }
  const messages = messagesOfFile(file.name, await file.text());
  if (!messages.length) {
    showError(`${file.name} has no messages in it`);
    return;
  }
  input.value = messages.join("\n");
  await classifyInput();
}

function showCard(): void {
  const c = cards.find((x) => x.name === picker.value);
  card.replaceChildren(c ? modelCardView(c) : h("p", {}, "No model selected."));
  setBusy(false);
}

async function loadModels(): Promise<void> {
  const r = await api.getModels();
  cards = r.models;
  picker.replaceChildren(...cards.map((c) => h("option", { value: c.name }, c.name)));
  picker.disabled = !cards.length;
  if (r.active) picker.value = r.active;
  if (!cards.length) {
    card.replaceChildren(
      h("p", { class: "empty", id: "no-model" }, `No fine-tuned classifier yet. ${r.howToTrain ?? ""}`),
    );
    setBusy(false);
  } else showCard();
}

byId("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void classifyInput();
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    void classifyInput();
  }
});
picker.addEventListener("change", () => {
  showCard();
  output.replaceChildren(h("p", { class: "meta" }, `Switched to ${picker.value}: classify again to use it.`));
});
byId("open-file").addEventListener("click", () => fileInput.click());
fileInput.addEventListener("change", () => {
  const f = fileInput.files?.[0];
  if (f) void loadFile(f);
  fileInput.value = "";
});
byId("clear").addEventListener("click", () => {
  input.value = "";
  output.replaceChildren();
  showError(null);
  input.focus();
});
// A file dropped anywhere on the page is read (the message box lights up while one is dragged over).
const drop = byId("drop");
document.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  drop.classList.add("dragging");
});
document.addEventListener("dragleave", (ev) => {
  if (ev.relatedTarget === null) drop.classList.remove("dragging");
});
document.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("dragging");
  const f = ev.dataTransfer?.files[0];
  if (f) void loadFile(f);
});

loadModels().catch((err: Error) => showError(err.message));
