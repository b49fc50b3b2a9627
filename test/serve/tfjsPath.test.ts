/**
 * The web app on a classifier ONNX Runtime does not run (a bonus-experiment variant: the first token's output):
 * it classifies and explains with tfjs, with the library's exact numbers, and holds no tensor more per request;
 * closing the app frees the model's tensors.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { classifyWithProbability, initBackend, loadClassifier, tf, type Classification } from "llm-spam-classifier";
import { startUiServer, type RunningUi } from "llm-spam-classifier/serve";
import { FIRST_TOKEN_MODEL, makeSmokeClassifiers } from "./smokeClassifiers";

const TEXTS = ["WINNER!! Claim your prize now", "Are we still on for dinner?", "Free entry: text WIN to 80086"];
let data: { dataDir: string; cleanup: () => void };
let ui: RunningUi | undefined;

before(async () => {
  data = await makeSmokeClassifiers("serve-tfjs-", { only: "first-token" });
  await initBackend("wasm");
});
after(async () => {
  await ui?.close();
  data?.cleanup();
});

const post = async (url: string, body: object) => {
  const res = await fetch(new URL(url, ui!.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

test("a variant classifier is served on tfjs: the library's numbers exactly, no tensor held per request", async () => {
  const baseline = tf.memory().numTensors;
  ui = await startUiServer({
    dataDir: data.dataDir,
    port: 0,
    handleSignals: false,
    cacheDir: false,
    initTfjs: () => initBackend("wasm"),
  });
  const first = await post("/api/classify", { texts: TEXTS });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.engine, "tfjs");
  assert.equal(first.body.model, FIRST_TOKEN_MODEL);
  const loaded = tf.memory().numTensors;
  assert.ok(loaded > baseline, "the model's tensors are in memory");
  const { model } = loadClassifier(path.join(data.dataDir, FIRST_TOKEN_MODEL), { cacheDir: false });
  try {
    assert.equal(model.readout, "first");
    const want = TEXTS.map((t) => classifyWithProbability(t, model));
    assert.deepEqual(
      (first.body.results as Array<Classification & { text: string }>).map(({ label, spamProbability }) => ({
        label,
        spamProbability,
      })),
      want,
    );
    const e = await post("/api/explain", { text: TEXTS[0] });
    assert.equal(e.status, 200);
    assert.equal(e.body.spamProbability, want[0].spamProbability);
    // The first token's output sees only the first token (causal mask): occluding a later token changes nothing.
    const tokens = e.body.tokens as Array<{ influence: number }>;
    assert.ok(tokens.length > 3);
    for (const t of tokens.slice(1)) assert.ok(Math.abs(t.influence) < 1e-6, String(t.influence));
  } finally {
    model.dispose();
  }
  await post("/api/classify", { texts: TEXTS.map((t) => `${t}!`) });
  await post("/api/explain", { text: TEXTS[1] });
  assert.equal(tf.memory().numTensors, loaded, "no tensor left behind by classify or explain");
  await ui.close();
  ui = undefined;
  assert.equal(tf.memory().numTensors, baseline, "closing frees the model");
});
