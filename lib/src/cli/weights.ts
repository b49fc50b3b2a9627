import * as crypto from "node:crypto";
import * as path from "node:path";
import type { CliCommand } from "./command";
import { ConfigError } from "../errors";
import { downloadGpt2, checkGpt2Size } from "../weights/downloadGpt2";
import { openWeightSource } from "../weights/gpt2Files";
import { TfCheckpoint } from "../weights/tfCheckpoint";

/** `npm start -- weights download|inspect`: GPT-2 files (book 6.4). */
export const weightsCommand: CliCommand = {
  name: "weights",
  summary: "Download GPT-2 weights (weights download) or list a checkpoint's tensors (weights inspect)",
  usage: "download [--size 124M] | inspect PATH [--json] [--sha256]",
  help: `weights download [--size 124M]
  Downloads OpenAI's seven GPT-2 files (checkpoint, encoder.json, hparams.json, model.ckpt.*, vocab.bpe)
  into <data>/gpt2/<size>/ from OpenAI's URL, with the book's backup URL as fallback. Files already
  complete are kept; interrupted downloads continue. Sizes: 124M, 355M, 774M, 1558M.

weights inspect PATH [--json] [--sha256]
  Lists every tensor of a checkpoint: name, dtype as the file names it (DT_FLOAT, F32, DT_STRING, ...),
  shape and, with --sha256, the sha256 of its stored bytes (of a DT_STRING tensor: its elements' bytes,
  concatenated). PATH: a TensorFlow checkpoint folder or prefix (OpenAI's model.ckpt, a TF2 ckpt-1), a
  SavedModel folder, a .safetensors file, a Hugging Face folder or a model.safetensors.index.json.`,
  options: { size: { type: "string" }, sha256: { type: "boolean" } },
  async run(values, positionals, ctx) {
    const [action, target] = positionals;
    if (action === "download") {
      const size = checkGpt2Size(typeof values.size === "string" ? values.size : "124M");
      const settings = ctx.settings;
      const dir = await downloadGpt2(size, path.join(settings.dataDir, "gpt2"), {
        baseUrls: settings.gpt2BaseUrls,
        log: ctx.log,
      });
      if (values.json) ctx.out(JSON.stringify({ size, dir }));
      else ctx.log(`GPT-2 ${size} is in ${dir}`);
      return;
    }
    if (action === "inspect") {
      if (!target)
        throw new ConfigError(
          "weights inspect needs a PATH (checkpoint folder or prefix, .safetensors file or index). See: npm start -- weights --help",
        );
      const { src } = openWeightSource(target);
      const list = src.listVariables().map((v) => ({
        name: v.name,
        dtype: v.dtype,
        shape: v.shape,
        ...(values.sha256 ? { sha256: crypto.createHash("sha256").update(src.readBytes(v.name)).digest("hex") } : {}),
      }));
      if (values.json) {
        ctx.out(JSON.stringify(list, null, 2));
        return;
      }
      const w = Math.max(...list.map((v) => v.name.length)),
        dw = Math.max(...list.map((v) => v.dtype.length));
      for (const v of list)
        ctx.log(
          `${v.name.padEnd(w)}  ${v.dtype.padEnd(dw)}  [${v.shape.join(", ")}]${"sha256" in v ? `  ${v.sha256}` : ""}`,
        );
      const layout =
        src instanceof TfCheckpoint
          ? `; index: ${src.layout.dataBlocks} data blocks (${src.layout.snappyBlocks} Snappy-compressed), ${src.numShards} data shard(s)`
          : "";
      ctx.log(`${list.length} tensors${layout}`);
      return;
    }
    throw new ConfigError(
      `weights needs "download" or "inspect", got ${action ? `"${action}"` : "nothing"}. See: npm start -- weights --help`,
    );
  },
};
