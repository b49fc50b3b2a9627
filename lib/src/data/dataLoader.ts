/**
 * Section 6.3: a DataLoader like PyTorch's (batch size, shuffle, drop_last). Batches are plain
 * typed arrays; `batchTensors` turns one into tfjs tensors that the caller disposes.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../errors";
import { RandomState } from "./random";
import type { SpamDataset } from "./spamDataset";

export interface Batch {
  /** Token ids, row-major `[batchSize, seqLen]`. */
  readonly inputIds: Int32Array;
  /** Class labels `[batchSize]`. */
  readonly labels: Int32Array;
  /** Positions of these examples in the dataset. */
  readonly indices: readonly number[];
  readonly batchSize: number;
  readonly seqLen: number;
}

export interface DataLoaderOptions {
  batchSize?: number;
  /** Reshuffle at the start of every pass (drawing from one seeded generator, like PyTorch's global RNG). */
  shuffle?: boolean;
  /** Drop the last incomplete batch. */
  dropLast?: boolean;
  /** Seed of the shuffle generator (the book calls torch.manual_seed(123)). */
  seed?: number;
}

/** Iterates over a SpamDataset in batches. Book: torch DataLoader, 6.3 (8 / shuffle / drop_last for train). */
export class DataLoader implements Iterable<Batch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  private readonly rng: RandomState;

  constructor(readonly dataset: SpamDataset, opts: DataLoaderOptions = {}) {
    this.batchSize = opts.batchSize ?? 8;
    if (!(Number.isInteger(this.batchSize) && this.batchSize > 0)) throw new RangeError(`batchSize must be a positive integer, got ${this.batchSize}`);
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.rng = new RandomState(opts.seed ?? 123);
  }

  /** Number of batches per pass (`len(loader)`): 130 / 19 / 38 for the book's splits. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  *[Symbol.iterator](): Iterator<Batch> {
    const n = this.dataset.length;
    const order = this.shuffle ? this.rng.permutation(n) : Array.from({ length: n }, (_, i) => i);
    for (let b = 0; b < this.length; b++) {
      const indices = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
      // Without padding, a batch is as long as its texts (PyTorch's default collate needs them equal).
      const T = this.dataset.encodedTexts[indices[0]].length;
      if (indices.some((i) => this.dataset.encodedTexts[i].length !== T))
        throw new ConfigError(
          "Texts of different lengths in one batch: without padding the batch size must be 1 (the book's --no_padding --batch_size 1)",
        );
      const inputIds = new Int32Array(indices.length * T);
      indices.forEach((idx, row) => inputIds.set(this.dataset.encodedTexts[idx], row * T));
      yield { inputIds, labels: Int32Array.from(indices, (i) => this.dataset.labels[i]), indices, batchSize: indices.length, seqLen: T };
    }
  }
}

/** The batch as tensors: inputs int32 `[B, T]`, targets int32 `[B]`. The caller disposes them. */
export function batchTensors(batch: Batch): { inputs: tf.Tensor2D; targets: tf.Tensor1D } {
  return {
    inputs: tf.tensor2d(batch.inputIds, [batch.batchSize, batch.seqLen], "int32"),
    targets: tf.tensor1d(batch.labels, "int32"),
  };
}
