// Section 6.4: GPT-2 weights — download, TF checkpoint and safetensors readers, loading into GPTModel.
export * from "./crc32c";
export * from "./dtypes";
export * from "./sstable";
export * from "./tfCheckpoint";
export * from "./tfStringTensor";
export * from "./safetensors";
export * from "./loadWeights";
export * from "./downloadGpt2";
export * from "./pretrained";
export * from "./weightCache";
export * from "./bertWeights";
