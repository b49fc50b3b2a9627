/**
 * How much memory a training configuration needs, estimated before its first step, and the check that
 * turns a configuration this machine cannot hold into one clear error instead of a WASM `Aborted()`.
 *
 * Bytes are counted by where they live:
 * - `tfjs`: tensors held by tfjs. On the wasm backend that is the WASM heap, which cannot grow past
 *   4 GiB − 64 KiB (tfjs-backend-wasm 4.22 is built with a 4 GB maximum; its `getHeapMax()` returns
 *   4294901760 and nothing raises it at run time). On tfjs-node / tfjs-node-gpu / cpu the same tensors
 *   live in native or JS memory, with no heap of their own to fill.
 * - `native`: everything else: the Node.js runtime with the tfjs and ONNX Runtime libraries, ONNX
 *   Runtime's copies of the weights it runs, Float32Array caches and optimizer state kept in JS.
 *
 * Each training path has its own estimator (`estimateTrainingMemory` dispatches on `path.kind`); a new
 * path adds a `kind` to `TrainingPathMemory` and an entry to `ESTIMATORS`. The tfjs figures follow
 * tfjs 4.22's autodiff as measured here (tf.profile peak bytes, GPT-2 124M shapes, batch 8 × 120):
 * they are written as counts per operation with the measured factors named where they are used.
 */
import * as os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { ConfigError, InsufficientMemoryError } from "../errors";
import type { GPTConfig } from "../model/config";
import { parameterShapes } from "../model/gptModel";
import { classifierParamCount, TRAINABLE_CHOICES, trainablePrefixes, type TrainableLayers } from "./classifier";

const F32 = 4;
const GB = 1e9;

/** The plain path (train/runner.ts): the frozen trunk outside the gradient tape, the trainable suffix inside it. */
export interface PlainPathMemory {
  readonly kind: "plain";
  /** Transformer blocks inside the gradient tape: those after the leading frozen ones (runner.ts `frozenTrunkSize`). */
  readonly tapeBlocks: number;
  /** True when the embeddings train: the tape then starts at the token lookup. */
  readonly embeddingsInTape: boolean;
  /** True when ONNX Runtime computes the frozen trunk (it holds its own copy of the trunk's weights). */
  readonly trunkOnOnnx: boolean;
  /** True with gradient accumulation: the gradients summed since the last step stay in tfjs between batches. */
  readonly accumulation?: boolean;
}

/** The exact fast path (engine/cached/fastPath.ts): frozen prefix cached once per text, the suffix on ONNX Runtime. */
export interface FastPathMemory {
  readonly kind: "fast";
  /** Tokens whose prefix output is cached: the summed lengths of every sequence given to precompute. */
  readonly cachedTokens: number;
  /** Blocks in the cached prefix (default nLayers - 1, the book's last-block training). */
  readonly prefixBlocks?: number;
}

/** The native path (engine/trainers/ortTrainer.ts): every layer on ONNX Runtime, forward and backward. */
export interface NativePathMemory {
  readonly kind: "native";
}

/** The training path whose memory is estimated; `kind` selects its estimator. */
export type TrainingPathMemory = PlainPathMemory | FastPathMemory | NativePathMemory;

export interface TrainingMemoryInput {
  readonly cfg: GPTConfig;
  /** Parameter counts of the model as it trains (head included). */
  readonly trainableParams: number;
  readonly totalParams: number;
  /**
   * Elements of frozen parameters held as arrays outside tfjs (a model built `frozen`: FrozenParam), counted as
   * native memory on the paths that run them on ONNX Runtime; default 0 (every parameter a tf.Variable).
   */
  readonly frozenOutsideTfjs?: number;
  readonly batchSize: number;
  /** Tokens per sequence (the padded length of a batch). */
  readonly seqLen: number;
  readonly path: TrainingPathMemory;
}

/** One thing counted by an estimate. */
export interface MemoryItem {
  readonly what: string;
  readonly where: "tfjs" | "native";
  readonly bytes: number;
}

export interface TrainingMemoryEstimate {
  readonly path: TrainingPathMemory["kind"];
  /** Peak bytes of tfjs tensors (the WASM heap on the wasm backend). */
  readonly tfjs: number;
  /** Peak bytes outside tfjs (runtime, ONNX Runtime sessions, JS caches). */
  readonly native: number;
  /** The items of both peaks (the tfjs ones at the step's largest moment). */
  readonly items: readonly MemoryItem[];
}

/**
 * The Node.js process before any model: V8, the tfjs-wasm module, the ONNX Runtime library, the tokenizer
 * and the dataset. Measured: peak RSS of `finetune --smoke` (a 412 k-parameter model) is about 0.35 GB.
 */
const RUNTIME_BYTES = 0.35 * GB;

/**
 * Floats one transformer block's forward pass creates, counted from GPTModel.block's operations with
 * N = B·T tokens (every one a tensor of its own in tfjs, and each an input or output that some gradient
 * needs, so inside a gradient tape all of them stay until the backward pass ends):
 * - 2 LayerNorms, 6·N·E each: x − mean (twice), its square, the quotient, ·scale, +shift;
 * - q, k, v: matmul and bias 6·N·E, their head transposes 3·N·E, kᵀ N·E;
 * - attention scores 4·B·H·T·T: q·kᵀ, /√D, +mask, softmax;
 * - context 4·N·E: weights·v, its transpose, out_proj's matmul and bias;
 * - 2 residual sums 2·N·E;
 * - MLP: Linear E→4E 2·4·N·E (matmul, bias), GELU 9·4·N·E (its nine elementwise ops), Linear 4E→E 2·N·E.
 * In all 74·N·E + 4·B·H·T·T.
 */
export function blockActivationFloats(cfg: GPTConfig, batchSize: number, seqLen: number): number {
  const N = batchSize * seqLen,
    E = cfg.embDim;
  const layerNorms = 2 * 6 * N * E;
  const qkv = 6 * N * E + 3 * N * E + N * E;
  const scores = 4 * batchSize * cfg.nHeads * seqLen * seqLen;
  const context = 4 * N * E;
  const residuals = 2 * N * E;
  const mlp = 2 * 4 * N * E + 9 * 4 * N * E + 2 * N * E;
  return layerNorms + qkv + scores + context + residuals + mlp;
}

/**
 * Bytes one block adds to a gradient tape and its backward pass: tfjs keeps every activation, and its
 * backpropagation keeps the gradient of every activation until the pass ends, with the gradient functions'
 * intermediates (measured 3.1× the activations, within 5% from T = 60 to 240, B = 4 to 8, E = 384 to 768),
 * plus a transposed copy of the block's weights (the matmul gradients).
 */
const TAPE_FACTOR = 3.1;

/** Bytes of a no-gradient forward pass of one block (the frozen trunk, evaluation): measured 1.27× its activations. */
const FORWARD_FACTOR = 1.27;

/**
 * Floats AdamW.step (train/adamw.ts) creates per trainable element: decay, both moments and the update
 * make 14 intermediate tensors, and one tf.tidy spans every parameter, so all of them live until the step ends.
 */
const ADAMW_STEP_TEMPORARIES = 14;

/**
 * ONNX Runtime's sessions hold their initializers, and building one passes the serialized model through JS
 * first: measured peak 1.5 copies of the weights a session runs.
 */
const ORT_WEIGHT_COPIES = 1.5;

/**
 * Weights a session runs beyond a protobuf's 2 GB are fed as inputs from the arrays the model holds (onnxEngine.ts,
 * ortTrainer.ts: MAX_INITIALIZER_BYTES), with no copy in ONNX Runtime; below that, ORT_WEIGHT_COPIES of them.
 */
const SESSION_INITIALIZER_BYTES = 1.5 * 2 ** 30;
const sessionWeightBytes = (bytes: number) => (bytes > SESSION_INITIALIZER_BYTES ? 0 : bytes * ORT_WEIGHT_COPIES);

/**
 * The model's weights by where they live on a path that runs the frozen ones on ONNX Runtime: tf.Variables in
 * tfjs, and a model built `frozen` keeps its frozen ones as arrays outside tfjs.
 */
function weightItems(totalParams: number, frozenOutsideTfjs = 0): MemoryItem[] {
  const items: MemoryItem[] = [
    { what: "weights (tf.Variables)", where: "tfjs", bytes: (totalParams - frozenOutsideTfjs) * F32 },
  ];
  if (frozenOutsideTfjs > 0)
    items.push({ what: "frozen weights (arrays outside tfjs)", where: "native", bytes: frozenOutsideTfjs * F32 });
  return items;
}

/** Parameter elements of one transformer block and of the embeddings, from the model's parameter table. */
function parameterGroups(cfg: GPTConfig): { block: number; embeddings: number } {
  let block = 0,
    embeddings = 0;
  for (const [name, shape] of parameterShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.startsWith("trf_blocks.0.")) block += n;
    else if (name.startsWith("tok_emb.") || name.startsWith("pos_emb.")) embeddings += n;
  }
  return { block, embeddings };
}

type Estimator<P extends TrainingPathMemory> = (input: TrainingMemoryInput & { path: P }) => TrainingMemoryEstimate;

/**
 * The plain path on tfjs: weights as tf.Variables, AdamW's m and v, then the largest of three moments:
 * the frozen trunk's forward pass (one block at a time), the tape with its backward pass (gradients of
 * the trainable parameters accumulating), and AdamW's step. ONNX Runtime's trunk holds a copy of the
 * frozen weights with its working memory natively.
 */
const estimatePlain: Estimator<PlainPathMemory> = ({ cfg, trainableParams, totalParams, batchSize, seqLen, path }) => {
  const N = batchSize * seqLen,
    E = cfg.embDim;
  const groups = parameterGroups(cfg);
  const activations = blockActivationFloats(cfg, batchSize, seqLen);
  const weights = totalParams * F32,
    moments = 2 * trainableParams * F32,
    grads = trainableParams * F32;
  const perBlockTape = (TAPE_FACTOR * activations + groups.block) * F32;
  // The token lookup's gradient: a dense [vocab, E] segment sum and its copy into the heap; ~11·N·E for the
  // embedding activations and their gradients (measured).
  const embeddingTape = path.embeddingsInTape ? (2 * cfg.vocabSize * E + 11 * N * E) * F32 : 0;
  const tape = path.tapeBlocks * perBlockTape + embeddingTape;
  const features = path.embeddingsInTape ? 0 : N * E * F32;
  const phases: Array<[string, number]> = [
    ["the frozen trunk's forward pass, one block at a time", FORWARD_FACTOR * activations * F32 + features],
    [
      `the gradient tape over ${path.tapeBlocks} block${path.tapeBlocks === 1 ? "" : "s"}${path.embeddingsInTape ? " and the embeddings" : ""} with its backward pass, and the gradients`,
      tape + features + grads,
    ],
    ["AdamW's step (gradients and the update's intermediates)", (1 + ADAMW_STEP_TEMPORARIES) * grads],
  ];
  const [peakWhat, peakBytes] = phases.reduce((a, b) => (b[1] > a[1] ? b : a));
  const items: MemoryItem[] = [
    { what: "weights (tf.Variables)", where: "tfjs", bytes: weights },
    { what: "AdamW's m and v", where: "tfjs", bytes: moments },
    ...(path.accumulation
      ? [{ what: "the gradients accumulated since the last step", where: "tfjs" as const, bytes: grads }]
      : []),
    { what: peakWhat, where: "tfjs", bytes: peakBytes },
    { what: "Node.js, tfjs and ONNX Runtime", where: "native", bytes: RUNTIME_BYTES },
  ];
  if (path.trunkOnOnnx) {
    const frozenBlocks = cfg.nLayers - path.tapeBlocks;
    items.push({
      what: "ONNX Runtime's frozen trunk (weights and working memory)",
      where: "native",
      bytes:
        ((groups.embeddings + frozenBlocks * groups.block) * ORT_WEIGHT_COPIES + FORWARD_FACTOR * activations) * F32,
    });
  }
  return summarize("plain", items);
};

/**
 * The fast path: tfjs holds the model's weights only (the suffix trains on ONNX Runtime from Float32Array
 * copies); natively the prefix cache, ONNX Runtime's prefix session while the cache fills, and the suffix's
 * parameters (fed to its sessions as inputs) with the trainable ones' gradient, m and v in JS memory.
 */
const estimateFast: Estimator<FastPathMemory> = ({
  cfg,
  trainableParams,
  totalParams,
  frozenOutsideTfjs,
  batchSize,
  seqLen,
  path,
}) => {
  const E = cfg.embDim;
  const groups = parameterGroups(cfg);
  const activations = blockActivationFloats(cfg, batchSize, seqLen);
  const prefixBlocks = path.prefixBlocks ?? cfg.nLayers - 1;
  const suffixBlocks = cfg.nLayers - prefixBlocks;
  const prefixWeights = groups.embeddings + prefixBlocks * groups.block;
  return summarize("fast", [
    ...weightItems(totalParams, frozenOutsideTfjs),
    { what: "Node.js, tfjs and ONNX Runtime", where: "native", bytes: RUNTIME_BYTES },
    { what: "the cached frozen prefix", where: "native", bytes: path.cachedTokens * E * F32 },
    {
      what: "ONNX Runtime's prefix session while the cache fills",
      where: "native",
      bytes: sessionWeightBytes(prefixWeights * F32) + FORWARD_FACTOR * activations * F32,
    },
    {
      what: "the suffix's parameters and AdamW state",
      where: "native",
      bytes: (suffixBlocks * groups.block + 3 * trainableParams) * F32,
    },
    {
      // Every suffix block before the last computes every position (the last one only the row it reads).
      what: "the suffix's activations kept for the backward pass",
      where: "native",
      bytes: Math.max(0, suffixBlocks - 1) * TAPE_FACTOR * activations * F32,
    },
  ]);
};

/**
 * What ONNX Runtime's training graph keeps per block for its backward pass and uses while running it, as a share of
 * blockActivationFloats (which counts every tfjs operation's output; ONNX Runtime's fused kernels and its memory
 * planner keep far fewer): about 0.5, from peak RSS less the counted weights, gradients and moments of GPT-2 124M
 * with every parameter trained at 8 × 120 (4.35 GB) and of bert-base at 8 × 256 (5.63 GB); 0.6 leaves a margin.
 */
const NATIVE_TAPE_FACTOR = 0.6;

/**
 * The native path: tfjs keeps the model's weights only; ONNX Runtime gets the weights (frozen ones as
 * initializers, trainable ones as inputs), keeps the forward pass's activations of every block for the
 * backward pass, and the gradients and AdamW's m and v live in Float32Arrays.
 */
const estimateNative: Estimator<NativePathMemory> = ({
  cfg,
  trainableParams,
  totalParams,
  frozenOutsideTfjs,
  batchSize,
  seqLen,
}) => {
  const activations = blockActivationFloats(cfg, batchSize, seqLen);
  const frozen = totalParams - trainableParams;
  return summarize("native", [
    ...weightItems(totalParams, frozenOutsideTfjs),
    { what: "Node.js, tfjs and ONNX Runtime", where: "native", bytes: RUNTIME_BYTES },
    // The trainable ones are copied into the optimizer's arrays; the frozen ones are initializers (or fed as they are).
    {
      what: "weights fed to ONNX Runtime",
      where: "native",
      bytes: trainableParams * F32 + sessionWeightBytes(frozen * F32),
    },
    { what: "gradients and AdamW's m and v", where: "native", bytes: 3 * trainableParams * F32 },
    {
      what: "the activations kept for the backward pass",
      where: "native",
      bytes: cfg.nLayers * NATIVE_TAPE_FACTOR * activations * F32,
    },
  ]);
};

function summarize(path: TrainingPathMemory["kind"], items: MemoryItem[]): TrainingMemoryEstimate {
  const sum = (where: MemoryItem["where"]) => items.reduce((a, i) => a + (i.where === where ? i.bytes : 0), 0);
  return { path, tfjs: sum("tfjs"), native: sum("native"), items };
}

/** One estimator per training path (a new path adds its own). */
const ESTIMATORS: { [K in TrainingPathMemory["kind"]]: Estimator<Extract<TrainingPathMemory, { kind: K }>> } = {
  plain: estimatePlain,
  fast: estimateFast,
  native: estimateNative,
};

/**
 * Estimates the peak memory of training a configuration, by where it lives (see the module comment).
 * Arithmetic only: nothing is allocated.
 */
export function estimateTrainingMemory(input: TrainingMemoryInput): TrainingMemoryEstimate {
  const estimator = ESTIMATORS[input.path.kind] as Estimator<TrainingPathMemory>;
  return estimator(input);
}

/** What this machine and backend can hold. */
export interface MemoryLimits {
  /** The tfjs backend (`tf.getBackend()`) the limits apply to. */
  readonly backend: string;
  /** Largest size of the WASM heap on the wasm backend; undefined on backends without one. */
  readonly wasmHeap?: number;
  /** Bytes this process can reach: what it holds now (RSS) plus what the OS has available. */
  readonly available: number;
  /** Physical memory (or the container's limit when lower). */
  readonly total: number;
}

/** tfjs-backend-wasm 4.22's heap maximum (its emscripten build's `getHeapMax()`: 4 GiB − 64 KiB). */
export const WASM_HEAP_MAX_BYTES = 4294901760;

/**
 * The WASM heap limit to plan with: WASM_HEAP_MAX_BYTES, or less when `LLM_WASM_HEAP_LIMIT_MB` says so
 * (for tests and for leaving room; it cannot raise the real maximum).
 * @throws InsufficientMemoryError's parent ConfigError for a value that is not a positive number
 */
export function wasmHeapLimit(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LLM_WASM_HEAP_LIMIT_MB;
  if (raw === undefined || raw.trim() === "") return WASM_HEAP_MAX_BYTES;
  const mb = Number(raw);
  if (!(Number.isFinite(mb) && mb > 0))
    throw new ConfigError(`LLM_WASM_HEAP_LIMIT_MB must be a positive number of megabytes, got "${raw}"`);
  return Math.min(WASM_HEAP_MAX_BYTES, Math.round(mb * 1e6));
}

/** The limits of this machine for a tfjs backend (default: the current one). */
export function machineMemoryLimits(backend: string = tf.getBackend()): MemoryLimits {
  const constrained = process.constrainedMemory?.() ?? 0;
  const total = constrained > 0 ? Math.min(constrained, os.totalmem()) : os.totalmem();
  return {
    backend,
    ...(backend === "wasm" ? { wasmHeap: wasmHeapLimit() } : {}),
    available: Math.min(total, process.memoryUsage().rss + os.freemem()),
    total,
  };
}

/** "1.35 GB", or "12.5 MB" below 0.1 GB. */
export function formatGB(bytes: number): string {
  return bytes >= 0.1 * GB ? `${(bytes / GB).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** One line for logs: the estimate against the limits. */
export function describeTrainingMemory(e: TrainingMemoryEstimate, limits: MemoryLimits): string {
  const heap = limits.wasmHeap !== undefined ? ` (WASM heap, limit ${formatGB(limits.wasmHeap)})` : "";
  return `Memory estimate (${e.path} path): ${formatGB(e.tfjs)} of tfjs tensors${heap} + ${formatGB(e.native)} outside tfjs; ${formatGB(limits.available)} available`;
}

/**
 * The limit an estimate exceeds: this machine's available memory, the WASM heap, or none (undefined). The machine
 * comes first: past it, no other backend would help.
 */
export function exceededLimit(e: TrainingMemoryEstimate, limits: MemoryLimits): "wasmHeap" | "memory" | undefined {
  if (e.tfjs + e.native > limits.available) return "memory";
  return limits.wasmHeap !== undefined && e.tfjs > limits.wasmHeap ? "wasmHeap" : undefined;
}

const itemList = (e: TrainingMemoryEstimate, where: MemoryItem["where"]) =>
  e.items
    .filter((i) => i.where === where)
    .map((i) => `${i.what} ${formatGB(i.bytes)}`)
    .join(" + ");

/**
 * Throws when the estimate does not fit: in the WASM heap (wasm backend) or in the memory this process can
 * reach. The message names the need (how much, where, of what), what is available and the alternatives.
 * @param opts.alternatives specific ones to name first (e.g. `--trainable` choices that fit)
 * @throws InsufficientMemoryError
 */
export function checkTrainingFits(
  e: TrainingMemoryEstimate,
  limits: MemoryLimits = machineMemoryLimits(),
  opts: { alternatives?: readonly string[] } = {},
): void {
  const exceeded = exceededLimit(e, limits);
  // Past the machine's memory, a backend without the WASM heap would not help.
  const onWasm = limits.wasmHeap !== undefined && exceeded === "wasmHeap";
  const alternatives = [
    ...(opts.alternatives ?? ["train fewer layers"]),
    "a smaller batch or shorter texts",
    "a smaller model",
    ...(onWasm
      ? [
          "a training path that keeps the weights and optimizer state outside the WASM heap, where one applies (--path)",
          "a native tfjs backend without the 4 GB heap (--backend tensorflow, after npm install @tensorflow/tfjs-node)",
        ]
      : []),
  ].join("; ");
  if (exceeded === "wasmHeap") {
    throw new InsufficientMemoryError(
      `This training configuration needs about ${formatGB(e.tfjs)} in tfjs's WASM heap (${itemList(e, "tfjs")}), more than its ${formatGB(limits.wasmHeap!)} limit on the wasm backend. Alternatives: ${alternatives}`,
    );
  }
  if (exceeded === "memory") {
    throw new InsufficientMemoryError(
      `This training configuration needs about ${formatGB(e.tfjs + e.native)} of memory (tfjs tensors: ${itemList(e, "tfjs")}; outside tfjs: ${itemList(e, "native")}), more than the ${formatGB(limits.available)} this machine has available (${formatGB(limits.total)} in all). Alternatives: ${alternatives}`,
    );
  }
}

/**
 * The least any path needs to train the `trainable` layers of a classifier built `frozen` (finetune's build): the
 * trainable parameters as tf.Variables, the frozen ones as arrays outside tfjs, the gradients and AdamW's m and v,
 * and the runtime; no activation is counted. finetune checks it before it makes the variables: a set that fails
 * here would abort the WASM heap (or exhaust the machine) while they are made, before the path's own estimate
 * (checkTrainingMemory) could be taken.
 * @throws InsufficientMemoryError with the need, the limit and the alternatives
 */
export function checkTrainableSetFits(
  cfg: GPTConfig,
  trainable: TrainableLayers,
  o: { batchSize: number; seqLen: number; limits?: MemoryLimits; numClasses?: number },
): TrainingMemoryEstimate {
  const limits = o.limits ?? machineMemoryLimits();
  const counts = classifierParamCount(cfg, o.numClasses ?? 2, trainable);
  const items: MemoryItem[] = [
    { what: "trainable weights (tf.Variables)", where: "tfjs", bytes: counts.trainable * F32 },
    { what: "frozen weights (arrays outside tfjs)", where: "native", bytes: (counts.total - counts.trainable) * F32 },
    { what: "Node.js, tfjs and ONNX Runtime", where: "native", bytes: RUNTIME_BYTES },
    { what: "gradients and AdamW's m and v", where: "native", bytes: 3 * counts.trainable * F32 },
  ];
  const e = summarize(
    "native",
    items.filter((i) => i.bytes > 0),
  );
  const fewer = fewerLayersAlternative(cfg, trainable, o, limits);
  checkTrainingFits(e, limits, fewer ? { alternatives: [fewer] } : {});
  return e;
}

/**
 * The plain path's shape for a model whose parameters `trainable` (names) train, by runner.ts's rule: the
 * tape starts at the embeddings when they train, else at the first block with a trainable parameter.
 */
export function plainPathOf(cfg: GPTConfig, trainable: Iterable<string>, trunkOnOnnx: boolean): PlainPathMemory {
  const names = [...trainable];
  const trains = (prefix: string) => names.some((n) => n.startsWith(`${prefix}.`));
  if (trains("tok_emb") || trains("pos_emb") || names.includes("prompt_embeddings"))
    return { kind: "plain", tapeBlocks: cfg.nLayers, embeddingsInTape: true, trunkOnOnnx: false };
  let frozen = 0;
  while (frozen < cfg.nLayers && !trains(`trf_blocks.${frozen}`)) frozen++;
  return {
    kind: "plain",
    tapeBlocks: cfg.nLayers - frozen,
    embeddingsInTape: false,
    trunkOnOnnx: trunkOnOnnx && frozen > 0,
  };
}

/** A model as the estimate needs it (GPTModel). */
interface ModelLike {
  readonly cfg: GPTConfig;
  readonly params: ReadonlyMap<
    string,
    { readonly trainable: boolean; readonly size: number; readonly storage?: "array" | "tfjs" }
  >;
}

/** The input of estimateTrainingMemory for a model as it is set up to train (counts and trainable names from it). */
export function trainingMemoryInput(
  model: ModelLike,
  o: { batchSize: number; seqLen: number } & (
    | { path: "plain"; trunkOnOnnx: boolean }
    | { path: "fast"; cachedTokens: number; prefixBlocks?: number }
    | { path: "native" }
  ),
): TrainingMemoryInput {
  const trainable = [...model.params].filter(([, v]) => v.trainable).map(([n]) => n);
  let totalParams = 0,
    trainableParams = 0,
    frozenOutsideTfjs = 0;
  for (const v of model.params.values()) {
    totalParams += v.size;
    if (v.trainable) trainableParams += v.size;
    else if (v.storage === "array") frozenOutsideTfjs += v.size;
  }
  const path: TrainingPathMemory =
    o.path === "fast"
      ? { kind: "fast", cachedTokens: o.cachedTokens, prefixBlocks: o.prefixBlocks }
      : o.path === "native"
        ? { kind: "native" }
        : plainPathOf(model.cfg, trainable, o.trunkOnOnnx);
  // The plain path runs every layer on tfjs: frozen arrays move into tfjs at their first use there.
  return {
    cfg: model.cfg,
    trainableParams,
    totalParams,
    frozenOutsideTfjs: path.kind === "plain" ? 0 : frozenOutsideTfjs,
    batchSize: o.batchSize,
    seqLen: o.seqLen,
    path,
  };
}

/**
 * The estimate for the chapter's classifier (a `numClasses`-way head with bias) with a `--trainable` choice
 * on the plain path, before any model exists.
 */
export function estimateClassifierTraining(
  cfg: GPTConfig,
  trainable: TrainableLayers,
  o: { batchSize: number; seqLen: number; trunkOnOnnx?: boolean; numClasses?: number },
): TrainingMemoryEstimate {
  const numClasses = o.numClasses ?? 2;
  const prefixes = trainablePrefixes(cfg, trainable);
  const names = parameterShapes(cfg, numClasses, true)
    .map(([n]) => n)
    .filter((n) => n.startsWith("out_head.") || prefixes.some((p) => n === p || n.startsWith(`${p}.`)));
  const counts = classifierParamCount(cfg, numClasses, trainable);
  return estimateTrainingMemory({
    cfg,
    trainableParams: counts.trainable,
    totalParams: counts.total,
    batchSize: o.batchSize,
    seqLen: o.seqLen,
    path: plainPathOf(cfg, names, o.trunkOnOnnx ?? false),
  });
}

/**
 * The `--trainable` choices that train fewer parameters than `current` and fit these limits on the plain
 * path, as one alternative for checkTrainingFits (e.g. `--trainable last-block (about 1.35 GB of tfjs
 * tensors) or last-layer (…)`); undefined when none fits.
 */
export function fewerLayersAlternative(
  cfg: GPTConfig,
  current: TrainableLayers,
  o: { batchSize: number; seqLen: number },
  limits: MemoryLimits,
): string | undefined {
  const now = classifierParamCount(cfg, 2, current).trainable;
  const fits = TRAINABLE_CHOICES.filter((c) => classifierParamCount(cfg, 2, c).trainable < now).flatMap((c) => {
    const e = estimateClassifierTraining(cfg, c, o);
    return exceededLimit(e, limits) === undefined ? [`${c} (about ${formatGB(e.tfjs)} of tfjs tensors)`] : [];
  });
  return fits.length ? `train fewer layers: --trainable ${fits.join(" or ")}` : undefined;
}

/**
 * Before training: estimates the memory of training `model` on `runner`'s path, logs it and throws when it
 * does not fit (see checkTrainingFits).
 * @param o.cachedTokens the fast path's cached tokens (summed sequence lengths); @param o.trainable the
 *   `--trainable` choice, to name the choices that would fit
 * @throws InsufficientMemoryError
 */
export function checkTrainingMemory(
  model: ModelLike,
  runner: {
    readonly kind: "plain" | "fast" | "native";
    readonly trunkKind?: "onnx" | "tfjs";
    /** The fast path's cached blocks. */
    readonly prefixDepth?: number;
  },
  o: {
    batchSize: number;
    seqLen: number;
    cachedTokens?: number;
    trainable?: TrainableLayers;
    /** Gradient accumulation (accumulationSteps > 1): one more set of gradients on the plain path. */
    accumulation?: boolean;
    log?: (line: string) => void;
    limits?: MemoryLimits;
  },
): TrainingMemoryEstimate {
  const limits = o.limits ?? machineMemoryLimits();
  const shape = { batchSize: o.batchSize, seqLen: o.seqLen };
  const input = trainingMemoryInput(
    model,
    runner.kind === "fast"
      ? { ...shape, path: "fast", cachedTokens: o.cachedTokens ?? 0, prefixBlocks: runner.prefixDepth }
      : runner.kind === "native"
        ? { ...shape, path: "native" }
        : { ...shape, path: "plain", trunkOnOnnx: runner.trunkKind === "onnx" },
  );
  const e = estimateTrainingMemory(
    input.path.kind === "plain" && o.accumulation ? { ...input, path: { ...input.path, accumulation: true } } : input,
  );
  o.log?.(describeTrainingMemory(e, limits));
  const fewer = o.trainable && fewerLayersAlternative(model.cfg, o.trainable, shape, limits);
  checkTrainingFits(e, limits, fewer ? { alternatives: [fewer] } : {});
  return e;
}
