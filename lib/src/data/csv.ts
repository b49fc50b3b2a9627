/**
 * The split files as pandas writes and reads them: `df.to_csv(path, index=None)` (header
 * `Label,Text`, minimal quoting, `\n` line ends) and `pd.read_csv(path)`.
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
 * Parses a `Label,Text` CSV like `pd.read_csv(path)`.
 * @throws DataFormatError for a wrong header, a bad label or a row with a wrong field count.
 */
export function parseCsv(text: string, source = "CSV"): LabeledText[] {
  const records = parseDelimited(text, ",");
  const header = records.shift();
  if (!header || header.join(",") !== "Label,Text") {
    throw new DataFormatError(`${source}: expected the header "Label,Text", found ${JSON.stringify(header?.join(",") ?? "")}`);
  }
  return records.map((fields, i) => {
    const label = Number(fields[0]);
    if (fields.length !== 2 || !(label === 0 || label === 1) || fields[0].trim() === "") {
      throw new DataFormatError(`${source}, row ${i + 1}: expected "<0|1>,<text>", found ${JSON.stringify(fields.join(",").slice(0, 80))}`);
    }
    return { Label: label, Text: fields[1] };
  });
}
