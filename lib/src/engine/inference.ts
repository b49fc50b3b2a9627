/**
 * Gradient-free inference on ONNX Runtime: classifying texts (book 6.8) and greedy generation (4.7, used
 * in 6.4), with the same inputs, padding and argmax as the tfjs functions `classifyWithProbability` and
 * `generateText`. One session over the whole model (embeddings → blocks → final norm → head, the head at
 * the last position only) serves every text or token. Building it serialises the weights and opens the
 * session (2–6 s for 124M), after which a 120-token forward takes ~0.17 s against 2–4 s on tfjs-wasm:
 * worth it from a few texts or a few dozen new tokens on (the CLI's `--engine auto`).
 */
import { ConfigError } from "../errors";
import {
  checkTokenIds,
  encodeForClassification,
  readsLastToken,
  type ClassifierInputModel,
  type ClassifyOptions,
} from "../model/classifierInput";
import { getTokenizer, textToTokenIds, tokenIdsToText, type Tokenizer } from "../tokenizer";
import { OnnxGptEngine } from "./runtime/onnxEngine";
import type { GptWeights } from "./onnx/onnxGpt";

/** A GPTModel or its weights as arrays (ArrayGpt), with what the classifier was trained with. */
export type InferenceModel = GptWeights & ClassifierInputModel & { readonly outDim: number };

/** Last-position logits of the whole model on ONNX Runtime. */
async function lastTokenEngine(model: GptWeights): Promise<OnnxGptEngine> {
  // "basic" graph optimisation: the same run time as "all" here, half the build time with the 50,257-way head.
  return OnnxGptEngine.create(model, { head: true, lastTokenOnly: true, optimization: "basic" });
}

/** A classification result: the book's label and the softmax probability of "spam". */
export interface Classification {
  label: "spam" | "not spam";
  spamProbability: number;
}

/** Softmax of two logits, computed as tfjs does (max subtracted), as the spam probability. */
function spamProbability(notSpam: number, spam: number): number {
  const m = Math.max(notSpam, spam),
    a = Math.exp(notSpam - m),
    b = Math.exp(spam - m);
  return Math.fround(b / (a + b));
}

/**
 * The fine-tuned classifier on ONNX Runtime (the weights are read at creation; later changes are not seen).
 * Create with `OnnxClassifier.create(model)`, call `release()` when done.
 */
export class OnnxClassifier {
  private constructor(
    private readonly engine: OnnxGptEngine,
    private readonly model: InferenceModel,
  ) {}

  /**
   * @throws BackendError when onnxruntime-node is unavailable (use classifyWithProbability, tfjs)
   */
  static async create(model: InferenceModel): Promise<OnnxClassifier> {
    if (model.outDim !== 2)
      throw new ConfigError(
        `A spam classifier has 2 outputs; this model has ${model.outDim} (load the fine-tuned classifier)`,
      );
    if (!readsLastToken(model))
      throw new ConfigError(
        "This classifier was trained as a variant (its readout, mask or padding is not the chapter's): classify it with tfjs (--engine tfjs)",
      );
    return new OnnxClassifier(await lastTokenEngine(model), model);
  }

  /**
   * Classifies texts, 8 per batch. Same tokens, truncation and padding as `classifyReview` (6.8).
   * @throws ConfigError for an empty or untokenizable text (before any work)
   */
  async classify(
    texts: readonly string[],
    tokenizer: Tokenizer = getTokenizer(),
    opts: ClassifyOptions = {},
  ): Promise<Classification[]> {
    return this.classifyEncoded(texts.map((t) => encodeForClassification(t, this.model, tokenizer, opts)));
  }

  /**
   * Classifies rows of token ids as `encodeForClassification` makes them (all of one length), 8 per forward pass.
   * @throws ConfigError when the rows differ in length
   */
  async classifyEncoded(rows: ReadonlyArray<readonly number[]>): Promise<Classification[]> {
    if (rows.some((r) => r.length !== rows[0].length))
      throw new ConfigError("classifyEncoded needs rows of one length (padded as encodeForClassification does)");
    const out: Classification[] = [];
    for (let i = 0; i < rows.length; i += 8) {
      const batch = rows.slice(i, i + 8);
      const logits = await this.engine.run(Int32Array.from(batch.flat()), batch.length);
      for (let r = 0; r < batch.length; r++) {
        const p = spamProbability(logits[2 * r], logits[2 * r + 1]);
        out.push({ label: logits[2 * r + 1] > logits[2 * r] ? "spam" : "not spam", spamProbability: p });
      }
    }
    return out;
  }

  /** Frees the session (idempotent). */
  release(): Promise<void> {
    return this.engine.release();
  }
}

/** Result of `generateTextOnnx`. */
export interface Generation {
  /** Prompt + continuation, decoded. */
  text: string;
  /** Prompt ids followed by the new ones. */
  tokenIds: number[];
  /** Logits at the prompt's last position (whose argmax is the first new token). */
  firstLogits: Float32Array;
}

/**
 * Greedy generation on ONNX Runtime: the book's generate_text_simple (each new token the argmax of the
 * last position's logits, the context cropped to `contextSize` tokens), text in and out.
 * @param opts `maxNewTokens` (default 15), `contextSize` (default the model's context length), `tokenizer`
 * @throws ConfigError for an empty prompt or ids outside the vocabulary; BackendError without onnxruntime-node
 */
export async function generateTextOnnx(
  model: InferenceModel,
  prompt: string,
  opts: { maxNewTokens?: number; contextSize?: number; tokenizer?: Tokenizer } = {},
): Promise<Generation> {
  const tokenizer = opts.tokenizer ?? getTokenizer();
  const ids = textToTokenIds(prompt, tokenizer, []);
  checkTokenIds(model, ids);
  const contextSize = Math.min(opts.contextSize ?? model.cfg.contextLength, model.cfg.contextLength);
  const engine = await lastTokenEngine(model);
  try {
    const tokens = [...ids],
      maxNew = opts.maxNewTokens ?? 15;
    const next = () => engine.run(Int32Array.from(tokens.slice(-contextSize)), 1);
    const firstLogits = await next();
    let logits = firstLogits;
    for (let step = 0; step < maxNew; step++) {
      if (step > 0) logits = await next();
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v; // the first maximum, like tf.argMax
      tokens.push(best);
    }
    return { text: tokenIdsToText(tokens, tokenizer), tokenIds: tokens, firstLogits };
  } finally {
    await engine.release();
  }
}
