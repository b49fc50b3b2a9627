// Section 6.4: the GPT model, its configurations and greedy generation.
export * from "./config";
export * from "./gptModel";
export * from "./arrayModel";
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
export { gptForward, gptBlockParams, readoutOf, readoutWeights } from "./gpt";
export type { GptShape, ParamLookup, Readout, ReadoutKind, GptForwardOptions, ReadoutWeightsOptions } from "./gpt";
