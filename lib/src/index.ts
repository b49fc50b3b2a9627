/**
 * llm-spam-classifier: chapter 6 of "Build a Large Language Model (From Scratch)" in TypeScript.
 *
 * This entry holds the chapter's functions, in the book's order (sections 6.2–6.8), with the types of their
 * options and results; then settings, the tfjs backend, the errors and tfjs itself. Notebooks, the CLI and
 * your own projects import from here.
 *
 * Each folder of the library also has its own entry, with everything it exports (the pieces under the
 * chapter's functions, file formats, engine internals):
 *
 *   llm-spam-classifier/data     the dataset: TSV/CSV parsers, pandas' value_counts, zip extraction (6.2–6.3)
 *   llm-spam-classifier/model    the GPT model: configurations, parameter layout, the classifier's input (6.4)
 *   llm-spam-classifier/weights  GPT-2 checkpoints: TF checkpoint (SSTable, CRC32C), safetensors, layouts (6.4)
 *   llm-spam-classifier/train    classifier head, losses, runners, training loop, saving, reports (6.5–6.8)
 *   llm-spam-classifier/plot     Plotly figures and their HTML/PNG rendering (6.7)
 *   llm-spam-classifier/engine   ONNX export, ONNX Runtime sessions, the cached fast path, native kernels
 *   llm-spam-classifier/util     atomic writes, downloads, progress bars, a local file server
 *   llm-spam-classifier/serve    the web app (`npm run ui`): Fastify server, model queue, model cards
 */

// 6.2 The dataset: download, balance, split
export { downloadAndUnzipSpamData, type DownloadSpamOptions } from "./data/download";
export { readSmsSpamFile, type SmsRow } from "./data/tsv";
export {
  createBalancedDataset,
  mapLabels,
  randomSplit,
  splitDataset,
  DATA_SPLITS,
  LABEL_MAP,
  CLASS_NAMES,
  type DataSplit,
  type Splits,
} from "./data/balance";
export { RandomState } from "./data/random";
export {
  writeSplitCsvs,
  readSplitCsv,
  prepareSpamData,
  splitDir,
  SPLIT_NAMES,
  type SplitName,
  type SplitFile,
  type PreparedSpamData,
} from "./data/prepare";

// 6.3 Data loaders: the tokenizer, SpamDataset, DataLoader
export { getTokenizer, textToTokenIds, tokenIdsToText, PAD_TOKEN_ID, END_OF_TEXT, type Tokenizer } from "./tokenizer";
export { SpamDataset, type SpamDatasetOptions } from "./data/spamDataset";
// BERT's WordPiece tokenizer (the IMDb chapter's bert-base-uncased): [CLS] … [SEP], truncation, padding
export { BertTokenizer, bertTokenizerJson, type BertEncodeOptions, type BertEncodedBatch } from "./bertTokenizer";
export { DataLoader, batchTensors, type Batch, type DataLoaderOptions } from "./data/dataLoader";

// 6.4 The pretrained GPT-2: configurations, the model, loading its weights, generating text
export {
  modelConfig,
  BASE_CONFIG,
  MODEL_CONFIGS,
  MODEL_SIZES,
  configFromHparams,
  type GPTConfig,
  type ModelName,
} from "./model/config";
export { GPTModel, type ForwardOptions, type ClassifierForwardOptions } from "./model/gptModel";
export { modelSummary } from "./model/summary";
export { downloadGpt2, ALLOWED_SIZES, type Gpt2Size, type DownloadGpt2Options } from "./weights/downloadGpt2";
export { TfCheckpoint } from "./weights/tfCheckpoint";
export {
  openWeights,
  loadPretrainedGpt2,
  loadPretrainedArrays,
  type Pretrained,
  type PretrainedOptions,
} from "./weights/pretrained";
export { loadWeightsIntoGpt, type WeightSource } from "./weights/loadWeights";
export { generateTextSimple, generateText } from "./model/generate";

// 6.5 The classification head, and which layers train
export {
  prepareClassifier,
  classifierParamCount,
  checkTrainable,
  TRAINABLE_CHOICES,
  type TrainableLayers,
  type PrepareClassifierOptions,
} from "./train/classifier";

// 6.6 Classification loss and accuracy
export { calcLossBatch, type LastTokenLogitsFn } from "./train/runner";
export { calcLossLoader, calcAccuracyLoader, type ModelOrRunner } from "./train/evaluate";

// 6.7 Fine-tuning: the training loop, AdamW, the runners under it, progress and plots
export {
  trainClassifierSimple,
  TrainingInterruptedError,
  type TrainOptions,
  type TrainResult,
  type TrainProgress,
} from "./train/trainClassifier";
export { evaluateModel } from "./train/evaluate";
export { AdamW, type AdamWSettings } from "./train/adamw";
export { createRunner, createPlainRunner, FastRunner, type RunnerOptions } from "./train/createRunner";
export { PlainRunner } from "./train/runner";
export type { ClassifierRunner } from "./engine/trainers/runnerTypes";
export {
  trainingSchedule,
  imdbTrainingSchedule,
  IMDB_CONTEXT_LENGTH,
  type FinetuneDataset,
  createSpamLoaders,
  finetuneClassifier,
  loadOrTrainClassifier,
  type FinetuneOptions,
  type FinetuneResult,
  type SpamLoaderOptions,
} from "./train/finetune";

// The IMDb bonus (ch06/03_bonus_imdb-classification): the movie reviews in the bonus's and Hugging Face's layouts
export {
  prepareImdbData,
  downloadAndExtractImdb,
  loadImdbFolder,
  partitionImdb,
  readImdbArchive,
  imdbHfSubsets,
  readImdbCsv,
  loadImdbSplits,
  loadImdbHf,
  imdbDataPaths,
  IMDB_LABELS,
  IMDB_CLASS_NAMES,
  IMDB_HF_FILES,
  type PreparedImdbData,
  type PrepareImdbOptions,
  type ImdbHfSplits,
  type ImdbCsvFile,
} from "./data/imdb";
export { parseTextLabelCsv, formatTextLabelCsv, type TextLabel } from "./data/csv";

// A Trainer like Hugging Face's (TrainingArguments in camelCase), for GPT-2 and any TrainerModel
export {
  Trainer,
  computeAccuracy,
  listCheckpoints,
  type TrainerOptions,
  type TrainOutput,
  type PredictionOutput,
  type EvalPrediction,
  type ComputeMetrics,
  type Metrics,
  type TrainerState,
} from "./train/trainer";
export {
  resolveTrainingArguments,
  trainingPlan,
  type TrainingArguments,
  type ResolvedTrainingArguments,
  type TrainingPlan,
} from "./train/trainingArguments";
export {
  GPT2ForSequenceClassification,
  type TrainerModel,
  type GPT2ForSequenceClassificationOptions,
} from "./train/trainerModel";

// The bonus experiments' variants (ch06/02_bonus_additional-experiments): readouts, layers, padding, accumulation, …
export {
  resolveFinetuneVariant,
  randomGpt2,
  type FinetuneVariant,
  type ResolvedFinetuneVariant,
} from "./train/finetune";
export { READOUT_CHOICES, type ReadoutKind } from "./model/gpt";
export { checkAccumulationSteps } from "./train/trainClassifier";
export { pathLimits, type RunnerNeeds } from "./train/createRunner";
export type { ClassifierHeadOptions, TrainStepOptions } from "./engine/trainers/runnerTypes";
export { trainingProgress, type TrainingProgressOptions } from "./train/progress";
export { plotValues, trainingFigures, type PlotlyFigure, type TrainingCurves } from "./plot/plotValues";
export { showPlot, writePlotHtml, writePlotPng } from "./plot/render";

// 6.8 Using the classifier: classifying texts (tfjs, or ONNX Runtime for many), saving and loading it
export {
  classifyReview,
  classifyWithProbability,
  classifyEncoded,
  classifyWithProbabilityAsync,
  classifyReviewAsync,
} from "./train/classify";
export { explainByOcclusion, type Explanation, type TokenInfluence, type ScoredText } from "./train/explain";
export type { ClassifyOptions, ClassifierModel } from "./model/classifierInput";
export { OnnxClassifier, type Classification } from "./engine/inference";
export {
  saveClassifier,
  saveClassifierAsync,
  loadClassifier,
  type ClassifierConfig,
  type SaveClassifierOptions,
} from "./train/checkpoint";

// The bonus material's additional experiments (ch06/02): the 19-row table as options, and its runner
export {
  EXPERIMENTS,
  SMOKE_ROWS,
  IMDB_EXPERIMENTS,
  IMDB_SMOKE_ROWS,
  experimentTable,
  runExperiments,
  experimentBlocker,
  experimentsMarkdown,
  experimentRow,
  type ExperimentOptions,
  type ExperimentRow,
  type ExperimentRecord,
  type ExperimentsReport,
  type RunExperimentsOptions,
} from "./train/experiments";

// Appendix E: LoRA (every Linear wrapped, only A and B train), merging, adapters saved on their own;
// prompt tuning (a learned soft prompt before the text, everything else frozen)
export { replaceLinearWithLora, mergeLora, loraParamCount, type LoraSettings, type LoraScaling } from "./model/lora";
export {
  prepareLoraClassifier,
  saveLoraAdapter,
  saveLoraAdapterAsync,
  loadLoraAdapter,
  type LoraOptions,
  type LoraCounts,
  type LoraAdapterConfig,
} from "./train/lora";
export { addSoftPrompt, promptParamCount } from "./model/promptTuning";
export {
  preparePromptTuningClassifier,
  saveSoftPrompt,
  saveSoftPromptAsync,
  loadSoftPrompt,
  type PromptTuningOptions,
  type SoftPromptConfig,
} from "./train/promptTuning";

// Settings: folders, download URLs, smoke mode (the package's tiny GPT-2 and dataset copy, served locally)
export {
  getSettings,
  parseFlag,
  SMS_SPAM_URL,
  SMS_SPAM_BACKUP_URL,
  GPT2_BASE_URL,
  GPT2_BACKUP_BASE_URL,
  type Settings,
  type SettingsOverrides,
} from "./config";
export { SMS_SPAM_ZIP, TINY_GPT2_DIR, IMDB_SYNTHETIC_TAR, TINY_BERT_DIR } from "./assets";
export { startSmokeServer, type SmokeServer } from "./smoke";

// The tfjs backend (and whether ONNX Runtime is there for the native paths)
export {
  initBackend,
  describeBackend,
  backendInfo,
  parseBackendChoice,
  BACKEND_ORDER,
  type BackendChoice,
  type BackendInfo,
} from "./backend";
export type { GpuAdapterSummary } from "./webgpuAdapter";
export { loadOnnxRuntime } from "./engine/runtime/onnxRuntime";

// Errors: every UserError is one clear message about the input, never a stack trace
export {
  UserError,
  ConfigError,
  DataFormatError,
  DownloadError,
  ShapeMismatchError,
  BackendError,
  InsufficientMemoryError,
  isUserError,
} from "./errors";

// tfjs itself, the instance the library uses
export * as tf from "@tensorflow/tfjs";
