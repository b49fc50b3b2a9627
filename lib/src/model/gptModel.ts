/**
 * The book's GPT model (chapter 4, used in 6.4) in tfjs: the parameters, and the definition of gpt.ts
 * (layers written once for every engine) run with tfjs's primitives.
 *
 * Parameters live in `params`, keyed by the book's PyTorch `state_dict` names
 * (`trf_blocks.0.att.W_query.weight`, …). One deliberate difference: every Linear weight is stored
 * `[in, out]` (GPT-2's Conv1D layout, `x @ W`), the transpose of PyTorch's `[out, in]`, so the
 * forward pass needs no transposes; `isLinearWeight(name)` tells which tensors that concerns.
 *
 * A parameter is a tf.Variable, or, on a model built `frozen` (for training only part of it), a FrozenParam:
 * its values stay once in a Float32Array outside tfjs (what ONNX Runtime and the JS optimizers read) until a
 * tfjs computation asks for it (`tensor(name)`); `setTrainable` makes the ones that train tf.Variables. So
 * tfjs holds only what trains, and a model larger than the WASM heap can be built for the cached fast path.
 */
import * as tf from "@tensorflow/tfjs";
import { ShapeMismatchError, ConfigError } from "../errors";
import { assertFitsDevice } from "../webgpuAdapter";
import { validateConfig, type GPTConfig } from "./config";
import { filledTensor, type GPTModelOptions } from "./modelInit";
import { isLinearWeight, parameterShapes } from "./parameters";
import { gptBlockParams, gptEmbed, gptFinalNorm, gptForward, gptHead, type Readout } from "./gpt";
import { feedForward, multiHeadAttention, transformerBlock } from "./layers";
import { TfjsOps } from "./tfjsOps";
import { FrozenParam, tensorOf, type ModelParam } from "./frozenParam";

export { isLinearWeight, parameterShapes } from "./parameters";
export type { GPTModelOptions, WeightFill } from "./modelInit";
export { FrozenParam, type ModelParam } from "./frozenParam";

export interface ForwardOptions {
  /** Training mode: dropout is applied when `dropRate > 0`. Default false (the book's `model.eval()`). */
  training?: boolean;
  /** Causal attention mask (default true; false is the bonus experiments' `--disable_causal_mask`). */
  causal?: boolean;
}

/** Options of `GPTModel.classifierLogits`: where the part starts and what the classifier reads. */
export interface ClassifierForwardOptions extends ForwardOptions {
  /** First block (default 0); the input is token ids when the part starts with the embeddings, else hidden states. */
  fromBlock?: number;
  /** Start from token ids with the embeddings (default: fromBlock === 0). */
  embed?: boolean;
  /** Which position(s) become the logits (default the last token, the book's `[:, -1, :]`). */
  readout?: Readout<tf.Tensor>;
}

/** GPT-2: embeddings → transformer blocks → final LayerNorm → output head. Book: GPTModel. */
export class GPTModel {
  readonly cfg: GPTConfig;
  /** Parameters by the book's state_dict names (Linear weights `[in, out]`): tf.Variables or FrozenParams. */
  readonly params = new Map<string, ModelParam>();
  /** Built `frozen`: freezing moves a parameter out of tfjs into a FrozenParam (see the module comment). */
  private readonly frozenOutsideTfjs: boolean;
  private seed: number;
  /** The primitives on tfjs (holds the cached causal masks). */
  private readonly ops = new TfjsOps();

  /**
   * Creates a model with random weights (N(0, 0.02) matrices, zero biases, unit LayerNorm scales), or
   * straight from loaded arrays: every parameter found in `opts.weights` is created from its values (one
   * copy into the backend, no random init that would be overwritten).
   * @param opts `seed` (default 123); `init: "zeros"` skips the random matrices (faster when weights are loaded next);
   *   `init: "pytorch"` draws like PyTorch's default initialisation (the bonus experiments' `--weights random`:
   *   embeddings N(0, 1), Linear weights and biases U(±1/√fan_in); same distributions, tfjs's own random numbers);
   *   `weights` parameter values in our layout by name; `outDim` and `headBias` for a classifier head
   *   (default: the language-model head, `[embDim, vocabSize]` without bias); `frozen` builds every parameter
   *   frozen, held as a Float32Array outside tfjs (given `weights` are kept, not copied; the same values as
   *   without it for a seed), for a model that trains only part of itself (see the module comment).
   * @throws ConfigError for an invalid config; ShapeMismatchError for a weight whose size does not fit its shape.
   */
  constructor(cfg: GPTConfig, opts: GPTModelOptions = {}) {
    this.cfg = validateConfig({ ...cfg });
    this.seed = opts.seed ?? 123;
    this.frozenOutsideTfjs = opts.frozen ?? false;
    const shapes = parameterShapes(this.cfg, opts.outDim, opts.headBias);
    const fanIn = new Map(shapes.map(([n, s]) => [n, s[0]])); // Linear weights are [in, out]
    // Before any buffer exists: on WebGPU a parameter past the adapter's buffer limits would lose the device.
    for (const [name, shape] of shapes) assertFitsDevice(`GPT parameter ${name}`, shape);
    for (const [name, shape] of shapes) {
      const given = opts.weights?.get(name);
      if (given) {
        const size = shape.reduce((a, d) => a * d, 1);
        if (given.length !== size)
          throw new ShapeMismatchError(
            `${name}: ${given.length} values given, shape [${shape.join(",")}] needs ${size}`,
          );
        this.params.set(
          name,
          opts.frozen ? new FrozenParam(given, shape) : tf.tidy(() => tf.variable(tf.tensor(given, shape), true)),
        );
        continue;
      }
      const fillShape = opts.fill?.shapes.get(name);
      if (opts.fill && fillShape) {
        if (fillShape.length !== shape.length || fillShape.some((d, i) => d !== shape[i]))
          throw new ShapeMismatchError(
            `${name}: values of shape [${fillShape.join(",")}], expected [${shape.join(",")}]`,
          );
        const fill = opts.fill;
        if (opts.frozen) {
          const values = new Float32Array(shape.reduce((a, d) => a * d, 1));
          fill.fill(name, values);
          this.params.set(name, new FrozenParam(values, shape));
          continue;
        }
        this.params.set(
          name,
          tf.tidy(() =>
            tf.variable(
              filledTensor(shape, (v) => fill.fill(name, v)),
              true,
            ),
          ),
        );
        continue;
      }
      // One tidy per parameter: the initial value is freed at once, so the (never shrinking) WASM heap
      // holds one copy of the model, not two.
      tf.tidy(() => {
        let init: tf.Tensor;
        if (name.endsWith(".scale")) init = tf.ones(shape);
        else if (name.endsWith(".shift") || opts.init === "zeros") init = tf.zeros(shape);
        else if (opts.init === "pytorch") {
          // PyTorch's defaults (the bonus's `--weights random`): nn.Embedding N(0, 1); nn.Linear weight and bias
          // U(±1/√in) (kaiming_uniform with a = √5); the book's LayerNorm ones and zeros.
          if (!isLinearWeight(name) && name.endsWith(".weight"))
            init = tf.randomNormal(shape, 0, 1, "float32", this.seed++);
          else {
            const bound = 1 / Math.sqrt(fanIn.get(name.replace(/\.bias$/, ".weight"))!);
            init = tf.randomUniform(shape, -bound, bound, "float32", this.seed++);
          }
        } else if (name.endsWith(".bias")) init = tf.zeros(shape);
        else init = tf.randomNormal(shape, 0, 0.02, "float32", this.seed++);
        // Frozen: the values leave tfjs at once (the heap holds one parameter at a time).
        this.params.set(
          name,
          opts.frozen ? new FrozenParam(init.dataSync() as Float32Array, shape) : tf.keep(tf.variable(init, true)),
        );
      });
    }
  }

  /** The parameter `name` (its `shape`, `size`, `trainable`, `dataSync()`). @throws ConfigError when it does not exist. */
  param(name: string): ModelParam {
    const p = this.params.get(name);
    if (!p) throw new ConfigError(`GPTModel has no parameter "${name}"`);
    return p;
  }

  /**
   * The tf.Variable of parameter `name` (for tfjs's gradients and assignments).
   * @throws ConfigError when it does not exist or is frozen outside tfjs (a model built `frozen`).
   */
  variable(name: string): tf.Variable {
    const p = this.param(name);
    if (p instanceof FrozenParam)
      throw new ConfigError(`"${name}" is frozen outside tfjs (setTrainable makes it a variable)`);
    return p;
  }

  /**
   * The parameter `name` as a tfjs tensor, for tfjs computations: the variable, or a frozen parameter's tensor
   * (made once, on the first call). Not to be disposed by the caller. @throws ConfigError when it does not exist.
   */
  tensor(name: string): tf.Tensor {
    return tensorOf(this.param(name));
  }

  /** The tensors tfjs holds for the parameters: the variables, and frozen ones whose tensor tfjs code made. */
  *tfjsTensors(): IterableIterator<tf.Tensor> {
    for (const p of this.params.values())
      if (!(p instanceof FrozenParam)) yield p;
      else if (p.storage === "tfjs") yield p.tensor();
  }

  /** Output size of the head (vocabulary for language modelling, 2 for the classifier). */
  get outDim(): number {
    return this.param("out_head.weight").shape[1]!;
  }

  /**
   * Replaces a parameter's values. `values` is in our layout (`[in, out]` for Linear weights).
   * @throws ShapeMismatchError naming the parameter and both shapes.
   */
  setParam(name: string, values: tf.Tensor | Float32Array, shape?: readonly number[]): void {
    const p = this.param(name);
    const got = values instanceof Float32Array ? [...(shape ?? [values.length])] : values.shape;
    if (got.length !== p.shape.length || got.some((d, i) => d !== p.shape[i])) {
      throw new ShapeMismatchError(
        `Shape mismatch for ${name}: expected [${p.shape.join(",")}], got [${got.join(",")}]`,
      );
    }
    if (p instanceof FrozenParam) p.set(values instanceof Float32Array ? values : (values.dataSync() as Float32Array));
    else tf.tidy(() => p.assign(values instanceof Float32Array ? tf.tensor(values, p.shape) : values));
  }

  // ---- the forward pass: the definition of gpt.ts run with tfjs, in pieces the fast path and the runner reuse ----

  /** This model's parameters as the definition looks them up. */
  private readonly lookup = (name: string): tf.Tensor | undefined => tensorOf(this.params.get(name));

  private dropRate(opts: ForwardOptions): number {
    return opts.training ? this.cfg.dropRate : 0;
  }

  /** Token + position embeddings. idx int32 [B, T] → [B, T, E]. */
  embed(idx: tf.Tensor, opts: ForwardOptions = {}): tf.Tensor3D {
    return tf.tidy(() => gptEmbed(this.ops, this.lookup, this.cfg, idx, this.dropRate(opts)) as tf.Tensor3D);
  }

  /** Causal multi-head self-attention of block i. x [B, T, E] → [B, T, E]. */
  attention(i: number, x: tf.Tensor, opts: ForwardOptions = {}): tf.Tensor {
    const att = gptBlockParams(this.lookup, i, this.cfg.lora).att;
    return multiHeadAttention(this.ops, x, att, {
      nHeads: this.cfg.nHeads,
      causal: opts.causal,
      dropRate: this.dropRate(opts),
    });
  }

  /** The feed-forward network of block i: Linear(E→4E) → GELU (tanh approximation) → Linear(4E→E). */
  feedForward(i: number, x: tf.Tensor): tf.Tensor {
    return feedForward(this.ops, x, gptBlockParams(this.lookup, i, this.cfg.lora).ff);
  }

  /** Transformer block i (pre-LayerNorm, residual connections). [B, T, E] → [B, T, E]. */
  block(i: number, x: tf.Tensor, opts: ForwardOptions = {}): tf.Tensor3D {
    return tf.tidy(
      () =>
        transformerBlock(this.ops, x, gptBlockParams(this.lookup, i, this.cfg.lora), {
          nHeads: this.cfg.nHeads,
          causal: opts.causal,
          dropRate: this.dropRate(opts),
        }) as tf.Tensor3D,
    );
  }

  /** The final LayerNorm. */
  finalNorm(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => gptFinalNorm(this.ops, this.lookup, x));
  }

  /** The output head: [..., E] → [..., outDim]. */
  head(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => gptHead(this.ops, this.lookup, x, this.cfg.lora));
  }

  /** Logits for every position. idx int32 [B, T] → [B, T, outDim]. The caller disposes the result. */
  forward(idx: tf.Tensor, opts: ForwardOptions = {}): tf.Tensor3D {
    return tf.tidy(() => {
      let x: tf.Tensor = this.embed(idx, opts);
      for (let i = 0; i < this.cfg.nLayers; i++) x = this.block(i, x, opts);
      return this.head(this.finalNorm(x)) as tf.Tensor3D;
    });
  }

  /**
   * The classifier's logits [B, C] of part of the model (from block `fromBlock` to the head) at the readout's
   * position(s): the definition's `gptForward` with a readout, whose last block computes only the rows it reads.
   * The caller disposes the result.
   */
  classifierLogits(input: tf.Tensor, opts: ClassifierForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(
      () =>
        gptForward(this.ops, this.lookup, this.cfg, input, {
          fromBlock: opts.fromBlock,
          embed: opts.embed,
          head: true,
          readout: opts.readout ?? { kind: "last" },
          causal: opts.causal,
          dropRate: this.dropRate(opts),
        }) as tf.Tensor2D,
    );
  }

  // ---- trainability (book 6.5) ----

  /** Sets `requires_grad = False` on every parameter (on a model built `frozen`, moving them out of tfjs). */
  freezeAll(): void {
    for (const name of this.params.keys()) this.setParamTrainable(name, false);
  }

  /** Makes the parameters whose name equals or starts with one of `namesOrPrefixes` trainable (or frozen). */
  setTrainable(namesOrPrefixes: readonly string[], trainable = true): void {
    for (const name of this.params.keys()) {
      if (namesOrPrefixes.some((p) => name === p || name.startsWith(p.endsWith(".") ? p : `${p}.`)))
        this.setParamTrainable(name, trainable);
    }
  }

  /**
   * One parameter's `requires_grad`. A trainable one is a tf.Variable (a FrozenParam becomes one); a frozen one
   * on a model built `frozen` leaves tfjs for a FrozenParam, else stays a variable with `trainable = false`.
   */
  private setParamTrainable(name: string, trainable: boolean): void {
    const p = this.params.get(name)!;
    if (p instanceof FrozenParam) {
      if (!trainable) return;
      const values = p.dataSync(),
        shape = p.shape;
      this.params.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(values, shape), true)),
      );
      p.dispose();
    } else if (trainable || !this.frozenOutsideTfjs) p.trainable = trainable;
    else {
      this.params.set(name, new FrozenParam(p.dataSync() as Float32Array, p.shape));
      p.dispose();
    }
  }

  /** The trainable parameters, by name (in model order). */
  trainableParams(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, v] of this.params) if (!(v instanceof FrozenParam) && v.trainable) out.set(name, v);
    return out;
  }

  /** Number of parameter elements (all, or only the trainable ones). */
  numParams(opts: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const v of this.params.values()) if (!opts.trainableOnly || v.trainable) n += v.size;
    return n;
  }

  /**
   * Replaces the output head with a new trainable Linear(embDim → outDim), initialised like PyTorch's
   * nn.Linear (weight and bias uniform in ±1/√embDim). Book: `model.out_head = torch.nn.Linear(768, 2)`, 6.5.
   */
  replaceOutHead(outDim: number, opts: { bias?: boolean; seed?: number } = {}): void {
    if (!(Number.isInteger(outDim) && outDim > 0))
      throw new ConfigError(`outDim must be a positive integer, got ${outDim}`);
    for (const n of ["out_head.weight", "out_head.bias"]) {
      this.params.get(n)?.dispose();
      this.params.delete(n);
    }
    const E = this.cfg.embDim,
      bound = 1 / Math.sqrt(E);
    let seed = opts.seed ?? 123;
    tf.tidy(() => {
      this.params.set(
        "out_head.weight",
        tf.keep(tf.variable(tf.randomUniform([E, outDim], -bound, bound, "float32", seed++), true)),
      );
      if (opts.bias ?? true)
        this.params.set(
          "out_head.bias",
          tf.keep(tf.variable(tf.randomUniform([outDim], -bound, bound, "float32", seed++), true)),
        );
    });
  }

  /** Frees every parameter (and cached masks). */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.ops.dispose();
  }
}
