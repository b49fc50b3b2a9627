/**
 * The BERT parity fixtures (scripts/fixtures/bert_reference.py → test/fixtures/bert/): a tiny BERT classifier
 * in Hugging Face's layout with random weights, its logits, 3 AdamW steps and 3 prompt-tuning steps in PyTorch.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const BERT_FIXTURES = path.join(__dirname, "..", "fixtures", "bert");

export interface BertReference {
  config: Record<string, number>;
  batches: Array<{ inputIds: number[]; labels: number[]; batchSize: number; seqLen: number }>;
  logits: number[][][];
  tokenTypeIds: number[];
  logitsWithTokenTypes: number[][];
  train: { lr: number; weightDecay: number; losses: number[]; logitsAfter: number[][][] };
  prompt: {
    numTokens: number;
    initIds: number[];
    lr: number;
    weightDecay: number;
    maxGradNorm: number;
    losses: number[];
    gradNorms: number[];
    promptAfter: number[];
    logitsAfter: number[][][];
  };
}

export function readBertReference(): BertReference {
  return JSON.parse(fs.readFileSync(path.join(BERT_FIXTURES, "reference.json"), "utf8")) as BertReference;
}

/** A fixture batch as the data loader gives it. */
export function fixtureBatch(ref: BertReference, i: number) {
  const b = ref.batches[i];
  return {
    inputIds: Int32Array.from(b.inputIds),
    labels: Int32Array.from(b.labels),
    indices: b.labels.map((_, j) => j),
    batchSize: b.batchSize,
    seqLen: b.seqLen,
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
