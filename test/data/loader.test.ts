import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { tf, initBackend, prepareSpamData, SpamDataset, DataLoader, batchTensors, getTokenizer, PAD_TOKEN_ID, type PreparedSpamData } from "llm-spam-classifier";
import { SMS_SPAM_ZIP, tempDir } from "../helpers";

const tmp = tempDir("loader-test-");
let files: PreparedSpamData["files"];
before(async () => {
  await initBackend();
  files = (await prepareSpamData(tmp.dir, { urls: [SMS_SPAM_ZIP], progress: false })).files;
});
after(tmp.cleanup);

test("the pad token is <|endoftext|> = 50256", () => {
  assert.deepEqual(getTokenizer().encode("<|endoftext|>", ["<|endoftext|>"]), [50256]);
  assert.equal(PAD_TOKEN_ID, 50256);
});

test("SpamDataset: max length 120 from the training set, used for validation and test, right-padded", () => {
  // (Speed is measured by `npm run bench`, not asserted here: tokenizing all 1,494 texts takes ≈ 0.2 s.)
  const train = new SpamDataset(files.train.path);
  assert.equal(train.maxLength, 120);
  assert.equal(train.length, 1045);
  const val = new SpamDataset(files.validation.path, undefined, { maxLength: train.maxLength });
  assert.equal(val.maxLength, 120);
  const ids = getTokenizer().encode(train.texts[0]);
  assert.deepEqual(Array.from(train.encodedTexts[0].slice(0, ids.length)), ids);
  assert.ok(train.encodedTexts[0].slice(ids.length).every((t) => t === PAD_TOKEN_ID));
  assert.ok(train.encodedTexts.every((e) => e.length === 120));
});

test("SpamDataset truncates to a given max length", () => {
  const short = new SpamDataset(files.test.path, undefined, { maxLength: 5 });
  const ids = getTokenizer().encode(short.texts.find((t) => getTokenizer().encode(t).length > 5)!);
  assert.ok(ids.length > 5);
  assert.ok(short.encodedTexts.every((e) => e.length === 5));
  assert.throws(() => new SpamDataset(files.test.path, undefined, { maxLength: 0 }), RangeError);
});

test("loaders give 130 / 19 / 38 batches of [8,120] and [8]; drop_last only for train", () => {
  const train = new SpamDataset(files.train.path);
  const val = new SpamDataset(files.validation.path, undefined, { maxLength: 120 });
  const test_ = new SpamDataset(files.test.path, undefined, { maxLength: 120 });
  const trainLoader = new DataLoader(train, { batchSize: 8, shuffle: true, dropLast: true, seed: 123 });
  const valLoader = new DataLoader(val, { batchSize: 8 });
  const testLoader = new DataLoader(test_, { batchSize: 8 });
  assert.deepEqual([trainLoader.length, valLoader.length, testLoader.length], [130, 19, 38]);
  assert.equal([...trainLoader].length, 130);
  const vb = [...valLoader];
  assert.equal(vb.at(-1)!.batchSize, 5); // 149 = 18 * 8 + 5
  assert.equal([...testLoader].at(-1)!.batchSize, 4);
  const first = [...trainLoader][0];
  const before = tf.memory().numTensors;
  const { inputs, targets } = batchTensors(first);
  assert.deepEqual(inputs.shape, [8, 120]);
  assert.equal(inputs.dtype, "int32");
  assert.deepEqual(targets.shape, [8]);
  tf.dispose([inputs, targets]);
  assert.equal(tf.memory().numTensors, before);
});

test("shuffling is seeded, differs between passes, and covers each example once per pass", () => {
  const train = new SpamDataset(files.train.path);
  const a = new DataLoader(train, { shuffle: true, dropLast: true, seed: 123 });
  const b = new DataLoader(train, { shuffle: true, dropLast: true, seed: 123 });
  const a1 = [...a].flatMap((x) => x.indices), a2 = [...a].flatMap((x) => x.indices);
  const b1 = [...b].flatMap((x) => x.indices);
  assert.deepEqual(a1, b1);
  assert.notDeepEqual(a1, a2);
  assert.equal(new Set(a1).size, 1040);
  const plain = [...new DataLoader(train)].flatMap((x) => x.indices);
  assert.deepEqual(plain, Array.from({ length: 1045 }, (_, i) => i));
});
