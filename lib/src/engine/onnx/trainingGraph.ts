/**
 * The ONNX graph of one training step's maths for a GPT classifier: the model definition
 * (lib/src/model/gpt.ts) run with `OnnxOps` under the gradient tape (`DiffOps`), so the graph computes the
 * logits, the mean cross-entropy and the gradient of every trainable parameter. ONNX Runtime then runs
 * the forward and backward passes natively; the optimizer runs outside (Float32Arrays).
 *
 * Trainable parameters are graph inputs (they change every step); frozen ones are initializers, or inputs
 * too when they would not fit in a protobuf (2 GB). The embedding's gradient is a scatter-add of the
 * gathered rows (ScatterND, reduction "add"). Shapes are fixed per graph (batch × seq), which the backward
 * pass of slices and means needs; the forward graph (`buildGptOnnx` with `paramInputs`) keeps them symbolic.
 */
import { ConfigError } from "../../errors";
import { DiffOps, type Tracked } from "../../model/autodiff";
import { gptForward, readoutOf, type ReadoutKind } from "../../model/gpt";
import { crossEntropy } from "../../model/layers";
import { dimProduct, numericDims } from "../../model/ops";
import { OnnxGraphBuilder, ONNX_OPSET } from "./onnxGraph";
import type { GptLike } from "./onnxGpt";
import { OnnxOps, type OnnxValue } from "./onnxOps";
import { OnnxDataType } from "./onnxProto";

/** Frozen weights above this many bytes go in as graph inputs: a protobuf message stops at 2 GB. */
export const MAX_INITIALIZER_BYTES = 1.5 * 2 ** 30;

/** What a training graph computes. */
export interface TrainingGraphOptions {
  /** Sequences per batch. */
  readonly batch: number;
  /** Tokens per sequence. */
  readonly seq: number;
  /** Names of the parameters to differentiate (graph inputs; outputs `grad:<name>`). */
  readonly trainable: readonly string[];
  /** Which position(s) the classifier reads (default "last", the book's). */
  readonly readout?: ReadoutKind;
  /** Causal attention mask (default true). */
  readonly causal?: boolean;
  /** Frozen parameters as "initializers" (default when they fit a protobuf) or graph "inputs". */
  readonly frozen?: "initializers" | "inputs";
}

/** The graph's interface: names of its inputs and outputs. */
export interface TrainingGraph {
  readonly bytes: Uint8Array;
  /** Parameters fed at each run (the trainable ones, and the frozen ones when they are inputs). */
  readonly paramInputs: readonly string[];
  /** True when the graph takes "readout" weights [batch, seq] (flexible and mean readouts). */
  readonly takesReadout: boolean;
  /** Number of classes (the head's outputs). */
  readonly classes: number;
  /**
   * Parameters read only by an embedding lookup: their "grad:<name>" output is the gradient of the rows
   * read, [batch·seq, E], at the token ids of output "ids:<name>" (int32 [batch·seq]); the caller adds
   * them into its dense gradient (`addRowGradient`), so the graph never holds a [V, E] gradient.
   */
  readonly rowGrads: readonly string[];
}

/** Bytes of float32 parameters. */
function bytesOf(model: GptLike, names: Iterable<string>): number {
  let n = 0;
  for (const name of names) n += model.params.get(name)!.size * 4;
  return n;
}

/**
 * Builds the training graph. Inputs: "input_ids" int32 [B, T], "targets" float [B, C] (one-hot), "row_weights"
 * float [B] (each row's weight in the loss, 1/B for the mean; see `lossTargets`), "readout"
 * float [B, T] for flexible/mean readouts, and the parameters in `paramInputs` by their names. Outputs:
 * "loss" (scalar: the weighted sum of the rows' cross-entropies), "logits" [B, C] and "grad:<name>" for each
 * trainable parameter.
 * @throws ConfigError for unknown parameter names or a model without a head
 */
export function buildTrainingGraph(model: GptLike, opts: TrainingGraphOptions): TrainingGraph {
  const cfg = model.cfg;
  const head = model.params.get("out_head.weight");
  if (!head) throw new ConfigError('Model has no parameter "out_head.weight"');
  const classes = head.shape[1] as number;
  for (const n of opts.trainable) if (!model.params.has(n)) throw new ConfigError(`Model has no parameter "${n}"`);
  const trainable = new Set(opts.trainable);
  const frozenNames = [...model.params.keys()].filter((n) => !trainable.has(n));
  const frozenAsInputs =
    (opts.frozen ?? (bytesOf(model, frozenNames) > MAX_INITIALIZER_BYTES ? "inputs" : "initializers")) === "inputs";
  const kind = opts.readout ?? "last";
  const { batch: B, seq: T } = opts;

  const g = new OnnxGraphBuilder("gpt_train");
  // LayerNorm and GELU forward on ONNX Runtime's kernels (their backward passes: layers.ts, by hand).
  const base = new OnnxOps(g, { layerNorm: true, gelu: true });
  const d = new DiffOps(base);
  const paramInputs: string[] = [];
  const made = new Map<string, Tracked<OnnxValue>>();
  const lookup = (name: string): Tracked<OnnxValue> | undefined => {
    const t = model.params.get(name);
    if (!t) return undefined;
    let v = made.get(name);
    if (!v) {
      if (trainable.has(name) || frozenAsInputs) {
        paramInputs.push(name);
        const value = base.input(name, OnnxDataType.FLOAT, t.shape);
        v = trainable.has(name) ? d.variable(value) : d.lift(value);
      } else v = d.lift(base.initializer(name, t.shape, () => t.dataSync() as Float32Array));
      made.set(name, v);
    }
    return v;
  };

  const ids = d.lift(base.input("input_ids", OnnxDataType.INT32, [B, T]));
  const targets = d.lift(base.input("targets", OnnxDataType.FLOAT, [B, classes]));
  // Each row's weight in the loss: 1/B for the book's mean; 0 for an ignored label; ÷ the accumulation steps.
  const rowWeights = d.lift(base.input("row_weights", OnnxDataType.FLOAT, [B]));
  const readout = readoutOf(kind, () => d.lift(base.input("readout", OnnxDataType.FLOAT, [B, T])));
  const logits = gptForward(d, lookup, cfg, ids, { head: true, readout, causal: opts.causal ?? true });
  const loss = crossEntropy(d, logits, targets, rowWeights);
  const names = opts.trainable.filter((n) => lookup(n));
  const grads = d.gradOrRows(
    loss,
    names.map((n) => made.get(n)!),
  );
  base.output(loss.value, "loss");
  base.output(logits.value, "logits");
  const rowGrads: string[] = [];
  names.forEach((n, i) => {
    const grad = grads[i];
    if (typeof grad === "object" && "rows" in grad) {
      rowGrads.push(n);
      const [N] = numericDims([dimProduct(base.shape(grad.ids))], "an embedding's ids");
      const E = model.params.get(n)!.shape[1] as number;
      base.output(base.reshape(grad.rows, [N, E]), `grad:${n}`);
      base.output(base.reshape(grad.ids, [N]), `ids:${n}`);
    } else base.output(grad, `grad:${n}`);
  });
  const bytes = g.build({ docString: `GPT classifier training step (${kind} readout, ${B}x${T})`, opset: ONNX_OPSET });
  return { bytes, paramInputs, takesReadout: kind === "flexible" || kind === "mean", classes, rowGrads };
}

/**
 * Adds a row gradient (rows [N, E] at ids [N]) into a dense gradient [V, E] that was zeroed.
 * @throws ConfigError for an id outside [0, V)
 */
export function addRowGradient(dense: Float32Array, rows: Float32Array, ids: Int32Array, width: number): void {
  const V = dense.length / width;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < V)) throw new ConfigError(`token id ${id} is outside the vocabulary [0, ${V})`);
    const src = i * width,
      dst = id * width;
    for (let j = 0; j < width; j++) dense[dst + j] += rows[src + j];
  }
}

/** How one batch enters the loss: the gradient accumulation's factor and the ignored label. */
export interface LossOptions {
  /** Factor on the loss (the book's `loss /= accumulation_steps`; default 1). */
  readonly lossScale?: number;
  /** Rows with this label are left out of the mean (PyTorch's ignore_index; default -100). */
  readonly ignoreIndex?: number;
}

/**
 * The cross-entropy's targets and row weights for a batch: one-hot rows [B, C] and weights [B] equal to
 * lossScale / n for the n rows whose label is not ignoreIndex, 0 for the ignored ones (NaN everywhere when
 * every row is ignored, as PyTorch's mean over nothing).
 * @throws ConfigError for a label that is neither a class id nor ignored
 */
export function lossTargets(
  labels: ArrayLike<number>,
  classes: number,
  opts: LossOptions = {},
): { targets: Float32Array; rowWeights: Float32Array } {
  const B = labels.length,
    ignore = opts.ignoreIndex ?? -100;
  const targets = new Float32Array(B * classes),
    rowWeights = new Float32Array(B);
  let n = 0;
  for (let b = 0; b < B; b++) {
    const l = labels[b];
    if (l === ignore) continue;
    if (!(Number.isInteger(l) && l >= 0 && l < classes))
      throw new ConfigError(`label ${l} is not a class id in [0, ${classes})`);
    targets[b * classes + l] = 1;
    n++;
  }
  const w = (opts.lossScale ?? 1) / n;
  for (let b = 0; b < B; b++) rowWeights[b] = labels[b] === ignore ? (n ? 0 : NaN) : w;
  return { targets, rowWeights };
}
