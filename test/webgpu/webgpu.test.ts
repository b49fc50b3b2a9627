/**
 * The WebGPU backend (Dawn through the npm package `webgpu`) against PyTorch's committed fixtures. Runs only with
 * TFJS_BACKEND=webgpu (`npm test -- --webgpu`, or at the end of `npm test` when Dawn finds an adapter); in CI the
 * adapter is Mesa's software Vulkan (llvmpipe), so everything here is tiny.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  tf,
  initBackend,
  describeBackend,
  AdamW,
  BackendError,
  ConfigError,
  GPTModel,
  PlainRunner,
  createRunner,
  openWeights,
  loadWeightsIntoGpt,
  saveClassifier,
  loadClassifier,
  classifyWithProbabilityAsync,
  type BackendInfo,
} from "llm-spam-classifier";
import { adamwUpdateInPlace, clipGradNorm, readableOnHost, resolveAdamW } from "llm-spam-classifier/engine";
import { adamRef, batches, close, fixtureModel, ref } from "../train/fixture";

const MODEL_FIX = path.join(__dirname, "..", "fixtures", "model");
const logitsRef = JSON.parse(fs.readFileSync(path.join(MODEL_FIX, "logits.json"), "utf8")) as {
  token_ids: number[][];
  logits: number[][][];
};

let info: BackendInfo;
before(async () => {
  if (process.env.TFJS_BACKEND !== "webgpu") throw new Error("run with TFJS_BACKEND=webgpu (npm test -- --webgpu)");
  info = await initBackend();
});

test("TFJS_BACKEND=webgpu runs tfjs on Dawn's adapter and the report names it", () => {
  assert.equal(info.choice, "webgpu");
  assert.equal(tf.getBackend(), "webgpu");
  const a = info.adapter!;
  assert.ok(a && (a.vendor || a.description), "adapter info");
  assert.equal(info.gpu, !a.software);
  const line = describeBackend(info);
  assert.match(line, /^tfjs 4\.22\.0 backend: webgpu on .+\(forced by TFJS_BACKEND\)$/);
  assert.ok(line.includes(a.vendor) && line.includes(a.description || a.device));
  assert.equal(/software adapter/.test(line), a.software);
  assert.ok(a.limits.maxBufferSize > 0 && a.limits.maxStorageBufferBindingSize > 0);
});

test("GPT-2 logits of the tiny fixture model equal PyTorch's (≤ 1e-4), with no tensor left behind", async () => {
  const before = tf.memory().numTensors;
  const { src, config } = openWeights(path.join(MODEL_FIX, "openai"));
  const model = new GPTModel(config);
  loadWeightsIntoGpt(model, src);
  const idx = tf.tensor2d(logitsRef.token_ids, undefined, "int32");
  const out = model.forward(idx);
  const got = await out.array();
  let maxDiff = 0;
  got.forEach((row, i) =>
    row.forEach((v, j) => v.forEach((x, k) => (maxDiff = Math.max(maxDiff, Math.abs(x - logitsRef.logits[i][j][k]))))),
  );
  assert.ok(maxDiff <= 1e-4, `max diff ${maxDiff}`);
  tf.dispose([idx, out]);
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("AdamW's on-device update equals torch.optim.AdamW on fixed tensors (5 steps) and resumes from its checkpoint", async () => {
  const p1 = tf.variable(tf.tensor(adamRef.init[0], adamRef.shapes[0])),
    p2 = tf.variable(tf.tensor(adamRef.init[1], adamRef.shapes[1]));
  const opt = new AdamW(
    new Map([
      ["a", p1],
      ["b", p2],
    ]),
    { lr: adamRef.lr, weightDecay: adamRef.weight_decay },
  );
  const before = tf.memory().numTensors;
  for (const [step, [g1, g2]] of adamRef.grads.entries()) {
    const grads = { a: tf.tensor(g1, adamRef.shapes[0]), b: tf.tensor(g2, adamRef.shapes[1]) };
    opt.step(grads);
    tf.dispose(Object.values(grads));
    // The moments (m and v of both parameters) live on the device from the first step on; nothing else stays.
    assert.equal(tf.memory().numTensors, before + 4, `step ${step + 1}`);
  }
  const got = [...(await p1.data()), ...(await p2.data())],
    want = [...adamRef.final[0], ...adamRef.final[1]];
  got.forEach((v, i) => assert.ok(close(v, want[i], 1e-6), `element ${i}: ${v} vs ${want[i]}`));
  // A checkpoint of the on-device state (read to the host first) resumes on the device: the next step is the same.
  await readableOnHost(opt.deviceTensors());
  const state = opt.stateDict();
  assert.equal(state.t, 5);
  const q1 = tf.tidy(() => tf.variable(p1.clone())),
    q2 = tf.tidy(() => tf.variable(p2.clone()));
  const resumed = new AdamW(
    new Map([
      ["a", q1],
      ["b", q2],
    ]),
    { lr: adamRef.lr, weightDecay: adamRef.weight_decay },
  );
  resumed.loadStateDict(state);
  const [g1, g2] = adamRef.grads[0];
  const grads = { a: tf.tensor(g1, adamRef.shapes[0]), b: tf.tensor(g2, adamRef.shapes[1]) };
  opt.step(grads);
  resumed.step(grads);
  const [a, b] = [
    [...(await p1.data()), ...(await p2.data())],
    [...(await q1.data()), ...(await q2.data())],
  ];
  a.forEach((v, i) => assert.equal(b[i], v, `element ${i} after resuming`));
  tf.dispose([...Object.values(grads), q1, q2]);
  resumed.dispose();
  opt.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([p1, p2]);
});

test("clip_grad_norm_ on the device (maxGradNorm) equals the host's clipped update, proven against PyTorch, for 5 steps", async () => {
  const norm0 = Math.hypot(...adamRef.grads[0].flat());
  const settings = resolveAdamW({ lr: adamRef.lr, weightDecay: adamRef.weight_decay, maxGradNorm: norm0 / 3 });
  const ps = adamRef.init.map((x, i) => tf.variable(tf.tensor(x, adamRef.shapes[i])));
  const opt = new AdamW(new Map(ps.map((p, i) => [`p${i}`, p])), settings);
  // The host's update (clipGradNorm + adamwUpdateInPlace, as the plain, fast and native paths run it)
  const host = adamRef.init.map((x) => ({
    p: Float32Array.from(x),
    m: new Float32Array(x.length),
    v: new Float32Array(x.length),
  }));
  for (const [step, gs] of adamRef.grads.entries()) {
    const grads = Object.fromEntries(gs.map((g, i) => [`p${i}`, tf.tensor(g, adamRef.shapes[i])]));
    opt.step(grads);
    tf.dispose(Object.values(grads));
    const hostGrads = gs.map((g) => Float32Array.from(g));
    clipGradNorm(hostGrads, settings.maxGradNorm!);
    host.forEach((h, i) => adamwUpdateInPlace(h.p, hostGrads[i], h.m, h.v, step + 1, settings));
  }
  for (const [i, p] of ps.entries()) {
    const got = await p.data();
    host[i].p.forEach((want, j) => assert.ok(close(got[j], want, 1e-6), `p${i}[${j}]: ${got[j]} vs ${want}`));
  }
  opt.dispose();
  tf.dispose(ps);
});

test("the chapter's training takes the plain tfjs path on WebGPU: three AdamW steps give PyTorch's losses (≤ 1e-4)", async () => {
  const model = fixtureModel();
  const opt = new AdamW(model.trainableParams(), { lr: ref.lr, weightDecay: ref.weight_decay });
  const lines: string[] = [];
  const runner = await createRunner(model, opt, { log: (l) => lines.push(l) });
  assert.ok(runner instanceof PlainRunner && runner.trunkKind === "tfjs", lines.join("\n"));
  assert.match(lines.join("\n"), /Plain training path on WebGPU/);
  let tensors = 0;
  for (let s = 0; s < 3; s++) {
    const l = await runner.trainStep(batches[s]);
    assert.ok(close(l, ref.losses[s], 1e-4), `step ${s}: ${l} vs ${ref.losses[s]}`);
    if (s === 0)
      tensors = tf.memory().numTensors; // AdamW's moments and the causal mask exist from here on
    else assert.equal(tf.memory().numTensors, tensors, `no tensor leak at step ${s}`);
  }
  // The trained classifier saves (its values read to the host first) and classifies as it computes.
  const want = await runner.logits(batches[0]);
  await runner.finish();
  await readableOnHost(model.tfjsTensors());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webgpu-clf-"));
  try {
    saveClassifier(dir, model, { maxLength: 10, padTokenId: 511 }); // the fixture's 512-token vocabulary
    const { model: loaded } = loadClassifier(dir);
    const got = await new PlainRunner(loaded).logits(batches[0]);
    got.forEach((v, i) => assert.ok(close(v, want[i], 1e-6), `logit ${i}: ${v} vs ${want[i]}`));
    // "a b c" is GPT-2's ids 64, 275, 269, right-padded with 511 to the trained length: its logits decide.
    const r = await classifyWithProbabilityAsync("a b c", loaded);
    const [l0, l1] = await new PlainRunner(loaded).logits({
      inputIds: Int32Array.from([64, 275, 269, 511, 511, 511, 511, 511, 511, 511]),
      labels: Int32Array.from([0]),
      indices: [0],
      batchSize: 1,
      seqLen: 10,
    });
    assert.ok(close(r.spamProbability, 1 / (1 + Math.exp(l0 - l1)), 1e-6));
    assert.equal(r.label, l1 > l0 ? "spam" : "not spam");
    loaded.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  opt.dispose();
  model.dispose();
});

test("the fast and native paths (ONNX Runtime, CPU) are refused on WebGPU with one clear error", async () => {
  const model = fixtureModel();
  for (const p of ["fast", "native"] as const)
    await assert.rejects(
      createRunner(model, undefined, { path: p }),
      (e: unknown) => e instanceof ConfigError && new RegExp(`The ${p} path .*plain path`).test(e.message),
    );
  model.dispose();
});

test("a synchronous read is one clear error; a model past the adapter's buffer limit is refused before any buffer exists", () => {
  const t = tf.tidy(() => tf.square(tf.tensor1d([1, 2, 3])));
  assert.throws(
    () => t.dataSync(),
    (e: unknown) =>
      e instanceof BackendError && /cannot read tensors synchronously .*await t\.data\(\)/.test(e.message),
  );
  t.dispose();
  const limit = Math.min(info.adapter!.limits.maxBufferSize, info.adapter!.limits.maxStorageBufferBindingSize);
  const embDim = 64,
    vocabSize = Math.floor(limit / (4 * embDim)) + 1; // the token embedding [vocabSize, embDim] is one float32 too big
  const before = tf.memory().numTensors;
  assert.throws(
    () => new GPTModel({ vocabSize, contextLength: 8, embDim, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true }),
    (e: unknown) =>
      e instanceof BackendError &&
      /GPT parameter tok_emb\.weight \[\d+, 64\] needs \d+ MiB in one WebGPU buffer; this adapter .* binds at most \d+ MiB/.test(
        e.message,
      ),
  );
  assert.equal(tf.memory().numTensors, before);
});

test("`npm start -- info` shows the adapter, its buffer limits and that it is software when it is", () => {
  const root = path.resolve(__dirname, "..", "..");
  const r = spawnSync(process.execPath, [path.join(root, "lib", "dist", "cli", "main.js"), "info"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, TFJS_BACKEND: "webgpu" },
  });
  assert.equal(r.status, 0, r.stderr);
  const a = info.adapter!;
  assert.ok(r.stdout.includes(`backend: webgpu on ${a.vendor}`), r.stdout);
  assert.match(
    r.stdout,
    new RegExp(
      `WebGPU adapter: ${a.software ? "software \\(runs on the CPU\\)" : "hardware"}; largest buffer \\d+ MiB, largest binding \\d+ MiB`,
    ),
  );
});

test("`npm start -- chapter --smoke` on WebGPU trains, saves and classifies with the same numbers as the CPU machine's default", () => {
  const root = path.resolve(__dirname, "..", "..");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webgpu-chapter-"));
  const chapter = (backend: string) => {
    const r = spawnSync(
      process.execPath,
      [path.join(root, "lib", "dist", "cli", "main.js"), "chapter", "--smoke", "--epochs", "1", "--max-steps", "3"],
      {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, TFJS_BACKEND: backend, LLM_DATA_DIR: path.join(dir, "data"), LLM_SMOKE: "1" },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  try {
    const gpu = chapter("webgpu"),
      cpu = chapter(""); // automatic: wasm here, with its fastest path
    assert.match(gpu, /Plain training path on WebGPU/);
    assert.match(gpu, /Saved the classifier/);
    const numbers = (out: string) =>
      out
        .split("\n")
        .filter((l) => /(accuracy|loss)[: ]|^Ep \d|→/.test(l) && !/Epoch \d\/|Memory estimate/.test(l))
        .join("\n");
    assert.ok(/Test accuracy: \d/.test(numbers(gpu)) && /→ (spam|not spam)/.test(numbers(gpu)), gpu);
    assert.equal(numbers(gpu), numbers(cpu));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
