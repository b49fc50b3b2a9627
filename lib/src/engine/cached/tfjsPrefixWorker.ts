/**
 * Worker thread of `TfjsPrefixPool`: a tfjs backend of its own (tfjs-wasm runs one thread per
 * instance under Node) computing transformer blocks 0..blocks-1 of the frozen prefix, from embeddings
 * the main thread sends. Messages: `{ shared, entries }` (the weights, once) → `{ ready }`;
 * `{ id, hidden, batch }` → `{ id, hidden }`.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../backend";
import type { GPTConfig } from "../../model/config";
import { GPTModel } from "../../model/gptModel";

interface Init {
  cfg: GPTConfig;
  blocks: number;
  backend: string;
}
interface ParamsMessage {
  shared: SharedArrayBuffer;
  entries: Array<{ name: string; shape: number[]; offset: number; length: number }>;
}
interface RunMessage {
  id: number;
  hidden: Float32Array;
  batch: number;
}

async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as Init;
  await initBackend(init.backend);
  // Only the blocks live here (no vocabulary-sized embedding or head: the main thread embeds).
  const model = new GPTModel({ ...init.cfg, nLayers: init.blocks, vocabSize: 1 }, { init: "zeros" });
  port.on("message", (msg: ParamsMessage | RunMessage) => {
    try {
      if ("shared" in msg) {
        for (const e of msg.entries)
          model.setParam(e.name, new Float32Array(msg.shared, e.offset * 4, e.length), e.shape);
        port.postMessage({ ready: true });
        return;
      }
      const T = msg.hidden.length / (msg.batch * init.cfg.embDim);
      let x: tf.Tensor3D = tf.tensor3d(msg.hidden, [msg.batch, T, init.cfg.embDim]);
      for (let i = 0; i < init.blocks; i++) {
        const y = model.block(i, x);
        x.dispose();
        x = y;
      }
      const hidden = x.dataSync() as Float32Array;
      x.dispose();
      port.postMessage({ id: msg.id, hidden }, [hidden.buffer as ArrayBuffer]);
    } catch (err) {
      port.postMessage({ id: "id" in msg ? msg.id : -1, error: err instanceof Error ? err.message : String(err) });
    }
  });
  port.postMessage({ started: true });
}

main().catch((err) => parentPort?.postMessage({ id: -1, error: err instanceof Error ? err.message : String(err) }));
