import type { CliCommand } from "./command";
import { intOption, weightCacheDirFor } from "./command";
import { ConfigError } from "../errors";
import { checkTokenIds } from "../model/classifierInput";
import { getTokenizer, textToTokenIds, tokenIdsToText } from "../tokenizer";
import { chooseEngine, engineHelp } from "./engineChoice";

/** From this many new tokens on, `--engine auto` generates on ONNX Runtime. */
const ONNX_FROM_TOKENS = 30;

/** `npm start -- generate "PROMPT"`: greedy generation with pretrained GPT-2 (book 6.4). */
export const generateCommand: CliCommand = {
  name: "generate",
  summary: "Generate text greedily with GPT-2",
  usage: '"PROMPT" [--weights PATH_OR_SIZE] [--max-new-tokens 15] [--engine auto|onnx|tfjs] [--json]',
  help: `Continues PROMPT with the most likely token, step by step (the book's generate_text_simple).
With real GPT-2 124M weights, "Every effort moves you" gives
"Every effort moves you forward.\\n\\nThe first step is to understand the importance of your work".

Options:
  --weights PATH_OR_SIZE   a size (124M, 355M, 774M, 1558M, or "gpt2-small (124M)" …; downloaded), an
                           OpenAI checkpoint folder, a Hugging Face model folder (config.json + safetensors)
                           or a .safetensors file (Hugging Face or the book's state_dict names) (default 124M)
  --max-new-tokens N       tokens to add, 1 to 1024 (default 15)
${engineHelp(27, `${ONNX_FROM_TOKENS} new tokens or more`)}
  --json                   print {text, promptTokenIds, tokenIds (prompt + new), lastLogits}: lastLogits
                           are the logits at the prompt's last position (the first new token's argmax)`,
  options: { weights: { type: "string" }, "max-new-tokens": { type: "string" }, engine: { type: "string" } },
  async run(values, positionals, ctx) {
    const prompt = positionals.join(" ");
    if (!prompt) throw new ConfigError('generate needs a prompt, e.g. npm start -- generate "Every effort moves you"');
    const maxNew = intOption(values, "max-new-tokens", 15, 1, 1024);
    const engine = chooseEngine(values.engine, maxNew, ONNX_FROM_TOKENS);
    const settings = ctx.settings;
    const load = {
      weights: typeof values.weights === "string" ? values.weights : "124M",
      dataDir: settings.dataDir,
      baseUrls: settings.gpt2BaseUrls,
      cacheDir: weightCacheDirFor(ctx),
      log: ctx.log,
    };
    const ids = textToTokenIds(prompt, getTokenizer(), []);
    if (engine === "onnx") {
      // Straight from the loaded (or cached) arrays to ONNX Runtime: tfjs is never loaded.
      const { loadPretrainedArrays } = await import("../weights/gpt2Files");
      const { ArrayGpt } = await import("../model/arrayModel");
      const { generateTextOnnx } = await import("../engine/inference");
      const { arrays, config } = await loadPretrainedArrays(load);
      const model = new ArrayGpt(config, arrays);
      checkTokenIds(model, ids);
      const g = await generateTextOnnx(model, prompt, { maxNewTokens: maxNew });
      if (values.json)
        ctx.out(
          JSON.stringify({
            text: g.text,
            promptTokenIds: ids,
            tokenIds: g.tokenIds,
            lastLogits: Array.from(g.firstLogits),
          }),
        );
      else ctx.log(g.text);
      return;
    }
    await ctx.backend();
    const tf = await import("@tensorflow/tfjs");
    const { loadPretrainedGpt2 } = await import("../weights/pretrained");
    const { generateTextSimple } = await import("../model/generate");
    const { model } = await loadPretrainedGpt2(load);
    try {
      checkTokenIds(model, ids);
      const idx = tf.tensor2d([ids], [1, ids.length], "int32");
      // Asynchronous reads: WebGPU in Node has no synchronous one
      let lastLogits: number[] = [];
      if (values.json) {
        const last = tf.tidy(() => model.forward(idx).slice([0, ids.length - 1, 0], [1, 1, -1]));
        lastLogits = Array.from(await last.data());
        last.dispose();
      }
      const out = generateTextSimple(model, idx, maxNew, model.cfg.contextLength);
      const tokenIds = Array.from(await out.data());
      const text = tokenIdsToText(tokenIds);
      tf.dispose([idx, out]);
      if (values.json) ctx.out(JSON.stringify({ text, promptTokenIds: ids, tokenIds, lastLogits }));
      else ctx.log(text);
    } finally {
      model.dispose();
    }
  },
};
