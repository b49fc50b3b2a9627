/**
 * A small progress bar for long work. In a terminal it redraws one line; elsewhere (CI logs,
 * notebooks, pipes) it prints a plain line every 10% so logs stay short.
 */
export interface ProgressOptions {
  /** Text before the bar, e.g. the file name or "Epoch 1". */
  label: string;
  /** Total units, if known. */
  total?: number;
  /** `bytes` prints sizes as kB/MB; `items` prints counts. */
  unit?: "bytes" | "items";
  /** Where to write; defaults to stderr. `null` disables output. */
  stream?: NodeJS.WritableStream | null;
  /** Extra callback on every update (e.g. a tslab display). */
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
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60), sec = Math.round(s % 60);
  return m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/** Creates a progress bar. */
export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream === undefined ? process.stderr : opts.stream;
  const tty = Boolean(stream && (stream as NodeJS.WriteStream).isTTY);
  const fmt = (n: number) => (opts.unit === "bytes" ? formatBytes(n) : String(n));
  const start = Date.now();
  let done = 0, lastDraw = 0, lastDecile = 0, suffix = "", finished = false;

  const line = (): string => {
    const elapsed = (Date.now() - start) / 1000;
    const total = opts.total;
    if (total && total > 0) {
      const frac = Math.min(1, done / total);
      const width = 24, filled = Math.round(frac * width);
      const eta = frac > 0 ? (elapsed / frac) * (1 - frac) : NaN;
      return `${opts.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
        `${fmt(done)}/${fmt(total)} ${formatSeconds(elapsed)}<${formatSeconds(eta)}${suffix ? " " + suffix : ""}`;
    }
    return `${opts.label} ${fmt(done)} ${formatSeconds(elapsed)}${suffix ? " " + suffix : ""}`;
  };

  const draw = (force: boolean) => {
    opts.onUpdate?.(done, opts.total);
    if (!stream) return;
    const now = Date.now();
    if (tty) {
      if (!force && now - lastDraw < 100) return;
      lastDraw = now;
      stream.write(`\r${line()}\x1b[K`);
    } else {
      const decile = opts.total ? Math.floor((done / opts.total) * 10) : -1;
      if (!force && (decile === lastDecile || decile < 0)) return;
      lastDecile = decile;
      stream.write(line() + "\n");
    }
  };

  return {
    tick(n = 1) { done += n; draw(false); },
    update(d) { done = d; draw(false); },
    status(text) { suffix = text; },
    finish() {
      if (finished) return;
      finished = true;
      if (tty) { draw(true); stream!.write("\n"); } else if (lastDecile < 10) draw(true);
    },
  };
}
