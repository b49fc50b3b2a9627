// Sections 6.5–6.8: classifier head, loss and accuracy, AdamW, training loop, inference, saving.
export * from "./classifier";
export * from "./adamw";
export * from "./runner";
export type { ClassifierRunner, ClassifierHeadOptions, TrainStepOptions } from "../engine/trainers/runnerTypes";
export * from "./createRunner";
export * from "./evaluate";
export * from "./trainClassifier";
export * from "./memory";
export * from "./progress";
export * from "./classify";
export * from "./explain";
export * from "./checkpoint";
export * from "./report";
export * from "./finetune";
export * from "./lora";
export * from "./promptTuning";
export * from "./adapterClassifier";
export * from "./experiments";
export * from "./trainingArguments";
export * from "./trainerModel";
export * from "./trainer";
// BERT: prompt tuning as the IMDb fine-tuning chapter does it (the runner itself: llm-spam-classifier/engine).
export * from "./bertPromptTuning";
export * from "./bertTrainerModel";
export * from "./bertFinetune";
export * from "./bertClassifier";
