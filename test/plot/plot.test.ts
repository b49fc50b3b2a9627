/** Section 6.7 plots: the Plotly figure of plot_values, inline/standalone HTML and the Chromium PNG. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { plotValues, trainingFigures, writePlotHtml, writePlotPng } from "llm-spam-classifier";
import { findChromium, linspace, notebookPlotHtml, plotlyHtml, plotlyLibrary } from "llm-spam-classifier/plot";
import type { PlotlyFigure } from "llm-spam-classifier";
import { tempDir } from "../helpers";

const EPOCHS = [0, 1, 2, 3, 4, 5];
const EXAMPLES = EPOCHS.map((e) => e * 5200);
const TRAIN = [2.1, 0.9, 0.4, 0.2, 0.12, 0.08];
const VAL = [2.0, 1.0, 0.5, 0.3, 0.15, 0.1];
const fig = (label?: string): PlotlyFigure => plotValues(EPOCHS, EXAMPLES, TRAIN, VAL, label);

/** Counts non-overlapping occurrences of `needle` in `hay`. */
function count(hay: string, needle: string): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** Reads the PNG signature and the IHDR width/height. */
function pngSize(file: string): { signature: boolean; width: number; height: number } {
  const b = fs.readFileSync(file);
  return {
    signature: b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
    width: b.readUInt32BE(16),
    height: b.readUInt32BE(20),
  };
}

/** Runs `fn` with CHROMIUM_PATH set to `value`, restoring the old value afterwards. */
async function withChromiumPath<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const old = process.env.CHROMIUM_PATH;
  process.env.CHROMIUM_PATH = value;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env.CHROMIUM_PATH;
    else process.env.CHROMIUM_PATH = old;
  }
}

test('plotValues: training (solid) and validation (dash-dot, the book\'s "-.") against epochs, examples seen on a twin top axis', () => {
  const f = fig();
  assert.equal(f.data.length, 3);
  const [train, val, top] = f.data;
  assert.equal(train.name, "Training loss");
  assert.deepEqual(train.x, EPOCHS);
  assert.deepEqual(train.y, TRAIN);
  assert.equal((train.line as { dash?: string }).dash, undefined);
  assert.equal(val.name, "Validation loss");
  assert.deepEqual(val.y, VAL);
  assert.equal((val.line as { dash?: string }).dash, "dashdot");
  // The invisible trace spans the examples on xaxis2 (the book's alpha=0 plot).
  assert.equal(top.xaxis, "x2");
  assert.deepEqual(top.x, EXAMPLES);
  assert.equal(top.opacity, 0);
  assert.equal(top.showlegend, false);
  const layout = f.layout as Record<string, { title?: { text: string }; overlaying?: string; side?: string }>;
  assert.deepEqual(layout.xaxis.title, { text: "Epochs" });
  assert.deepEqual(layout.xaxis2.title, { text: "Examples seen" });
  assert.equal(layout.xaxis2.overlaying, "x");
  assert.equal(layout.xaxis2.side, "top");
  assert.deepEqual(layout.yaxis.title, { text: "Loss" });
  assert.equal(f.layout.width, 640);
  assert.equal(f.layout.height, 400);
  // The two ranges are the same linear map, so epoch e and e·5200 examples share one position.
  const rx = (f.layout.xaxis as { range: number[] }).range,
    rx2 = (f.layout.xaxis2 as { range: number[] }).range;
  assert.ok(rx[0] < 0 && rx[1] > 5);
  rx.forEach((v, i) => assert.ok(Math.abs(rx2[i] - v * 5200) < 1e-6, `${rx2.join()} vs ${rx.join()}`));
  // legend below the plot area
  assert.ok((f.layout.legend as { y: number }).y < 0);
});

test("linspace and trainingFigures place points like the book (torch.linspace(0, num_epochs, n))", () => {
  assert.deepEqual(linspace(0, 5, 6), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(linspace(0, 5200, 1), [0]);
  const r = {
    trainLosses: [2, 1, 0.5],
    valLosses: [2.1, 1.1, 0.6],
    trainAccs: [0.7, 0.9],
    valAccs: [0.72, 0.95],
    examplesSeen: 5200,
  };
  const { loss, accuracy } = trainingFigures(r, 5);
  assert.deepEqual(loss.data[0].x, [0, 2.5, 5]);
  assert.deepEqual(loss.data[2].x, [0, 2600, 5200]);
  assert.deepEqual(accuracy.data[1].y, [0.72, 0.95]);
  assert.deepEqual((accuracy.layout.yaxis as { title: unknown }).title, { text: "Accuracy" });
  // a single point still gets sensible, finite ranges on both axes
  const one = plotValues([0], [0], [0.5], [0.6], "accuracy");
  for (const ax of ["xaxis", "xaxis2"]) {
    const range = (one.layout[ax] as { range: number[] }).range;
    assert.ok(range.every(Number.isFinite) && range[1] > range[0], ax);
  }
});

test("plotValues: the label names the curves and the capitalised y axis", () => {
  const f = fig("accuracy");
  assert.deepEqual(
    f.data.slice(0, 2).map((d) => d.name),
    ["Training accuracy", "Validation accuracy"],
  );
  assert.deepEqual((f.layout.yaxis as { title: unknown }).title, { text: "Accuracy" });
});

test("plotlyHtml: the library inlined once (guarded) only with includeLibrary; the data and a newPlot call always", () => {
  const lib = plotlyLibrary();
  assert.ok(lib.length > 500_000, "plotly.js-basic-dist-min is read as text");
  const marker = lib.slice(0, 200);
  const withLib = plotlyHtml(fig(), { id: "chart-a", includeLibrary: true });
  const without = plotlyHtml(fig(), { id: "chart-b" });
  assert.equal(count(withLib, marker), 1);
  assert.equal(count(without, marker), 0);
  assert.equal(count(withLib, "if(!window.Plotly){"), 1);
  assert.ok(without.length < 5_000);
  for (const html of [withLib, without]) {
    assert.match(html, /Plotly\.newPlot\(/);
    assert.match(html, /setInterval/); // waits for the library when it is loaded by another output
    assert.ok(html.includes('"Validation loss"'));
    assert.ok(html.includes(JSON.stringify(TRAIN)));
  }
  assert.match(withLib, /<div id="chart-a" style="width:640px;height:400px">/);
  assert.match(without, /<div id="chart-b"/);
});

test("plotlyHtml: a '</script>' inside a label cannot end the script early", () => {
  const html = plotlyHtml(plotValues([0], [0], [1], [1], "</script><b>x"), { id: "c" });
  assert.equal(count(html, "</script>"), 1);
});

test("notebookPlotHtml: the library comes with the first chart of the process only; ids are unique", () => {
  const marker = plotlyLibrary().slice(0, 200);
  const first = notebookPlotHtml(fig());
  const second = notebookPlotHtml(fig("accuracy"));
  assert.equal(count(first, marker), 1);
  assert.equal(count(second, marker), 0);
  const id = (h: string) => /<div id="([^"]+)"/.exec(h)?.[1];
  assert.ok(id(first) && id(second));
  assert.notEqual(id(first), id(second));
});

test("writePlotHtml: a standalone offline page with the library and the data, no temp files left", () => {
  const { dir, cleanup } = tempDir("plot-html-");
  try {
    const file = path.join(dir, "sub", "loss.html");
    writePlotHtml(file, fig(), "Loss plot");
    const html = fs.readFileSync(file, "utf8");
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<title>Loss plot<\/title>/);
    assert.equal(count(html, plotlyLibrary().slice(0, 200)), 1);
    assert.ok(html.includes(JSON.stringify(VAL)));
    assert.ok(!/https?:\/\/cdn/.test(html.slice(0, 200)), "no CDN script tag");
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["loss.html"]);
  } finally {
    cleanup();
  }
});

test("writePlotPng: returns false and writes nothing when no Chromium is found", async () => {
  const { dir, cleanup } = tempDir("plot-png-none-");
  try {
    const file = path.join(dir, "loss.png");
    const ok = await withChromiumPath(path.join(dir, "no-such-chromium"), async () => {
      assert.equal(findChromium(), undefined);
      return writePlotPng(file, fig());
    });
    assert.equal(ok, false);
    assert.equal(fs.existsSync(file), false);
  } finally {
    cleanup();
  }
});

test("writePlotPng: a Chromium that runs but renders nothing is a clear error, and no file is left", async () => {
  const { dir, cleanup } = tempDir("plot-png-bad-");
  try {
    const fake = path.join(dir, "fake-chromium");
    fs.writeFileSync(fake, "#!/bin/sh\necho 'simulated crash' >&2\nexit 3\n", { mode: 0o755 });
    const file = path.join(dir, "loss.png");
    await assert.rejects(
      withChromiumPath(fake, () => writePlotPng(file, fig())),
      /Chromium produced no screenshot: .*simulated crash/,
    );
    assert.equal(fs.existsSync(file), false);
  } finally {
    cleanup();
  }
});

const chromium = process.env.CHROMIUM_PATH ?? findChromium();
test(
  "writePlotPng: headless Chromium writes a PNG of the requested size",
  { skip: chromium ? false : "no Chromium installed" },
  async () => {
    const { dir, cleanup } = tempDir("plot-png-");
    try {
      const file = path.join(dir, "accuracy.png");
      assert.equal(await writePlotPng(file, fig("accuracy"), { width: 500, height: 300 }), true);
      const png = pngSize(file);
      assert.equal(png.signature, true);
      assert.deepEqual([png.width, png.height], [500, 300]);
      assert.ok(fs.statSync(file).size > 5_000, "a drawn chart, not an empty page");
      assert.deepEqual(fs.readdirSync(dir), ["accuracy.png"]);
    } finally {
      cleanup();
    }
  },
);
