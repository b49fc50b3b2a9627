/**
 * llm-spam-classifier: chapter 6 of "Build a Large Language Model (From Scratch)" in TypeScript.
 * One import path for notebooks, the CLI, tests and your own projects.
 */
export * as tf from "@tensorflow/tfjs";
export * from "./errors";
export * from "./config";
export * from "./backend";
export { registerWasmKernels, registerFastMatMulGradient, unsortedSegmentSumValues } from "./wasmKernels";
export * from "./util/atomic";
export * from "./util/progress";
export * from "./util/download";
export * from "./util/staticServer";
export * from "./tokenizer";
export * from "./smoke";
export * from "./data";
export * from "./model";
export * from "./weights";
export * from "./train";
export * from "./plot";
export * from "./engine";
