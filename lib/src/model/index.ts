// Section 6.4: the GPT model, its configurations and greedy generation.
export * from "./config";
export * from "./gptModel";
export * from "./arrayModel";
export * from "./frozenParam";
export * from "./generate";
export * from "./summary";
export * from "./frozenTrunk";
export * from "./classifierInput";
// The model maths written once over an engine's primitives: tfjs, ONNX (lib/src/engine) and a gradient tape.
export type { Ops, Dim, FusedOps, MatMulOptions } from "./ops";
export { dimProduct } from "./ops";
export { TfjsOps } from "./tfjsOps";
export { DiffOps } from "./autodiff";
export type { Tracked, Gradient, RowGradient } from "./autodiff";
export * as layers from "./layers";
export { gptForward, gptBlockParams, readoutOf, readoutWeights, READOUT_CHOICES } from "./gpt";
export type { GptShape, ParamLookup, Readout, ReadoutKind, GptForwardOptions, ReadoutWeightsOptions } from "./gpt";
// Appendix E: LoRA on every Linear layer (a property of the definition: GPTConfig.lora).
export * from "./lora";
// Prompt tuning: a soft prompt before the tokens (the `prompt_embeddings` parameter).
export * from "./promptTuning";
// BERT for sequence classification (the IMDb chapter's bert-base-uncased), from the same layers.
export * from "./bert";
export * from "./bertModel";
