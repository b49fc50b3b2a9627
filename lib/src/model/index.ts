// Section 6.4: the GPT model, its configurations and greedy generation.
export * from "./config";
export * from "./gptModel";
export * from "./generate";
export * from "./summary";
export * from "./frozenTrunk";
export * from "./classifierInput";
