/**
 * A small progress bar for long work (downloads, the frozen-layer pass, training epochs). Where it
 * draws, chosen once per bar:
 * - inside a tslab notebook: an HTML bar in one display that is updated in place (throttled);
 * - in a terminal: one line that is redrawn;
 * - elsewhere (CI logs, pipes): a plain line every 10 %, so logs stay short.
 */

/** Output that can be replaced in place: tslab's `Display` (only `html` is used). */
export interface NotebookDisplay {
  html(s: string): void;
}

/** What `tslabDisplay` needs from the tslab module (injectable for tests). */
export interface TslabModule {
  newDisplay(): NotebookDisplay;
}

/** The tslab module (a dependency of the notebooks, not of the library: may be absent). */
function requireTslab(): TslabModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("tslab") as TslabModule;
}

/**
 * A new, empty tslab display when this code runs inside a tslab kernel, else undefined (no tslab,
 * or tslab loaded outside a kernel, e.g. a notebook converted to a script).
 * @param load returns the tslab module (default: `require("tslab")`)
 */
export function tslabDisplay(load: () => TslabModule = requireTslab): NotebookDisplay | undefined {
  try {
    const d = load().newDisplay();
    d.html(""); // throws "Not ready" outside a kernel
    return d;
  } catch {
    return undefined;
  }
}

export interface ProgressOptions {
  /** Text before the bar, e.g. the file name or "Epoch 1". */
  label: string;
  /** Total units, if known. */
  total?: number;
  /** `bytes` prints sizes as kB/MB; `items` prints counts. */
  unit?: "bytes" | "items";
  /** Where text bars go; defaults to stderr (not used when a notebook display is). `null` disables all output. */
  stream?: NodeJS.WritableStream | null;
  /**
   * Makes the notebook display that replaces the text bar. Default `tslabDisplay` (a display inside a tslab
   * kernel, none elsewhere); `null` always draws text.
   */
  display?: (() => NotebookDisplay | undefined) | null;
  /** Minimum milliseconds between two notebook redraws (default 300; the final state is always drawn). */
  throttleMs?: number;
  /** Extra callback on every update (e.g. your own UI). */
  onUpdate?: (done: number, total: number | undefined) => void;
}

export interface Progress {
  /** Adds `n` units. */
  tick(n?: number): void;
  /** Sets the absolute count. */
  update(done: number): void;
  /** Sets a suffix shown after the counts (e.g. the current loss). */
  status(text: string): void;
  /** Draws the final state and ends the line. */
  finish(): void;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n / 1024,
    i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60),
    sec = Math.round(s % 60);
  return m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** The state a sink draws: the label, the fraction done (undefined without a total) and the counts text. */
interface BarState {
  label: string;
  fraction: number | undefined;
  done: number;
  total: number | undefined;
  /** e.g. `42% 1.20 MB/2.84 MB 3s<4s loss 0.512`, or `12 3s` without a total. */
  counts: string;
}

/** Where a bar is drawn: `draw` on every update (`force` for the final state), `end` once. */
interface Sink {
  draw(state: () => BarState, force: boolean): void;
  end(state: () => BarState): void;
}

/** A gate that opens at most every `ms` milliseconds (always when forced). */
function throttle(ms: number): (force: boolean) => boolean {
  let last = 0;
  return (force) => {
    const now = Date.now();
    if (!force && now - last < ms) return false;
    last = now;
    return true;
  };
}

function textBar(s: BarState): string {
  if (s.fraction === undefined) return `${s.label} ${s.counts}`;
  const width = 24,
    filled = Math.round(s.fraction * width);
  return `${s.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${s.counts}`;
}

/** One terminal line, redrawn at most every 100 ms. */
function terminalSink(stream: NodeJS.WritableStream): Sink {
  const due = throttle(100);
  const draw = (state: () => BarState, force: boolean) => {
    if (due(force)) stream.write(`\r${textBar(state())}\x1b[K`);
  };
  return {
    draw,
    end: (state) => {
      draw(state, true);
      stream.write("\n");
    },
  };
}

/** A plain line at every new tenth (logs, pipes); nothing before the end without a total. */
function decileSink(stream: NodeJS.WritableStream): Sink {
  let lastDecile = 0;
  const draw = (state: () => BarState, force: boolean) => {
    const s = state();
    const decile = s.total ? Math.floor((s.done / s.total) * 10) : -1;
    if (!force && (decile === lastDecile || decile < 0)) return;
    lastDecile = decile;
    stream.write(textBar(s) + "\n");
  };
  return {
    draw,
    end: (state) => {
      if (lastDecile < 10) draw(state, true);
    },
  };
}

/** An HTML bar in one notebook display, replaced in place at most every `throttleMs`. */
function notebookSink(display: NotebookDisplay, throttleMs: number): Sink {
  const due = throttle(throttleMs);
  const draw = (state: () => BarState, force: boolean) => {
    if (!due(force)) return;
    const s = state();
    const value = s.fraction === undefined ? "" : ` value="${s.done}" max="${s.total}"`;
    display.html(
      `<div style="font-family:monospace">${escapeHtml(s.label)} <progress${value} style="width:240px"></progress> ${escapeHtml(s.counts)}</div>`,
    );
  };
  return { draw, end: (state) => draw(state, true) };
}

/** Picks where a bar draws (see the file comment); undefined when output is disabled. */
function chooseSink(opts: ProgressOptions): Sink | undefined {
  if (opts.stream === null) return undefined;
  const display = opts.display === null ? undefined : (opts.display ?? tslabDisplay)();
  if (display) return notebookSink(display, opts.throttleMs ?? 300);
  const stream = opts.stream ?? process.stderr;
  return (stream as NodeJS.WriteStream).isTTY ? terminalSink(stream) : decileSink(stream);
}

/** Creates a progress bar (in a tslab notebook: an HTML bar updated in place). */
export function createProgress(opts: ProgressOptions): Progress {
  const sink = chooseSink(opts);
  const fmt = (n: number) => (opts.unit === "bytes" ? formatBytes(n) : String(n));
  const start = Date.now();
  let done = 0,
    suffix = "",
    finished = false;

  const state = (): BarState => {
    const elapsed = (Date.now() - start) / 1000,
      total = opts.total,
      tail = suffix ? " " + suffix : "";
    if (!(total && total > 0))
      return {
        label: opts.label,
        fraction: undefined,
        done,
        total,
        counts: `${fmt(done)} ${formatSeconds(elapsed)}${tail}`,
      };
    const fraction = Math.min(1, done / total);
    const eta = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : NaN;
    const counts = `${(fraction * 100).toFixed(0).padStart(3)}% ${fmt(done)}/${fmt(total)} ${formatSeconds(elapsed)}<${formatSeconds(eta)}${tail}`;
    return { label: opts.label, fraction, done, total, counts };
  };
  const changed = () => {
    opts.onUpdate?.(done, opts.total);
    sink?.draw(state, false);
  };

  return {
    tick(n = 1) {
      done += n;
      changed();
    },
    update(d) {
      done = d;
      changed();
    },
    status(text) {
      suffix = text;
    },
    finish() {
      if (finished) return;
      finished = true;
      sink?.end(state);
    },
  };
}
