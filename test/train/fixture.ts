/** The PyTorch training fixture (scripts/fixtures/train_reference.py) as our types. */
import * as fs from "node:fs";
import * as path from "node:path";
import { loadClassifier, type Batch, type DataLoader } from "llm-spam-classifier";

export const FIX = path.join(__dirname, "..", "fixtures", "train");

export interface TrainFixture {
  steps: number;
  lr: number;
  weight_decay: number;
  losses: number[];
  final_logits: number[][][];
  initial_eval: { acc2: number; acc3: number; loss2: number; loss3: number };
  final_eval: { acc2: number; acc3: number; loss2: number; loss3: number };
  batches: Array<{ inputIds: number[]; labels: number[] }>;
}

/** torch.optim.AdamW on two fixed tensors (adamw.json): start values, shapes, settings, per-step gradients, end values. */
export interface AdamWFixture {
  init: number[][];
  shapes: number[][];
  lr: number;
  weight_decay: number;
  grads: number[][][];
  final: number[][];
}

export const ref = JSON.parse(fs.readFileSync(path.join(FIX, "train_steps.json"), "utf8")) as TrainFixture;
export const adamRef = JSON.parse(fs.readFileSync(path.join(FIX, "adamw.json"), "utf8")) as AdamWFixture;

/** The fixture's three fixed batches of 4 × 10 tokens. */
export const batches: Batch[] = ref.batches.map((b, i) => ({
  inputIds: Int32Array.from(b.inputIds),
  labels: Int32Array.from(b.labels),
  indices: [0, 1, 2, 3].map((k) => i * 4 + k),
  batchSize: 4,
  seqLen: 10,
}));

/** A loader over the fixed batches, in order (PyTorch's loop without shuffling). */
export function fixedLoader(list: Batch[] = batches): DataLoader {
  return {
    length: list.length,
    batchSize: list[0]?.labels.length ?? 0,
    dataset: { maxLength: list[0]?.seqLen ?? 0 },
    *[Symbol.iterator]() {
      yield* list;
    },
  } as unknown as DataLoader;
}

/** The fixture's classifier with the book's trainable layers (last block, final norm, head). */
export function fixtureModel() {
  const { model } = loadClassifier(FIX);
  model.setTrainable(["trf_blocks.1", "final_norm", "out_head"]);
  return model;
}

export const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;
