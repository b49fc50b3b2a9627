/**
 * A saved classifier opened for inference, the way `classify` opens it: on ONNX Runtime straight from the saved
 * (or cached) arrays, 8 texts per forward pass, without loading tfjs; on tfjs (`classifyEncoded`, one text at a
 * time) for a bonus-experiment variant ONNX Runtime does not run, or when onnxruntime-node is missing.
 */
import { BackendError } from "../errors";
import type { Classification } from "../engine/inference";
import type { ClassifierInputModel } from "../model/classifierInput";

export interface LoadedClassifier {
  readonly engine: "onnx" | "tfjs";
  /** What `encodeForClassification` reads: trained length, pad id, padding, vocabulary. */
  readonly input: ClassifierInputModel;
  /** Classifies rows of token ids as `encodeForClassification` makes them. */
  classifyRows(rows: number[][]): Promise<Classification[]>;
  /** Frees the session or the model's tensors. */
  release(): Promise<void>;
}

export interface OpenClassifierOptions {
  /** The weight cache folder (see weightCacheDir), or false for none. */
  cacheDir?: string | false;
  /** Initialises tfjs (only called when the tfjs path is needed). */
  initTfjs: () => Promise<unknown>;
  log?: (line: string) => void;
}

/** Opens the classifier saved in `dir` (see the file comment). */
export async function openClassifier(dir: string, o: OpenClassifierOptions): Promise<LoadedClassifier> {
  const { readClassifierArrays, savedVariant } = await import("../train/classifierFile");
  const { ArrayGpt } = await import("../model/arrayModel");
  const { readsLastToken } = await import("../model/classifierInput");
  const { arrays, config } = readClassifierArrays(dir, { cacheDir: o.cacheDir, log: o.log });
  const arrayModel = Object.assign(new ArrayGpt(config.gpt, arrays), savedVariant(config), {
    trainedMaxLength: config.maxLength,
    padTokenId: config.padTokenId,
  });
  if (readsLastToken(arrayModel)) {
    try {
      const { OnnxClassifier } = await import("../engine/inference");
      const onnx = await OnnxClassifier.create(arrayModel);
      return {
        engine: "onnx",
        input: arrayModel,
        classifyRows: (rows) => onnx.classifyEncoded(rows),
        release: () => onnx.release(),
      };
    } catch (err) {
      if (!(err instanceof BackendError)) throw err;
      o.log?.(`ONNX Runtime unavailable (${err.message}): classifying with tfjs`);
    }
  }
  await o.initTfjs();
  const { loadClassifier } = await import("../train/checkpoint");
  const { classifyEncoded } = await import("../train/classify");
  const { model } = loadClassifier(dir, { cacheDir: o.cacheDir });
  return {
    engine: "tfjs",
    input: model,
    classifyRows: (rows) => Promise.resolve(rows.map((r) => classifyEncoded(r, model))),
    release: () => {
      model.dispose();
      return Promise.resolve();
    },
  };
}
