/**
 * Models for the engine tests: test/fixtures/engine/tiny-reference.json (scripts/fixtures/engine_reference.py)
 * as a parameter map, and random tfjs GPTModel classifiers.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { tf, GPTModel, type GPTConfig } from "llm-spam-classifier";

export interface TinyReference {
  config: {
    vocab_size: number;
    context_length: number;
    emb_dim: number;
    n_heads: number;
    n_layers: number;
    drop_rate: number;
    qkv_bias: boolean;
  };
  state_dict: Record<string, number[] | number[][]>;
  trainable: string[];
  batches: Array<{ ids: number[][]; labels: number[] }>;
  logits: number[][][];
  last_logits: number[][];
  loss: number;
  grads: Record<string, number[] | number[][]>;
  adamw: {
    lr: number;
    weight_decay: number;
    losses: number[];
    params_after: Record<string, number[] | number[][]>;
    last_logits_after_batch2: number[][];
  };
}

export function readTinyReference(): TinyReference {
  return JSON.parse(
    fs.readFileSync(path.join(__dirname, "..", "fixtures", "engine", "tiny-reference.json"), "utf8"),
  ) as TinyReference;
}

/** Linear weights: PyTorch [out, in] → ours [in, out]. */
export function isLinearName(name: string): boolean {
  return /\.(W_query|W_key|W_value|out_proj)\.weight$|\.ff\.layers\.\d+\.weight$|^out_head\.weight$/.test(name);
}

/** A PyTorch-layout tensor value as our layout (transposing Linear weights). */
export function ourLayout(name: string, value: number[] | number[][]): tf.Tensor {
  const t = tf.tensor(value);
  if (!isLinearName(name)) return t;
  const r = tf.transpose(t);
  t.dispose();
  return r;
}

type Nested = ArrayLike<number> | Nested[];

/** Max |a - b| over two (nested) arrays or typed arrays, flattened. */
export function maxAbsDiff(a: Nested, b: Nested): number {
  const flat = (x: Nested): number[] => (Array.isArray(x) ? ((x as unknown[]).flat(3) as number[]) : Array.from(x));
  const fa = flat(a),
    fb = flat(b);
  if (fa.length !== fb.length) throw new Error(`length ${fa.length} vs ${fb.length}`);
  return fa.reduce((m, v, i) => Math.max(m, Math.abs(v - fb[i])), 0);
}

/** A parameter-map model with the fixture's weights and the book's freezing (GptLike for the engine). */
export function fixtureParamsModel(ref: TinyReference, opts: { dropRate?: number } = {}) {
  const c = ref.config;
  const cfg = {
    vocabSize: c.vocab_size,
    contextLength: c.context_length,
    embDim: c.emb_dim,
    nHeads: c.n_heads,
    nLayers: c.n_layers,
    dropRate: opts.dropRate ?? c.drop_rate,
    qkvBias: c.qkv_bias,
  };
  const trainable = new Set(ref.trainable);
  const params = new Map<string, tf.Variable>();
  for (const [name, value] of Object.entries(ref.state_dict)) {
    const t = ourLayout(name, value);
    params.set(name, tf.variable(t, trainable.has(name)));
    t.dispose();
  }
  return { cfg, params, dispose: () => params.forEach((v) => v.dispose()) };
}

/**
 * A GPTModel with every parameter random (N(0, 0.2); LayerNorm scales around 1), the book's freezing
 * (last block, final norm and head trainable) and a 2-class head (`headBias` default true).
 */
export function randomClassifier(cfg: GPTConfig, opts: { headBias?: boolean } = {}): GPTModel {
  const model = new GPTModel(cfg, { seed: 5 });
  let seed = 100;
  for (const [name, v] of model.params) {
    const init = name.endsWith(".scale")
      ? tf.add(1, tf.randomNormal(v.shape, 0, 0.2, "float32", seed++))
      : tf.randomNormal(v.shape, 0, 0.2, "float32", seed++);
    model.setParam(name, init);
    init.dispose();
  }
  model.freezeAll();
  model.replaceOutHead(2, { seed: 9, bias: opts.headBias ?? true });
  model.setTrainable([`trf_blocks.${cfg.nLayers - 1}`, "final_norm", "out_head"]);
  return model;
}
