import { test, before } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import {
  tf,
  initBackend,
  GPTModel,
  prepareClassifier,
  AdamW,
  PlainRunner,
  SpamDataset,
  DataLoader,
  trainClassifierSimple,
  trainingProgress,
  TrainingInterruptedError,
  UserError,
  ConfigError,
  trainingSchedule,
  type TrainProgress,
} from "llm-spam-classifier";
import { formatEvalLine, formatAccuracyLine } from "llm-spam-classifier/train";

// The loop of 6.7 on a tiny GPT and a small real-looking dataset (real GPT-2 tokens, batch 8, shuffled, drop_last).
const TEXTS = [
  "Free entry in 2 a wkly comp to win FA Cup final tkts",
  "Ok lar... Joking wif u oni...",
  "WINNER!! You have been selected to receive a prize",
  "I'm gonna be home soon",
  "URGENT! You have won a 1 week FREE membership",
  "Did you catch the bus?",
  "Call now to claim your cash award",
  "See you at dinner tonight",
  "Congratulations ur awarded 500 of CD vouchers",
  "Can you pick up some milk?",
  "Txt STOP to end offers",
  "Lunch tomorrow?",
  "You are a winner, claim $1000 cash now",
  "How was the exam?",
  "Get a free ringtone, reply YES",
  "Running late, sorry",
  "Your mobile number won a prize draw",
  "Happy birthday!",
  "Claim your holiday now, call 0800",
  "Where are you?",
];
const rows = Array.from({ length: 36 }, (_, i) => ({
  Label: i % 2 === 0 ? 1 : 0,
  Text: TEXTS[i % TEXTS.length] + (i >= 20 ? " again" : ""),
}));
const CFG = { vocabSize: 50257, contextLength: 32, embDim: 8, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true };

before(async () => {
  await initBackend();
});

function setup(seed = 123) {
  const train = new SpamDataset(rows.slice(0, 28)),
    val = new SpamDataset(rows.slice(28), undefined, { maxLength: train.maxLength });
  const model = new GPTModel(CFG, { seed: 1 });
  prepareClassifier(model, { numClasses: 2, trainable: "last-block", seed: 123 });
  return {
    model,
    optimizer: new AdamW(model.trainableParams(), { lr: 5e-3, weightDecay: 0.1 }),
    trainLoader: new DataLoader(train, { batchSize: 8, shuffle: true, dropLast: true, seed }),
    valLoader: new DataLoader(val, { batchSize: 8 }),
  };
}

const opts = { numEpochs: 2, evalFreq: 2, evalIter: 2 };
const withoutTiming = (lines: string[]) => lines.filter((l) => !l.startsWith("Training completed"));

test("the book's log: eval lines every evalFreq steps, one accuracy line per epoch, the minutes; counts and examples seen", async () => {
  const s = setup();
  const printed: string[] = [];
  const r = await trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, {
    ...opts,
    log: (l) => printed.push(l),
  });
  assert.deepEqual(printed, r.logLines);
  // 28 examples, batch 8, drop_last → 3 steps per epoch, 6 in all; evaluations at steps 0, 2, 4
  assert.equal(r.examplesSeen, 48);
  assert.deepEqual(r.evalSteps, [0, 2, 4]);
  assert.equal(r.trainLosses.length, 3);
  assert.equal(r.trainAccs.length, 2);
  assert.match(printed[0], /^Ep 1 \(Step 000000\): Train loss \d\.\d{3}, Val loss \d\.\d{3}$/);
  assert.equal(printed[0], formatEvalLine(1, 0, r.trainLosses[0], r.valLosses[0]));
  assert.match(printed[1], /^Ep 1 \(Step 000002\)/);
  assert.equal(printed[2], formatAccuracyLine(r.trainAccs[0], r.valAccs[0]));
  assert.match(printed[2], /^Training accuracy: \d+\.\d\d% \| Validation accuracy: \d+\.\d\d%$/);
  assert.match(printed[3], /^Ep 2 \(Step 000004\)/);
  assert.match(printed[5], /^Training completed in \d+\.\d\d minutes\.$/);
  assert.equal(printed.length, 6);
  for (const a of [...r.trainAccs, ...r.valAccs]) assert.ok(a >= 0 && a <= 1 && Number.isInteger(a * 16));
  s.optimizer.dispose();
  s.model.dispose();
});

test("seeded: the same seed gives the same log; another shuffle seed gives another", async () => {
  const logs: string[][] = [];
  for (const seed of [123, 123, 7]) {
    const s = setup(seed);
    logs.push(
      withoutTiming((await trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, opts)).logLines),
    );
    s.optimizer.dispose();
    s.model.dispose();
  }
  assert.deepEqual(logs[0], logs[1]);
  assert.notDeepEqual(logs[0], logs[2]);
});

test("a runner or (model, optimizer) give the same run; training lowers the loss", async () => {
  const a = setup(),
    b = setup();
  const ra = await trainClassifierSimple(a.model, a.trainLoader, a.valLoader, a.optimizer, { ...opts, numEpochs: 4 });
  const rb = await trainClassifierSimple(new PlainRunner(b.model, b.optimizer), b.trainLoader, b.valLoader, {
    ...opts,
    numEpochs: 4,
  });
  assert.deepEqual(withoutTiming(ra.logLines), withoutTiming(rb.logLines));
  assert.ok(ra.trainLosses.at(-1)! < ra.trainLosses[0], ra.trainLosses.join());
  for (const s of [a, b]) {
    s.optimizer.dispose();
    s.model.dispose();
  }
});

test("no tensor leaks: a whole training run leaves tf.memory().numTensors unchanged (after AdamW's moments exist)", async () => {
  const s = setup();
  await trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, { ...opts, numEpochs: 1 });
  const before = tf.memory().numTensors;
  await trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, opts);
  assert.equal(tf.memory().numTensors, before);
  s.optimizer.dispose();
  s.model.dispose();
});

test("onProgress sees every step; an AbortSignal stops between steps with a TrainingInterruptedError (a UserError)", async () => {
  const s = setup();
  const seen: TrainProgress[] = [];
  const controller = new AbortController();
  await assert.rejects(
    trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, {
      ...opts,
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.globalStep === 3) controller.abort();
      },
    }),
    (err: unknown) =>
      err instanceof TrainingInterruptedError && err instanceof UserError && /after 4 steps/.test(err.message),
  );
  assert.deepEqual(
    seen.map((p) => [p.epoch, p.step, p.stepsPerEpoch, p.globalStep, p.examplesSeen]),
    [
      [1, 1, 3, 0, 8],
      [1, 2, 3, 1, 16],
      [1, 3, 3, 2, 24],
      [2, 1, 3, 3, 32],
    ],
  );
  assert.ok(seen.every((p) => Number.isFinite(p.loss) && p.numEpochs === 2));
  s.optimizer.dispose();
  s.model.dispose();
});

test("the loop yields to the event loop between steps, so Ctrl-C handlers, timers and progress output run during training", async () => {
  const s = setup();
  let timerFired = false,
    firedBeforeEnd = false;
  setTimeout(() => {
    timerFired = true;
  }, 0);
  await trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, {
    ...opts,
    numEpochs: 1,
    onProgress: (p) => {
      if (p.step === p.stepsPerEpoch) firedBeforeEnd = timerFired;
    },
  });
  assert.ok(firedBeforeEnd, "a timer could not run while training");
  s.optimizer.dispose();
  s.model.dispose();
});

test("maxStepsPerEpoch limits a smoke run; a model without optimizer is a clear error", async () => {
  const s = setup();
  const r = await trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, {
    ...opts,
    maxStepsPerEpoch: 1,
    evalFreq: 1,
  });
  assert.equal(r.examplesSeen, 16);
  assert.deepEqual(r.evalSteps, [0, 1]);
  await assert.rejects(
    trainClassifierSimple(s.model, s.trainLoader, s.valLoader, undefined as unknown as AdamW),
    /optimizer is missing/,
  );
  assert.deepEqual(trainingSchedule(false), { numEpochs: 5, evalFreq: 50, evalIter: 5 });
  s.optimizer.dispose();
  s.model.dispose();
});

test("maxSteps stops after exactly that many optimizer steps: evaluations at evalFreq, the epoch's accuracy line, a stop line", async () => {
  // The schedule: 3 steps per epoch, 2 epochs (6 steps); the full run is the reference for the steps both take.
  const full = setup();
  const ref = await trainClassifierSimple(full.model, full.trainLoader, full.valLoader, full.optimizer, opts);
  full.optimizer.dispose();
  full.model.dispose();
  assert.equal(ref.steps, 6);
  assert.equal(ref.epochs, 2);
  assert.ok(!ref.logLines.some((l) => l.startsWith("Stopped")), ref.logLines.join("\n"));

  for (const maxSteps of [1, 2, 4, 6, 50]) {
    const s = setup();
    const seen: TrainProgress[] = [];
    const r = await trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, {
      ...opts,
      maxSteps,
      onProgress: (p) => seen.push(p),
    });
    const steps = Math.min(maxSteps, 6),
      epochs = Math.ceil(steps / 3);
    assert.equal(r.steps, steps, `maxSteps ${maxSteps}`);
    assert.equal(seen.length, steps);
    assert.equal(s.optimizer.t, steps); // optimizer steps actually taken
    assert.equal(r.examplesSeen, 8 * steps);
    assert.equal(r.epochs, epochs);
    assert.equal(r.trainAccs.length, epochs);
    // Evaluations at every evalFreq (2) step that was run, with the full run's numbers (the same steps)
    const evalSteps = ref.evalSteps.filter((g) => g < steps);
    assert.deepEqual(r.evalSteps, evalSteps);
    assert.deepEqual(r.trainLosses, ref.trainLosses.slice(0, evalSteps.length));
    const stop = r.logLines.filter((l) => l.startsWith("Stopped"));
    assert.deepEqual(stop, steps < 6 ? [`Stopped after ${steps} optimizer steps (max steps ${maxSteps})`] : []);
    // eval lines + one accuracy line per epoch begun + the stop line + the minutes
    assert.equal(r.logLines.length, evalSteps.length + epochs + stop.length + 1);
    assert.match(r.logLines.at(-1)!, /^Training completed in/);
    s.optimizer.dispose();
    s.model.dispose();
  }

  const s = setup();
  for (const bad of [0, -1, 1.5, NaN])
    await assert.rejects(
      trainClassifierSimple(s.model, s.trainLoader, s.valLoader, s.optimizer, { ...opts, maxSteps: bad }),
      (err: unknown) => err instanceof ConfigError && /maxSteps must be a positive integer/.test(err.message),
    );
  assert.equal(s.optimizer.t, 0);
  s.optimizer.dispose();
  s.model.dispose();
});

test("trainingProgress draws one text bar per epoch with the loss", () => {
  let out = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += chunk;
      cb();
    },
  });
  const onProgress = trainingProgress({ stream });
  for (const epoch of [1, 2])
    for (let step = 1; step <= 4; step++) {
      onProgress({
        epoch,
        numEpochs: 2,
        step,
        stepsPerEpoch: 4,
        globalStep: (epoch - 1) * 4 + step - 1,
        examplesSeen: 0,
        loss: 0.5,
      });
    }
  assert.match(out, /Epoch 1\/2 \[#+\] 100% 4\/4 .*loss 0\.500/);
  assert.match(out, /Epoch 2\/2 \[#+\] 100% 4\/4/);
});
