/**
 * Performance engine: exact fast paths for the chapter's fine-tuning, in four folders:
 *
 * - `onnx/`: the ONNX graph builder (protobuf, `OnnxGraphBuilder`, `OnnxOps`: the model definition's primitives
 *   as ONNX nodes) and the graphs built from the one model definition: the whole or part of GPT-2
 *   (`buildGptOnnx`), the training graph with its backward pass (`buildTrainingGraph`), the cached path's suffix
 *   (`buildSuffixOnnx`);
 * - `runtime/`: running them: loading onnxruntime-node, sessions over a model's weights (`OnnxGptEngine`), tfjs's
 *   matmuls routed to ONNX Runtime (`enableOrtMatMul`);
 * - `cached/`: the fast path: the frozen prefix computed once per text and cached (`PrefixCache`, tfjs worker
 *   threads without ONNX Runtime), the trainable suffix trained from it (`SuffixTrainer`, `FastClassifierPath`);
 * - `trainers/`: what trains: the native trainer of any configuration (`OrtTrainer`), AdamW on Float32Arrays in
 *   WebAssembly memory (`WasmAdamW`), the plain path's native help and the runner interface the training loop sees;
 * - and `inference.ts` beside them: classification and generation without gradients (`OnnxClassifier`).
 *
 * - ONNX export + ONNX Runtime inference of (part of) a GPTModel from its own weights:
 *   `buildGptOnnx(model, { fromBlock, toBlock, head, lastTokenOnly })`, `OnnxGptEngine.create(model, part)`.
 *   Parity with the tfjs model is tested (≤ 1e-4). `loadOnnxRuntime()` returns undefined when
 *   onnxruntime-node cannot load (or `ONNX_DISABLE=1`); every caller then falls back to tfjs.
 * - Frozen-prefix cache + last-position suffix: `createFastClassifierPath(model, opts)` returns a
 *   `FastClassifierPath` when embeddings and blocks 0..L-2 are frozen and dropRate is 0, else `{ reason }`.
 *   Use it like this (the training loop of ch. 6.7):
 *
 *     const fast = await createFastClassifierPath(model, { cacheDir });
 *     if (!("reason" in fast)) {
 *       await fast.precompute(allRowsOfTrainValTest);            // prefix once per distinct sequence
 *       const loss = await fast.trainStep(inputBatch, targetBatch, { lr: 5e-5, weightDecay: 0.1 });
 *       const logits = await fast.logitsLastToken(inputBatch);    // Float32Array [B, classes], no grad
 *       fast.syncToModel();                                       // before saving / using the model itself
 *     }
 *
 *   For a tfjs loop with its own optimizer, the seam is `features = fast.frozenTrunk(inputBatch)` (cache,
 *   no grad) and `logits = fast.suffix(features)` (tfjs, differentiable w.r.t. the model's variables).
 *   lib/src/train/createRunner.ts (FastRunner, createRunner) is the library's user of this API.
 * - Inference without gradients: `OnnxClassifier.create(model)` → `classify(texts)` (6.8, the answers of
 *   `classifyWithProbability`, 8 texts per forward) and `generateTextOnnx(model, prompt, opts)` (greedy, the
 *   tokens of `generateText`); underneath, `OnnxGptEngine.create(model, { head: true, lastTokenOnly: true })`
 *   → `run(tokenIds, batch)` gives the last position's logits [batch, outDim] (ids Int32Array [batch, seq]).
 * - The plain path's native help (`createPlainAcceleration`, used by createRunner for path "plain"): the frozen
 *   trunk on ONNX Runtime for every batch (nothing cached) and tfjs's matmuls on ONNX Runtime.
 * - Native matmuls for plain tfjs code: `enableOrtMatMul()` routes tfjs's BatchMatMul (wasm/cpu backends) with
 *   ≥ 2 MFLOP to ONNX Runtime (~5× on GPT-2 sizes); `disableOrtMatMul()` restores tfjs's kernel.
 * - tfjs-wasm's missing or slow kernels (`registerWasmKernels`, which initBackend calls for the wasm backend).
 * - The runner interface the training loop asks engines for (`ClassifierRunner`, `TrunkEngine`; runnerTypes.ts).
 *
 * Numbers and how to reproduce them: BENCHMARKS.md (`npm run bench`, `npm run bench -- --quick`).
 */
export { OnnxDataType, onnxSchema, onnxType, encodeModel, decodeModel } from "./onnx/onnxProto";
export type { RawInitializer, ModelObject } from "./onnx/onnxProto";
export { OnnxGraphBuilder, ONNX_OPSET, ONNX_IR_VERSION } from "./onnx/onnxGraph";
export {
  loadOnnxRuntime,
  onnxRuntimeUnavailableReason,
  onnxRuntimeVersion,
  createOrtSession,
} from "./runtime/onnxRuntime";
export type { OrtModule, OrtSession, OrtSessionOptions } from "./runtime/onnxRuntime";
export { OnnxOps, concatColumns } from "./onnx/onnxOps";
export type { OnnxValue, OnnxFusion } from "./onnx/onnxOps";
export { buildGptOnnx, resolvePart } from "./onnx/onnxGpt";
export {
  buildTrainingGraph,
  buildClassifierTrainingGraph,
  addRowGradient,
  lossTargets,
  MAX_INITIALIZER_BYTES,
} from "./onnx/trainingGraph";
export type { TrainingGraph, TrainingGraphOptions, ClassifierTrainingSpec, ParamLike } from "./onnx/trainingGraph";
// BERT (model/bert.ts) on ONNX Runtime: its forward and training graphs, and its runner for the training loop.
export { buildBertOnnx, buildBertTrainingGraph, bertClasses } from "./onnx/onnxBert";
export type { BertWeights } from "./onnx/onnxBert";
export { createBertRunner, createBertEvalRunner, bertNativeSpec, hfNoDecay } from "./trainers/bertRunner";
export type { BertRunner, BertRunnerOptions } from "./trainers/bertRunner";
export type { GptLike, GptWeights, OnnxGptPart, BuildGptOnnxOptions, ResolvedPart } from "./onnx/onnxGpt";
export { OnnxGptEngine } from "./runtime/onnxEngine";
export type { OnnxGptEngineOptions } from "./runtime/onnxEngine";
export { lastTokenLogits, normalizeLastAxis } from "./cached/lastTokenSuffix";
export { buildSuffixOnnx, suffixParamNames } from "./onnx/suffixGraph";
export { adamwUpdateInPlace, clipGradNorm, resolveAdamW, resolveFastAdamW } from "./trainers/adamw";
export type { FastAdamWSettings, ResolvedAdamW } from "./trainers/adamw";
export { SuffixTrainer } from "./cached/suffixTrainer";
export { OrtTrainer, createOrtTrainerPath, ortTrainerIneligibility, gptNativeSpec } from "./trainers/ortTrainer";
export type {
  OrtTrainerOptions,
  OrtTrainerModel,
  IdsBatch,
  NativeClassifierSpec,
  DataFeed,
} from "./trainers/ortTrainer";
export { WasmAdamW } from "./trainers/wasmAdamW";
export { AdamWArena } from "./trainers/adamwKernel";
export type { AdamWStepSettings } from "./trainers/adamwKernel";
export { PrefixCache, sequenceKey, rowsOf, hashParams, hashSequences } from "./cached/prefixCache";
export type { TokenBatch, PrefixBatchFn, PrefixFillOptions } from "./cached/prefixCache";
export { FastClassifierPath, createFastClassifierPath, fastPathIneligibility } from "./cached/fastPath";
export type { FastPathModel, FastPathOptions, PrefixStats } from "./cached/fastPath";
export type { PrefixPoolModel } from "./cached/tfjsPrefixPool";
export { enableOrtMatMul, disableOrtMatMul, acquireOrtMatMul, ortMatMulStats } from "./runtime/ortMatMul";
export { registerWasmKernels, registerFastMatMulGradient, unsortedSegmentSumValues } from "../wasmKernels";
export {
  probeWebGpuAdapter,
  describeAdapter,
  isSoftwareAdapter,
  webgpuAdapter,
  assertFitsDevice,
  syncReadsAvailable,
  readableOnHost,
} from "../webgpuAdapter";
export type { GpuAdapterSummary } from "../webgpuAdapter";
export type { ClassifierRunner, TrunkEngine, PlainRunnerOptions } from "./trainers/runnerTypes";
export { createPlainAcceleration } from "./trainers/plainAcceleration";
export type { PlainAcceleration } from "./trainers/plainAcceleration";
export { OnnxClassifier, generateTextOnnx } from "./inference";
export type { Classification, Generation } from "./inference";
export { TfjsPrefixPool } from "./cached/tfjsPrefixPool";
