/** Messages from a dropped or opened file, and the results as a CSV file to download. */

/** Rows of a CSV text (RFC 4180: quoted fields may hold commas, quotes as "" and line breaks). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [],
    field = "",
    quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') field += text[++i];
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length) rows.push([...row, field]);
  return rows;
}

/** Column names that hold the message in a CSV with a header (the project's own splits use "Text"). */
const TEXT_COLUMNS = ["text", "message", "sms", "content", "body"];

/**
 * The messages in a file: a .csv's text column (by its header name, else the first column), else one per line.
 * Blank lines are dropped.
 */
export function messagesOfFile(name: string, content: string): string[] {
  let lines: string[];
  if (/\.csv$/i.test(name)) {
    const rows = parseCsv(content).filter((r) => r.some((f) => f.trim() !== ""));
    const header = rows[0]?.map((h) => h.trim().toLowerCase()) ?? [];
    const col = header.findIndex((h) => TEXT_COLUMNS.includes(h));
    lines = (col >= 0 ? rows.slice(1) : rows).map((r) => r[Math.max(col, 0)] ?? "");
  } else lines = content.split(/\r?\n/);
  return lines.map((l) => l.replace(/\s*[\r\n]+\s*/g, " ")).filter((l) => l.trim() !== "");
}

/** A CSV field, quoted when it must be. */
const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** The results as CSV: text, label, spam_probability. */
export function resultsCsv(rows: Array<{ text: string; label: string; spamProbability: number }>): string {
  const lines = rows.map((r) => [csvField(r.text), r.label, r.spamProbability.toFixed(6)].join(","));
  return ["text,label,spam_probability", ...lines].join("\r\n") + "\r\n";
}

/** Offers `content` as a file download. */
export function download(fileName: string, content: string, type = "text/csv"): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = Object.assign(document.createElement("a"), { href: url, download: fileName });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
