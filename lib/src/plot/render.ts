/**
 * Showing Plotly figures without a Python renderer: inline HTML for tslab (`tslab.display.html`),
 * a standalone HTML file, and a PNG through headless Chromium when it is installed.
 * plotly.js runs only in a browser, so the library is inlined as text (plotly.js-basic-dist-min,
 * enough for line charts) and drawn by the notebook front end or Chromium.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomic } from "../util/atomic";
import type { PlotlyFigure } from "./plotValues";

let librarySource: string | undefined;
/** The plotly.js bundle as text. */
export function plotlyLibrary(): string {
  librarySource ??= fs.readFileSync(require.resolve("plotly.js-basic-dist-min"), "utf8");
  return librarySource;
}

let chartCount = 0;

/**
 * One `text/html` snippet: (optionally) the library, guarded so it loads once per page, then a div
 * and a script that draws the figure when Plotly is there.
 */
export function plotlyHtml(
  fig: PlotlyFigure,
  opts: { id?: string; includeLibrary?: boolean; staticImage?: boolean } = {},
): string {
  const id = opts.id ?? `plotly-chart-${process.pid}-${++chartCount}`;
  const w = Number(fig.layout.width ?? 640),
    h = Number(fig.layout.height ?? 380);
  const lib = opts.includeLibrary ? `<script>if(!window.Plotly){${plotlyLibrary()}\n}</script>` : "";
  const json = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c");
  return (
    `${lib}<div id="${id}" style="width:${w}px;height:${h}px"></div><script>(function(){` +
    `var go=function(){Plotly.newPlot(${json(id)},${json(fig.data)},${json(fig.layout)},${opts.staticImage ? "{displayModeBar:false,staticPlot:true}" : '{displaylogo:false,modeBarButtonsToRemove:["select2d","lasso2d","zoomIn2d","zoomOut2d","autoScale2d","toggleSpikelines","hoverClosestCartesian","hoverCompareCartesian"]}'});};` +
    `if(window.Plotly)go();else{var t=setInterval(function(){if(window.Plotly){clearInterval(t);go();}},50);}})();</script>`
  );
}

let libraryShown = false;
/** HTML for a notebook cell (`tslab.display.html(...)`): inlines the library only with the first chart of the kernel. */
export function notebookPlotHtml(fig: PlotlyFigure): string {
  const html = plotlyHtml(fig, { includeLibrary: !libraryShown });
  libraryShown = true;
  return html;
}

/** A standalone, offline HTML page for the figure, written atomically. */
export function writePlotHtml(file: string, fig: PlotlyFigure, title = "plot"): void {
  writeFileAtomic(
    file,
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>` +
      `<body style="margin:0;background:#fff">${plotlyHtml(fig, { id: "chart", includeLibrary: true })}</body></html>\n`,
  );
}

/** Path of a Chromium binary: CHROMIUM_PATH, else the usual names on PATH. Undefined when none. */
export function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH !== undefined)
    return fs.existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
      const p = path.join(dir, name);
      if (fs.existsSync(p)) return p;
    }
  }
  return undefined;
}

/**
 * Renders the figure to PNG with headless Chromium (atomic write).
 * @returns false when no Chromium is installed (nothing written).
 * @throws Error when Chromium runs but produces no image.
 */
export async function writePlotPng(
  file: string,
  fig: PlotlyFigure,
  opts: { width?: number; height?: number } = {},
): Promise<boolean> {
  const chromium = findChromium();
  if (!chromium) return false;
  const width = opts.width ?? Number(fig.layout.width ?? 640),
    height = opts.height ?? Number(fig.layout.height ?? 380);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "plot-png-"));
  try {
    const page = path.join(work, "page.html"),
      shot = path.join(work, "shot.png");
    const sized = { ...fig, layout: { ...fig.layout, width, height } };
    fs.writeFileSync(
      page,
      `<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0;overflow:hidden;background:#fff">` +
        plotlyHtml(sized, { id: "chart", includeLibrary: true, staticImage: true }) +
        "</body></html>",
    );
    const args = [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
      "--hide-scrollbars",
      `--user-data-dir=${path.join(work, "profile")}`,
      "--virtual-time-budget=10000",
      `--window-size=${width},${height}`,
      `--screenshot=${shot}`,
      `file://${page}`,
    ];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(chromium, args, { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => {
        err += d;
      });
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error("Chromium took more than 60 s to render the plot"));
      }, 60_000);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", () => {
        clearTimeout(timer);
        if (fs.existsSync(shot)) resolve();
        else reject(new Error(`Chromium produced no screenshot: ${err.trim().split("\n").slice(-3).join(" | ")}`));
      });
    });
    writeFileAtomic(file, fs.readFileSync(shot));
    return true;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Shows a figure in a tslab notebook (inline, offline). Outside a notebook (e.g. a notebook run as a
 * script) it prints a one-line text summary instead.
 */
export function showPlot(fig: PlotlyFigure): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- tslab is there only inside a notebook kernel
    const tslab = require("tslab") as { display: { html(s: string): void } };
    tslab.display.html(notebookPlotHtml(fig));
  } catch {
    const lines = fig.data
      .filter((d) => d.showlegend !== false)
      .map((d) => {
        const y = d.y as number[];
        return `${String(d.name)}: ${y.length ? `${y[0].toFixed(3)} → ${y[y.length - 1].toFixed(3)}` : "no values"}`;
      });
    console.log(`[plot, shown inline in a notebook] ${lines.join("; ")}`);
  }
}
