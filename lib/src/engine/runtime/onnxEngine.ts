/**
 * Runs (part of) a GPTModel with ONNX Runtime: `OnnxGptEngine.create(model, part)` builds the graph from the
 * model's current weights and opens a session; `run(...)` evaluates batches. Inference only (no gradients).
 * Weights beyond what a protobuf holds (2 GB: GPT-2 774M and up) are fed as inputs at each run, straight from
 * the model's arrays (a frozen model's weights then live once, in JS memory, not copied into the session).
 */
import { buildGptOnnx, BuildGptOnnxOptions, GptWeights, resolvePart, ResolvedPart } from "../onnx/onnxGpt";
import { createOrtSession, loadOnnxRuntime, OrtSession, OrtSessionOptions } from "./onnxRuntime";
import { BackendError, ShapeMismatchError } from "../../errors";
import { readableOnHost } from "../../webgpuAdapter";
import { MAX_INITIALIZER_BYTES } from "../onnx/trainingGraph";

type OrtTensor = InstanceType<NonNullable<ReturnType<typeof loadOnnxRuntime>>["Tensor"]>;

/** Options for `OnnxGptEngine.create`. */
export interface OnnxGptEngineOptions extends BuildGptOnnxOptions, OrtSessionOptions {
  /**
   * The weights as "initializers" in the model (ONNX Runtime keeps its copy) or graph "inputs" fed from the
   * model's arrays at every run; default: inputs when they exceed what a protobuf holds (MAX_INITIALIZER_BYTES).
   */
  weights?: "initializers" | "inputs";
}

/** An ONNX Runtime session over part of a GPT model. Call `release()` when done (frees ORT's copy of the weights). */
export class OnnxGptEngine {
  private constructor(
    private session: OrtSession | undefined,
    /** The part of the model this engine computes. */
    readonly part: ResolvedPart,
    /** Embedding size. */
    readonly embDim: number,
    /** Output width: embDim for hidden states, the head's outDim for logits. */
    readonly outDim: number,
    /** Size of the serialised model in bytes (≈ the weights it holds as initializers). */
    readonly modelBytes: number,
    /** Weights fed at every run (those beyond a protobuf's 2 GB), by name. */
    private readonly weightFeeds: Record<string, OrtTensor> = {},
    /** Depths whose hidden states `runKeeping` also returns (BuildGptOnnxOptions.keepBefore). */
    readonly keepBefore: readonly number[] = [],
  ) {}

  /**
   * Builds and opens an engine.
   * @param model GPTModel (weights are read now; later weight changes are not seen)
   * @throws BackendError when onnxruntime-node is unavailable; ConfigError for an invalid part
   */
  static async create(model: GptWeights, opts: OnnxGptEngineOptions = {}): Promise<OnnxGptEngine> {
    if (!loadOnnxRuntime()) throw new BackendError("onnxruntime-node is unavailable; use the tfjs path");
    const ort = loadOnnxRuntime()!;
    const part = resolvePart(model.cfg, opts);
    // The graph's initializers read the weights synchronously: on WebGPU, read them to the host first.
    await readableOnHost(model.params.values());
    const inPart = [...model.params.keys()].filter((n) => partHasParam(part, model.cfg.nLayers, n));
    const partBytes = inPart.reduce((a, n) => a + 4 * model.params.get(n)!.shape.reduce((x, d) => x * d, 1), 0);
    const asInputs = (opts.weights ?? (partBytes > MAX_INITIALIZER_BYTES ? "inputs" : "initializers")) === "inputs";
    const weightInputs = asInputs ? inPart : [];
    // Weights as inputs: three Q/K/V MatMuls, no concatenation of them in the session (measured on 1558M's prefix:
    // peak RSS 6.7 GB instead of 9.6 GB, and faster).
    const bytes = buildGptOnnx(
      model,
      weightInputs.length ? { ...opts, paramInputs: weightInputs, fuseLinear: false } : opts,
    );
    const size = bytes.byteLength;
    const session = await createOrtSession(bytes, opts);
    const feeds: Record<string, OrtTensor> = {};
    for (const n of weightInputs) {
      const p = model.params.get(n)!;
      feeds[n] = new ort.Tensor("float32", p.dataSync() as Float32Array, [...p.shape]);
    }
    const outDim = part.head ? model.params.get("out_head.weight")!.shape[1] : model.cfg.embDim;
    const keep = [...new Set(opts.keepBefore ?? [])].sort((a, b) => a - b);
    return new OnnxGptEngine(session, part, model.cfg.embDim, outDim, size, feeds, keep);
  }

  /** True when the input is token ids (the part starts with the embeddings). */
  get takesTokenIds(): boolean {
    return this.part.embed;
  }

  /**
   * Runs one batch.
   * @param input token ids (Int32Array, row-major [batch, seq]) or hidden states (Float32Array [batch, seq, E])
   * @param batch number of sequences; seq = input.length / batch (/ E for hidden states)
   * @returns row-major Float32Array: hidden [batch, seq, E], logits [batch, seq, outDim] or [batch, outDim] (lastTokenOnly)
   * @throws ShapeMismatchError for a wrong input kind or length
   */
  async run(input: Int32Array | Float32Array, batch: number): Promise<Float32Array> {
    return (await this.runKeeping(input, batch)).out;
  }

  /**
   * Runs one batch like `run`, and also returns the hidden states the engine keeps (its `keepBefore` depths).
   * @returns `out` as `run` returns it, and `kept`: depth → hidden states [batch, seq, E] entering that block
   */
  async runKeeping(
    input: Int32Array | Float32Array,
    batch: number,
  ): Promise<{ out: Float32Array; kept: Map<number, Float32Array> }> {
    const ort = loadOnnxRuntime()!;
    if (!this.session) throw new BackendError("OnnxGptEngine was released");
    const perSeq = this.takesTokenIds ? 1 : this.embDim;
    const seq = input.length / (batch * perSeq);
    if (!Number.isInteger(seq) || seq < 1)
      throw new ShapeMismatchError(`input of ${input.length} values does not split into ${batch} sequences`);
    let feeds: Record<string, InstanceType<typeof ort.Tensor>>;
    if (this.takesTokenIds) {
      if (!(input instanceof Int32Array)) throw new ShapeMismatchError("this engine takes token ids (Int32Array)");
      feeds = { ...this.weightFeeds, input_ids: new ort.Tensor("int32", input, [batch, seq]) };
    } else {
      if (!(input instanceof Float32Array))
        throw new ShapeMismatchError("this engine takes hidden states (Float32Array)");
      feeds = { ...this.weightFeeds, hidden_in: new ort.Tensor("float32", input, [batch, seq, this.embDim]) };
    }
    const name = this.part.head ? "logits" : "hidden";
    const out = await this.session.run(feeds, [name, ...this.keepBefore.map((k) => `hidden_${k}`)]);
    return {
      out: out[name].data as Float32Array,
      kept: new Map(this.keepBefore.map((k) => [k, out[`hidden_${k}`].data as Float32Array])),
    };
  }

  /** Frees the session (idempotent). */
  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }
}

/** Whether parameter `name` belongs to a part of the model (its embeddings, blocks, final norm and head). */
function partHasParam(part: ResolvedPart, nLayers: number, name: string): boolean {
  const block = /^trf_blocks\.(\d+)\./.exec(name);
  if (block) return Number(block[1]) >= part.fromBlock && Number(block[1]) < part.toBlock;
  if (name.startsWith("tok_emb.") || name.startsWith("pos_emb.")) return part.embed;
  return part.head && part.toBlock === nLayers; // final_norm, out_head
}
