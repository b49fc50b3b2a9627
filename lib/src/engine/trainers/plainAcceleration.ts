/**
 * Native help for the plain path (the book's loop, every layer computed every step): the frozen trunk's
 * forward pass on ONNX Runtime (an `OnnxGptEngine` over the embeddings and the leading frozen blocks, run
 * for every batch: nothing is cached), and tfjs's matmuls on ONNX Runtime for the trainable part
 * (`acquireOrtMatMul`). createRunner attaches both to its PlainRunner when onnxruntime-node loads.
 */
import { frozenTrunkSize } from "../../model/frozenTrunk";
import type { GPTModel } from "../../model/gptModel";
import { acquireOrtMatMul } from "../runtime/ortMatMul";
import { OnnxGptEngine } from "../runtime/onnxEngine";
import { loadOnnxRuntime, onnxRuntimeUnavailableReason } from "../runtime/onnxRuntime";
import type { PlainRunnerOptions } from "./runnerTypes";

/** PlainRunner options with native engines, and a line saying what runs where. */
export interface PlainAcceleration extends PlainRunnerOptions {
  description: string;
}

/**
 * Native engines for a model's plain path: the frozen trunk on ONNX Runtime (when the embeddings and at
 * least one block are frozen; a frozen trunk has no dropout in it only when dropRate is 0, so with
 * dropout the runner uses the engine for evaluation only) and tfjs's matmuls on ONNX Runtime.
 * `causal: false` builds the trunk without the causal mask (the bonus's `--disable_causal_mask`).
 * `ORT_MATMUL=0` keeps tfjs's matmuls; `ONNX_DISABLE=1` keeps everything in tfjs.
 * @returns options for `new PlainRunner(model, optimizer, opts)`; `{ description }` alone when nothing applies
 */
export async function createPlainAcceleration(
  model: GPTModel,
  opts: { causal?: boolean } = {},
): Promise<PlainAcceleration> {
  if (!loadOnnxRuntime())
    return { description: `every layer in tfjs (onnxruntime-node unavailable: ${onnxRuntimeUnavailableReason()})` };
  const parts: string[] = [];
  const { embedFrozen, blocks } = frozenTrunkSize(model);
  let trunk: PlainRunnerOptions["trunk"];
  if (embedFrozen && blocks > 0) {
    // No spinning: tfjs work follows every run, and idle ORT threads spinning on 2 cores would slow it.
    const engine = await OnnxGptEngine.create(model, { toBlock: blocks, causal: opts.causal, spinning: false });
    trunk = { blocks, run: (ids, batch) => engine.run(ids, batch), release: () => engine.release() };
    parts.push(
      `frozen embeddings + ${blocks === 1 ? "block 0" : `blocks 0-${blocks - 1}`} on ONNX Runtime (computed for every batch)`,
    );
  }
  const release = acquireOrtMatMul();
  parts.push(release ? "trainable layers in tfjs with matmuls on ONNX Runtime" : "trainable layers in tfjs");
  return { trunk, onFinish: release, description: parts.join("; ") };
}
