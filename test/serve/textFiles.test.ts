/**
 * The page's file handling (lib/src/serve/page/textFiles.ts, plain functions the browser runs): messages from a
 * .txt or .csv file, and the results as CSV, read back by the same parser and by the project's own CSV reader.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDelimited } from "llm-spam-classifier/data";
import { messagesOfFile, parseCsv, resultsCsv } from "../../lib/src/serve/page/textFiles";

test("a .txt file: one message per line, blank lines dropped, Windows line ends too", () => {
  assert.deepEqual(messagesOfFile("a.txt", "Win now\r\n\r\n  \nsee you\nlast"), ["Win now", "see you", "last"]);
});

test("a .csv file: the text column by its header (any case), else the first column; quoted commas, quotes, line breaks", () => {
  const split = 'Label,Text\n1,"Win £1,000 now"\n0,"He said ""hi""\nthen left"\n';
  assert.deepEqual(messagesOfFile("train.csv", split), ["Win £1,000 now", 'He said "hi" then left']);
  assert.deepEqual(messagesOfFile("x.CSV", "message,score\nhello,1\n"), ["hello"]);
  assert.deepEqual(messagesOfFile("plain.csv", "first message,1\nsecond,0"), ["first message", "second"]);
  assert.deepEqual(parseCsv('a,"b\r\nc",d\r\ne'), [["a", "b\r\nc", "d"], ["e"]]);
});

test("the exported CSV reads back to the same texts, labels and probabilities", () => {
  const rows = [
    { text: 'Win "big", now', label: "spam", spamProbability: 0.98765432 },
    { text: "ok\nsee you", label: "not spam", spamProbability: 0.01 },
  ];
  const csv = resultsCsv(rows);
  assert.deepEqual(parseCsv(csv.trimEnd()), [
    ["text", "label", "spam_probability"],
    ['Win "big", now', "spam", "0.987654"],
    ["ok\nsee you", "not spam", "0.010000"],
  ]);
  assert.deepEqual(parseDelimited(csv, ",").slice(1, 3), parseCsv(csv.trimEnd()).slice(1)); // the library's reader agrees
});
