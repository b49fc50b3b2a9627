import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BertTokenizer, bertTokenizerJson, ConfigError, DataFormatError } from "llm-spam-classifier";
import { BERT_FIXTURES } from "./fixture";

// WordPiece uncased as BertTokenizerFast does it, on the fixture's small vocabulary (vocab.txt, written by
// bert_reference.py): [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3; the expected ids are read off that file.
const vocab = fs.readFileSync(path.join(BERT_FIXTURES, "vocab.txt"), "utf8").split("\n");
const tok = BertTokenizer.fromDir(BERT_FIXTURES);
const id = (w: string) => vocab.indexOf(w);

test("lower case, accents stripped, punctuation split, ## continuations, [UNK] for unknown words", () => {
  assert.deepEqual(tok.tokenize("This movie was UNBELIEVABLE!! Café résumé, I don't love it. xyz"), [
    "this",
    "movie",
    "was",
    "un",
    "##believ",
    "##able",
    "!",
    "!",
    "cafe",
    "resume",
    ",",
    "i",
    "don",
    "'",
    "t",
    "love",
    "it",
    ".",
    "[UNK]",
  ]);
  assert.deepEqual(tok.tokenize("Acting acted acts"), ["act", "##ing", "act", "##ed", "act", "##s"]);
  assert.deepEqual(tok.encode("the movie!"), [2, id("the"), id("movie"), id("!"), 3]);
  assert.deepEqual([tok.padId, tok.unkId, tok.clsId, tok.sepId], [0, 1, 2, 3]);
  assert.equal(tok.vocabSize, vocab.filter(Boolean).length);
  assert.equal(tok.decode(tok.encode("The movie was unbelievable!")), "the movie was unbelievable!");
});

test("truncation keeps [CLS] and [SEP] within maxLength; padding to max_length or to the longest", () => {
  assert.deepEqual(tok.encode("this movie was unbelievable", { maxLength: 6 }), [
    2,
    id("this"),
    id("movie"),
    id("was"),
    id("un"),
    3,
  ]);
  assert.equal(tok.encode("this movie was unbelievable", { maxLength: 6, truncation: false }).length, 8);
  const fixed = tok.encodeBatch(["great movie", "bad"], { maxLength: 6 });
  assert.deepEqual([fixed.batchSize, fixed.seqLen], [2, 6]);
  assert.deepEqual([...fixed.inputIds], [2, id("great"), id("movie"), 3, 0, 0, 2, id("bad"), 3, 0, 0, 0]);
  assert.deepEqual([...fixed.attentionMask], [1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0]);
  const longest = tok.encodeBatch(["great movie", "bad"], { padding: "longest" });
  assert.equal(longest.seqLen, 4);
  assert.deepEqual([...longest.inputIds.slice(4)], [2, id("bad"), 3, 0]);
  assert.throws(() => tok.encodeBatch(["great movie", "bad"], { padding: false }), ConfigError);
  assert.throws(() => tok.encode("x", { maxLength: 1 }), ConfigError);
});

test("tokenizer.json and vocab.txt give the same tokenizer; a vocabulary without [CLS] is refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bert-tok-"));
  try {
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(bertTokenizerJson(vocab.filter(Boolean))));
    const fromJson = BertTokenizer.fromDir(dir);
    const text = "I don't love this boring, unbelievable plot!";
    assert.deepEqual(fromJson.encode(text), tok.encode(text));
    fs.writeFileSync(path.join(dir, "tokenizer.json"), "{not json");
    assert.throws(() => BertTokenizer.fromDir(dir), DataFormatError);
    fs.rmSync(path.join(dir, "tokenizer.json"));
    assert.throws(() => BertTokenizer.fromDir(dir), /has neither tokenizer.json nor vocab.txt/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => BertTokenizer.fromVocab(["[PAD]", "[UNK]", "[SEP]", "[MASK]", "a"]), /no \[CLS\] token/);
});
