/**
 * Runs (part of) a GPTModel with ONNX Runtime: `OnnxGptEngine.create(model, part)` builds the graph from the
 * model's current weights and opens a session; `run(...)` evaluates batches. Inference only (no gradients).
 */
import { buildGptOnnx, BuildGptOnnxOptions, GptWeights, resolvePart, ResolvedPart } from "../onnx/onnxGpt";
import { createOrtSession, loadOnnxRuntime, OrtSession, OrtSessionOptions } from "./onnxRuntime";
import * as tf from "@tensorflow/tfjs";
import { BackendError, ShapeMismatchError } from "../../errors";
import { readableOnHost } from "../../webgpuAdapter";

/** Options for `OnnxGptEngine.create`. */
export interface OnnxGptEngineOptions extends BuildGptOnnxOptions, OrtSessionOptions {}

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
    /** Size of the serialised model in bytes (≈ the weights). */
    readonly modelBytes: number,
  ) {}

  /**
   * Builds and opens an engine.
   * @param model GPTModel (weights are read now; later weight changes are not seen)
   * @throws BackendError when onnxruntime-node is unavailable; ConfigError for an invalid part
   */
  static async create(model: GptWeights, opts: OnnxGptEngineOptions = {}): Promise<OnnxGptEngine> {
    if (!loadOnnxRuntime()) throw new BackendError("onnxruntime-node is unavailable; use the tfjs path");
    const part = resolvePart(model.cfg, opts);
    // The graph's initializers read the weights synchronously: on WebGPU, read them to the host first.
    await readableOnHost([...model.params.values()].filter((v): v is tf.Tensor => v instanceof tf.Tensor));
    const bytes = buildGptOnnx(model, opts);
    const size = bytes.byteLength;
    const session = await createOrtSession(bytes, opts);
    const outDim = part.head ? model.params.get("out_head.weight")!.shape[1] : model.cfg.embDim;
    return new OnnxGptEngine(session, part, model.cfg.embDim, outDim, size);
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
    const ort = loadOnnxRuntime()!;
    if (!this.session) throw new BackendError("OnnxGptEngine was released");
    const perSeq = this.takesTokenIds ? 1 : this.embDim;
    const seq = input.length / (batch * perSeq);
    if (!Number.isInteger(seq) || seq < 1)
      throw new ShapeMismatchError(`input of ${input.length} values does not split into ${batch} sequences`);
    let feeds: Record<string, InstanceType<typeof ort.Tensor>>;
    if (this.takesTokenIds) {
      if (!(input instanceof Int32Array)) throw new ShapeMismatchError("this engine takes token ids (Int32Array)");
      feeds = { input_ids: new ort.Tensor("int32", input, [batch, seq]) };
    } else {
      if (!(input instanceof Float32Array))
        throw new ShapeMismatchError("this engine takes hidden states (Float32Array)");
      feeds = { hidden_in: new ort.Tensor("float32", input, [batch, seq, this.embDim]) };
    }
    const name = this.part.head ? "logits" : "hidden";
    const out = await this.session.run(feeds, [name]);
    return out[name].data as Float32Array;
  }

  /** Frees the session (idempotent). */
  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }
}
