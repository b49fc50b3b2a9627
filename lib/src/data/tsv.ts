/**
 * A delimited-text reader that follows pandas' C tokenizer with its defaults (quotechar `"`,
 * doublequote, skip_blank_lines). The book reads the SMS file with
 * `pd.read_csv(path, sep="\t", header=None, names=["Label", "Text"])`. pandas' quote rules: a field
 * *starting* with `"` is quoted (the quotes are dropped, `""` is one `"`), text after its closing quote
 * is appended as is, and an unclosed quote runs over line ends. Quotes inside an unquoted field are
 * plain characters. On the SMS Spam Collection (5,574 lines) pandas 1.5.3 reads 5,572 rows, the book's
 * count: of the 54 texts that start with `"`, 43 are quoted from end to end and lose their quotes, 9
 * have their closing quote partway (`"Gimme a few" was ...` becomes `Gimme a few was ...`), and line
 * 5,082's quote never closes, so lines 5,082–5,084 become one row (the field ends at the `"` opening
 * line 5,084's text; the rest of that line is appended). This reader reproduces all three.
 */
import * as fs from "node:fs";
import { DataFormatError } from "../errors";

const enum State { StartRecord, StartField, InField, InQuoted, QuoteInQuoted }

/** Splits `text` into records of fields, like pandas' tokenizer with the given delimiter. */
export function parseDelimited(text: string, delimiter: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = "";
  let state = State.StartRecord;
  const endField = () => { fields.push(field); field = ""; };
  const endRecord = () => { endField(); records.push(fields); fields = []; state = State.StartRecord; };

  for (let i = 0; i < text.length; i++) {
    let c = text[i];
    if (c === "\r" && state !== State.InQuoted) { // \r\n and lone \r end a line, as in pandas (inside quotes they are text)
      if (text[i + 1] === "\n") i++;
      c = "\n";
    }
    switch (state) {
      case State.StartRecord:
        if (c === "\n") break; // blank line: skipped
        state = State.StartField;
      // falls through
      case State.StartField:
        if (c === "\n") endRecord();
        else if (c === '"') state = State.InQuoted;
        else if (c === delimiter) endField();
        else { field += c; state = State.InField; }
        break;
      case State.InField:
        if (c === "\n") endRecord();
        else if (c === delimiter) { endField(); state = State.StartField; }
        else field += c;
        break;
      case State.InQuoted:
        if (c === '"') state = State.QuoteInQuoted;
        else field += c;
        break;
      case State.QuoteInQuoted:
        if (c === '"') { field += '"'; state = State.InQuoted; }
        else if (c === delimiter) { endField(); state = State.StartField; }
        else if (c === "\n") endRecord();
        else { field += c; state = State.InField; }
        break;
    }
  }
  if (state === State.InQuoted) throw new DataFormatError("Unexpected end of file inside a quoted field");
  if (state !== State.StartRecord) endRecord();
  return records;
}

/** One message of the SMS Spam Collection. `index` is pandas' row label (0-based row number). */
export interface SmsRow {
  readonly index: number;
  readonly Label: string;
  readonly Text: string;
}

/**
 * Reads the SMS Spam Collection like the book's
 * `pd.read_csv(path, sep="\t", header=None, names=["Label", "Text"])`: 5,572 rows.
 * @throws DataFormatError for a row that is not `label<TAB>text`.
 */
export function readSmsSpamTsv(text: string): SmsRow[] {
  return parseDelimited(text, "\t").map((fields, index) => {
    if (fields.length !== 2) {
      throw new DataFormatError(`Row ${index} has ${fields.length} fields, expected 2 (label<TAB>text): ${JSON.stringify(fields.join("\t").slice(0, 80))}`);
    }
    return { index, Label: fields[0], Text: fields[1] };
  });
}

/**
 * Reads `SMSSpamCollection.tsv` from disk like the book's `pd.read_csv(...)` (see readSmsSpamTsv).
 * @throws DataFormatError when the file is missing or malformed.
 */
export function readSmsSpamFile(file: string): SmsRow[] {
  if (!fs.existsSync(file)) throw new DataFormatError(`${file} does not exist; run \`npm start -- data\` (or downloadAndUnzipSpamData) first`);
  return readSmsSpamTsv(fs.readFileSync(file, "utf8"));
}

/** Counts of each value, most frequent first, like pandas' `value_counts()`. */
export function valueCounts<T extends string | number>(values: readonly T[]): Array<[T, number]> {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]);
}
