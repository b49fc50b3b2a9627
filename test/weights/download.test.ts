import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  tf,
  initBackend,
  startSmokeServer,
  loadPretrainedGpt2,
  downloadGpt2,
  generateText,
  ConfigError,
  DownloadError,
  type SmokeServer,
} from "llm-spam-classifier";
import { GPT2_FILES } from "llm-spam-classifier/weights";
import { tempDir } from "../helpers";

const tmp = tempDir("gpt2-dl-");
let server: SmokeServer;
before(async () => {
  await initBackend();
  server = await startSmokeServer();
});
after(async () => {
  await server.close();
  tmp.cleanup();
});

test("downloads the seven files from 127.0.0.1, loads them and generates; a second run keeps the files", async () => {
  const lines: string[] = [];
  const { model, config, source } = await loadPretrainedGpt2({
    weights: "124M",
    dataDir: tmp.dir,
    baseUrls: [server.env.GPT2_BASE_URL],
    progress: false,
    log: (l) => lines.push(l),
  });
  assert.deepEqual(
    GPT2_FILES.filter((f) => fs.existsSync(path.join(tmp.dir, "gpt2", "124M", f))),
    [...GPT2_FILES],
  );
  assert.equal(config.embDim, 8); // the tiny smoke checkpoint
  assert.match(source, /gpt2\/124M\/model\.ckpt$/);
  const text = await generateText(model, "Every effort moves you", { maxNewTokens: 5 });
  assert.ok(text.startsWith("Every effort moves you") && text.length > "Every effort moves you".length);
  model.dispose();
  lines.length = 0;
  await downloadGpt2("124M", path.join(tmp.dir, "gpt2"), {
    baseUrls: [server.env.GPT2_BASE_URL],
    progress: false,
    log: (l) => lines.push(l),
  });
  assert.equal(lines.filter((l) => l.startsWith("File already exists and is up-to-date")).length, 7);
  // A local file whose size differs from the server's is fetched again (options form with dataDir).
  const hp = path.join(tmp.dir, "gpt2", "124M", "hparams.json");
  const good = fs.readFileSync(hp);
  fs.writeFileSync(hp, "{}");
  lines.length = 0;
  const dir = await downloadGpt2("124M", {
    dataDir: tmp.dir,
    baseUrls: [server.env.GPT2_BASE_URL],
    progress: false,
    log: (l) => lines.push(l),
  });
  assert.equal(dir, path.join(tmp.dir, "gpt2", "124M"));
  assert.deepEqual(fs.readFileSync(hp), good);
  assert.equal(lines.filter((l) => l.startsWith("File already exists and is up-to-date")).length, 6);
  assert.equal(tf.memory().numTensors, 0);
});

test("the backup base URL is used when the primary fails; unknown sizes and dead URLs are clear errors", async () => {
  const dir = path.join(tmp.dir, "b");
  await downloadGpt2("124M", dir, {
    baseUrls: [`${server.baseUrl}/nowhere`, server.env.GPT2_BASE_URL],
    progress: false,
  });
  assert.ok(fs.existsSync(path.join(dir, "124M", "model.ckpt.index")));
  await assert.rejects(
    downloadGpt2("7B", dir, { baseUrls: [server.env.GPT2_BASE_URL] }),
    (e: unknown) => e instanceof ConfigError && /Model size not in 124M, 355M, 774M, 1558M/.test(e.message),
  );
  await assert.rejects(
    downloadGpt2("355M", path.join(tmp.dir, "c"), { baseUrls: [server.env.GPT2_BASE_URL], progress: false }),
    (e: unknown) => e instanceof DownloadError && /HTTP 404/.test(e.message) && /GPT2_BASE_URL/.test(e.message),
  );
});
