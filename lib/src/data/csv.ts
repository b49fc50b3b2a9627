/**
 * The split files as pandas writes and reads them: `df.to_csv(path, index=None)` (header
 * `Label,Text` for the SMS splits, `text,label` for the IMDb ones; minimal quoting, `\n` line ends)
 * and `pd.read_csv(path)`.
 */
import { DataFormatError } from "../errors";
import { parseDelimited } from "./tsv";

/** A labelled text: 0 = ham ("not spam"), 1 = spam. */
export interface LabeledText {
  readonly Label: number;
  readonly Text: string;
}

/** Quotes a field the way Python's csv module does with QUOTE_MINIMAL. */
function quoteMinimal(field: string): string {
  return /[",\n\r]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

/** Formats rows like pandas' `to_csv(index=None)`: byte-identical to the book's files. */
export function formatCsv(rows: readonly LabeledText[]): string {
  return "Label,Text\n" + rows.map((r) => `${r.Label},${quoteMinimal(r.Text)}\n`).join("");
}

/**
 * A labelled text in the columns of the IMDb CSVs (the bonus's `download_prepare_dataset.py`) and of
 * Hugging Face's datasets: `text,label`, label a class index (IMDb: 0 = negative, 1 = positive).
 */
export interface TextLabel {
  readonly text: string;
  readonly label: number;
}

/** Formats rows like pandas' `to_csv(index=False)` of a `text,label` frame. */
export function formatTextLabelCsv(rows: readonly TextLabel[]): string {
  return "text,label\n" + rows.map((r) => `${quoteMinimal(r.text)},${r.label}\n`).join("");
}

const HEADERS = ["Label,Text", "text,label"] as const;

/** Reads the rows of a two-column CSV with either header; `maxLabel` bounds the class index. */
function parseRows(text: string, source: string, maxLabel: number): TextLabel[] {
  const records = parseDelimited(text, ",");
  const header = records.shift()?.join(",") ?? "";
  const textFirst = header === "text,label";
  if (!(HEADERS as readonly string[]).includes(header))
    throw new DataFormatError(`${source}: expected the header "${HEADERS.join('" or "')}", found ${JSON.stringify(header)}`);
  return records.map((fields, i) => {
    const [labelField, textField] = textFirst ? [fields[1], fields[0]] : [fields[0], fields[1]];
    const label = Number(labelField);
    if (fields.length !== 2 || !Number.isInteger(label) || label < 0 || label > maxLabel || labelField.trim() === "") {
      const expected = textFirst ? `<text>,<0…${maxLabel}>` : `<0|1>,<text>`;
      throw new DataFormatError(`${source}, row ${i + 1}: expected "${expected}", found ${JSON.stringify(fields.join(",").slice(0, 80))}`);
    }
    return { text: textField, label };
  });
}

/**
 * Parses a split CSV like `pd.read_csv(path)`: the SMS splits' `Label,Text` (labels 0/1) or the IMDb
 * splits' `text,label` (column order swapped), both as `{ Label, Text }` rows.
 * @throws DataFormatError for a wrong header, a bad label or a row with a wrong field count.
 */
export function parseCsv(text: string, source = "CSV"): LabeledText[] {
  return parseRows(text, source, 1).map((r) => ({ Label: r.label, Text: r.text }));
}

/**
 * Parses a `text,label` CSV (or a `Label,Text` one) like `pd.read_csv(path)` into `{ text, label }` rows;
 * labels may be any class index ≥ 0.
 * @throws DataFormatError for a wrong header, a bad label or a row with a wrong field count.
 */
export function parseTextLabelCsv(text: string, source = "CSV"): TextLabel[] {
  return parseRows(text, source, Number.MAX_SAFE_INTEGER);
}
