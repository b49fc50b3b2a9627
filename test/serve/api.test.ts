/**
 * The web app's JSON API over real HTTP, on two real smoke classifiers: the answers equal the library's,
 * concurrent requests lose nothing and compute each distinct text once, every bad input gets a 4xx with a
 * clear message, a model outside the data folder is refused, and shutting down finishes what is in flight.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  classifyEncoded,
  classifyReview,
  classifyWithProbability,
  explainByOcclusion,
  getTokenizer,
  initBackend,
  loadClassifier,
  tf,
  OnnxClassifier,
  type Classification,
} from "llm-spam-classifier";
import { startUiServer, type RunningUi } from "llm-spam-classifier/serve";
import { tempDir } from "../helpers";
import { CHAPTER_MODEL, LORA_MODEL, makeSmokeClassifiers } from "./smokeClassifiers";

const TEXTS = [
  "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward!",
  "Hey, are we still on for dinner tonight?",
  "URGENT! Your mobile number has won £2000. Call 09061701461 now",
  "Ok lar... Joking wif u oni...",
  "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005",
  "I'll be home late, save me some pizza",
  "Congratulations! You've been selected for a free cruise. Reply YES",
  "Can you send me the notes from today's lecture?",
  "Claim your free ringtone now! Text TONE to 85023",
  "See you at the station at 5",
];

let data: { dataDir: string; cleanup: () => void };
let ui: RunningUi;
const expected = new Map<string, Map<string, Classification>>();

async function api(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(new URL(url, ui.url), {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The library's own answers (tfjs, `classifyWithProbability`) for every text, per model. */
before(async () => {
  data = await makeSmokeClassifiers("serve-api-");
  await initBackend("wasm");
  for (const name of [CHAPTER_MODEL, LORA_MODEL]) {
    const { model } = loadClassifier(path.join(data.dataDir, name));
    try {
      expected.set(name, new Map(TEXTS.map((t) => [t, classifyWithProbability(t, model)])));
      assert.equal(classifyReview(TEXTS[0], model), expected.get(name)!.get(TEXTS[0])!.label);
    } finally {
      model.dispose();
    }
  }
  ui = await startUiServer({
    dataDir: data.dataDir,
    port: 0,
    handleSignals: false,
    cacheDir: false,
    initTfjs: () => initBackend("wasm"),
  });
});

after(async () => {
  await ui?.close();
  data?.cleanup();
});

/** Same label; the probability within float32 rounding of the tfjs path (the server runs ONNX Runtime). */
function assertSame(got: { label: string; spamProbability: number }, want: Classification, what: string) {
  assert.equal(got.label, want.label, what);
  assert.ok(
    Math.abs(got.spamProbability - want.spamProbability) < 1e-5,
    `${what}: ${got.spamProbability} vs ${want.spamProbability}`,
  );
}

test("GET /api/models lists both classifiers (names only) with their model cards", async () => {
  const r = await api("GET", "/api/models");
  assert.equal(r.status, 200);
  const models = r.body.models as Array<Record<string, unknown>>;
  assert.deepEqual(
    models.map((m) => m.name),
    [LORA_MODEL, CHAPTER_MODEL],
  );
  assert.equal(r.body.active, CHAPTER_MODEL); // the chapter's classifier is the default
  const chapter = models.find((m) => m.name === CHAPTER_MODEL)!;
  assert.equal(chapter.method, "last-block");
  assert.equal(chapter.trainedLength, 120);
  assert.equal(chapter.baseWeights, "124M/model.ckpt"); // no absolute path leaves the server
  assert.equal(chapter.smoke, true);
  const metrics = JSON.parse(fs.readFileSync(path.join(data.dataDir, CHAPTER_MODEL, "metrics.json"), "utf8")) as {
    final: Record<string, number>;
  };
  assert.deepEqual((chapter.metrics as { final: unknown }).final, {
    trainAcc: metrics.final.trainAcc,
    valAcc: metrics.final.valAcc,
    testAcc: metrics.final.testAcc,
  });
  const lora = models.find((m) => m.name === LORA_MODEL)!;
  assert.equal(lora.method, "lora");
  assert.equal((lora.methodDetails as { rank: number }).rank, 16);
  assert.ok(!JSON.stringify(r.body).includes(data.dataDir), "no path of the data folder in the answer");
  if (fs.existsSync(path.join(data.dataDir, CHAPTER_MODEL, "loss-plot.png"))) {
    const png = await fetch(new URL(`/api/plot?model=${encodeURIComponent(CHAPTER_MODEL)}&plot=loss`, ui.url));
    assert.equal(png.status, 200);
    assert.equal(png.headers.get("content-type"), "image/png");
    assert.deepEqual(
      Buffer.from(await png.arrayBuffer()),
      fs.readFileSync(path.join(data.dataDir, CHAPTER_MODEL, "loss-plot.png")),
    );
  }
});

test("POST /api/classify answers what the library answers, for one text and for many", async () => {
  const one = await api("POST", "/api/classify", { text: TEXTS[0] });
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal(one.body.model, CHAPTER_MODEL);
  assertSame((one.body.results as Classification[])[0], expected.get(CHAPTER_MODEL)!.get(TEXTS[0])!, "one text");
  for (const model of [CHAPTER_MODEL, LORA_MODEL]) {
    const many = await api("POST", "/api/classify", { texts: TEXTS, model });
    assert.equal(many.status, 200);
    assert.equal(many.body.model, model);
    const results = many.body.results as Array<Classification & { text: string }>;
    assert.deepEqual(
      results.map((r) => r.text),
      TEXTS,
    );
    results.forEach((r, i) => assertSame(r, expected.get(model)!.get(TEXTS[i])!, `${model} #${i}`));
  }
});

test("the ONNX Runtime answers equal OnnxClassifier's exactly (8 texts per forward pass)", async () => {
  const { model } = loadClassifier(path.join(data.dataDir, CHAPTER_MODEL));
  const onnx = await OnnxClassifier.create(model);
  try {
    const want = await onnx.classify(TEXTS);
    const r = await api("POST", "/api/classify", { texts: TEXTS, model: CHAPTER_MODEL });
    assert.equal(r.body.engine, "onnx");
    assert.deepEqual(
      (r.body.results as Array<Classification & { text: string }>).map(({ label, spamProbability }) => ({
        label,
        spamProbability,
      })),
      want,
    );
  } finally {
    await onnx.release();
    model.dispose();
  }
});

test("50 concurrent requests: none lost, each answer right for its model, each distinct text computed once", async () => {
  const health = async () => (await api("GET", "/api/health")).body as { stats: Record<string, number> };
  // One model, a pool of 10 texts: the queue merges the waiting requests and the cache answers repeats.
  await api("POST", "/api/classify", { text: "warm up", model: LORA_MODEL });
  const before = (await health()).stats;
  const fresh = TEXTS.map((t) => `${t} (again)`);
  const sameModel = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      api(
        "POST",
        "/api/classify",
        i % 2 ? { text: fresh[i % 10], model: LORA_MODEL } : { texts: fresh, model: LORA_MODEL },
      ),
    ),
  );
  assert.deepEqual(
    sameModel.map((r) => r.status),
    new Array<number>(50).fill(200),
  );
  const afterSame = (await health()).stats;
  assert.equal(afterSame.loads, before.loads, "no reload for the same model");
  assert.equal(afterSame.rowsComputed - before.rowsComputed, 10, "each distinct text through the model once");
  assert.equal(afterSame.textsAnswered - before.textsAnswered, 25 * 10 + 25);
  // Two models interleaved: every answer still belongs to the model its request named.
  const mixed = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const model = i % 2 ? LORA_MODEL : CHAPTER_MODEL;
      const text = TEXTS[i % TEXTS.length];
      const r = await api("POST", "/api/classify", { text, model });
      return { r, model, text };
    }),
  );
  for (const { r, model, text } of mixed) {
    assert.equal(r.status, 200);
    assert.equal(r.body.model, model);
    assertSame((r.body.results as Classification[])[0], expected.get(model)!.get(text)!, `${model}: ${text}`);
  }
  const afterMixed = (await health()).stats;
  assert.equal(afterMixed.textsAnswered - afterSame.textsAnswered, 50);
});

test("POST /api/explain: occlusion, each token's influence = p(text) − p(text without it), as the library computes", async () => {
  const text = "Free entry to win cash now";
  const r = await api("POST", "/api/explain", { text, model: CHAPTER_MODEL });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const e = r.body as { tokens: Array<{ text: string; influence: number; id: number }>; spamProbability: number };
  const tok = getTokenizer();
  assert.equal(e.tokens.map((t) => t.text).join(""), text);
  assert.deepEqual(
    e.tokens.map((t) => t.id),
    tok.encode(text),
  );
  const { model } = loadClassifier(path.join(data.dataDir, CHAPTER_MODEL));
  try {
    const full = classifyWithProbability(text, model).spamProbability;
    assert.ok(Math.abs(e.spamProbability - full) < 1e-5);
    const ids = tok.encode(text);
    for (let i = 0; i < ids.length; i++) {
      const without = tok.decode([...ids.slice(0, i), ...ids.slice(i + 1)]);
      const p = classifyWithProbability(without, model).spamProbability;
      if (tok.encode(without).join() !== [...ids.slice(0, i), ...ids.slice(i + 1)].join()) continue; // re-tokenised differently
      assert.ok(
        Math.abs(e.tokens[i].influence - (full - p)) < 1e-5,
        `token ${i}: ${e.tokens[i].influence} vs ${full - p}`,
      );
    }
  } finally {
    model.dispose();
  }
});

test("explainByOcclusion scores only the tokens the classifier reads, and refuses more than maxTokens", async () => {
  const { model } = loadClassifier(path.join(data.dataDir, CHAPTER_MODEL));
  try {
    const rows = (r: number[][]) => Promise.resolve(r.map((ids) => classifyEncoded(ids, model)));
    const long = Array.from({ length: 150 }, (_, i) => `word${i}`).join(" ");
    const n = getTokenizer().encode(long).length;
    const e = await explainByOcclusion(long, model, rows);
    assert.equal(e.tokens.length, 120); // the trained length
    assert.equal(e.truncatedTokens, n - 120);
    assert.equal(e.spamProbability, classifyWithProbability(long, model).spamProbability);
    await assert.rejects(explainByOcclusion("one two three four", model, rows, undefined, { maxTokens: 3 }), {
      name: "ConfigError",
      message: /at most 3 tokens, and this text has 4/,
    });
  } finally {
    model.dispose();
  }
});

test("every bad input gets a 4xx with a clear message, and the server keeps serving", async () => {
  const cases: Array<[unknown, number, RegExp, string?]> = [
    [{ text: "" }, 400, /text is empty/],
    [{ text: "   \n " }, 400, /text is empty/],
    [{ texts: [] }, 400, /"texts" is empty/],
    [{ texts: ["ok", " "] }, 400, /Text 2 of 2 is empty/],
    [{}, 400, /Give "text" .* or "texts"/],
    [{ text: "a", texts: ["b"] }, 400, /not both/],
    [{ texts: new Array<string>(1001).fill("win") }, 400, /Too many texts: at most 1000/],
    [{ text: "x".repeat(1024 * 1024 + 10) }, 413, /larger than 1 MB/],
    [{ text: 3 }, 400, /"text" must be a string/],
    [{ texts: "one\ntwo" }, 400, /"texts" must be an array/],
    [{ text: "hi", extra: 1 }, 400, /Unknown field "extra"/],
    [{ text: "hi", model: "../../etc" }, 400, /outside the data folder/],
    [{ text: "hi", model: "/etc/passwd" }, 400, /outside the data folder/],
    [{ text: "hi", model: "smoke/../smoke/review-classifier" }, 400, /outside the data folder/],
    [{ text: "hi", model: "smoke" }, 404, /No classifier named "smoke"/],
    ["{not json", 400, /not valid JSON/],
  ];
  for (const [body, status, message] of cases) {
    const r = await api("POST", "/api/classify", body);
    assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 80)} → ${JSON.stringify(r.body)}`);
    assert.match(String(r.body.error), message);
    assert.doesNotMatch(String(r.body.error), /\n\s+at /);
  }
  const plain = await api("POST", "/api/classify", "hello", { "content-type": "text/plain" });
  assert.equal(plain.status, 415);
  assert.match(String(plain.body.error), /Send JSON/);
  const emptyExplain = await api("POST", "/api/explain", { text: " " });
  assert.equal(emptyExplain.status, 400);
  assert.match(String(emptyExplain.body.error), /text is empty/);
  const badPlot = await api("GET", `/api/plot?model=..%2F..&plot=loss`);
  assert.equal(badPlot.status, 400);
  // A symlink inside the data folder that leads out of it is refused too.
  const outside = tempDir("serve-outside-");
  try {
    fs.cpSync(path.join(data.dataDir, CHAPTER_MODEL), path.join(outside.dir, "clf"), { recursive: true });
    fs.symlinkSync(path.join(outside.dir, "clf"), path.join(data.dataDir, "linked"));
    const r = await api("POST", "/api/classify", { text: "hi", model: "linked" });
    assert.equal(r.status, 400);
    assert.match(String(r.body.error), /outside the data folder/);
    assert.ok(
      !((await api("GET", "/api/models")).body.models as Array<{ name: string }>).some((m) => m.name === "linked"),
    );
  } finally {
    fs.rmSync(path.join(data.dataDir, "linked"), { force: true });
    outside.cleanup();
  }
  // A classifier that disappears after it was listed: a clear error that names it without the data folder's path.
  fs.cpSync(path.join(data.dataDir, CHAPTER_MODEL), path.join(data.dataDir, "gone"), { recursive: true });
  assert.ok(((await api("GET", "/api/models")).body.models as Array<{ name: string }>).some((m) => m.name === "gone"));
  await api("POST", "/api/classify", { text: "hi", model: "gone" }).then((r) => assert.equal(r.status, 200));
  await api("POST", "/api/classify", { text: "hi", model: CHAPTER_MODEL });
  fs.rmSync(path.join(data.dataDir, "gone", "model.safetensors"));
  const gone = await api("POST", "/api/classify", { text: "hi", model: "gone" });
  assert.equal(gone.status, 400);
  assert.match(String(gone.body.error), /No fine-tuned classifier in <data>\/gone/);
  assert.ok(!String(gone.body.error).includes(data.dataDir));
  fs.rmSync(path.join(data.dataDir, "gone"), { recursive: true });
  const ok = await api("POST", "/api/classify", { text: TEXTS[1] });
  assert.equal(ok.status, 200);
});

test("without any classifier the app starts, says how to make one, and refuses to classify with that advice", async () => {
  const empty = tempDir("serve-empty-");
  const bare = await startUiServer({ dataDir: empty.dir, port: 0, handleSignals: false, initTfjs: () => tf.ready() });
  try {
    const models = (await (await fetch(new URL("/api/models", bare.url))).json()) as Record<string, unknown>;
    assert.deepEqual(models.models, []);
    assert.match(String(models.howToTrain), /npm start -- finetune/);
    const r = await fetch(new URL("/api/classify", bare.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "hello" }),
    });
    assert.equal(r.status, 409);
    assert.match(((await r.json()) as { error: string }).error, /No fine-tuned classifier.*finetune --smoke/);
  } finally {
    await bare.close();
    empty.cleanup();
  }
});

test("closing finishes the requests in flight, then stops listening", async () => {
  const other = await startUiServer({
    dataDir: data.dataDir,
    port: 0,
    handleSignals: false,
    cacheDir: false,
    initTfjs: () => tf.ready(),
  });
  const health = async () =>
    (await (await fetch(new URL("/api/health", other.url))).json()) as { model: string | null; queue: number };
  while ((await health()).model === null) await new Promise((r) => setTimeout(r, 10)); // the startup load is done
  // 1000 new texts for the other model (a model switch first): in flight while the server closes.
  const texts = Array.from({ length: 1000 }, (_, i) => `message number ${i}: call now to claim`);
  let settled = false;
  const inFlight = fetch(new URL("/api/classify", other.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ texts, model: LORA_MODEL }),
  }).finally(() => (settled = true));
  while (!settled && (await health()).queue === 0);
  assert.ok(!settled, "the request was seen in the queue before it finished");
  const closing = other.close();
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { results: unknown[] }).results.length, texts.length);
  await closing;
  await other.stopped;
  await assert.rejects(fetch(new URL("/api/health", other.url)));
});
