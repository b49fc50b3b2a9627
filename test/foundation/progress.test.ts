import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { trainingProgress } from "llm-spam-classifier";
import { createProgress, tslabDisplay, type NotebookDisplay } from "llm-spam-classifier/util";

/** A stand-in for a tslab display: records every HTML it is given. */
function fakeDisplay(): NotebookDisplay & { shown: string[] } {
  const shown: string[] = [];
  return {
    shown,
    html: (s) => {
      shown.push(s);
    },
  };
}

/** A non-TTY stream that collects what is written. */
function collector(): { stream: Writable; text: () => string } {
  let out = "";
  return {
    stream: new Writable({
      write(chunk, _enc, cb) {
        out += chunk;
        cb();
      },
    }),
    text: () => out,
  };
}

test("tslabDisplay: a display inside a tslab kernel, undefined without tslab or outside a kernel", () => {
  const d = fakeDisplay();
  assert.equal(
    tslabDisplay(() => ({ newDisplay: () => d })),
    d,
  );
  assert.deepEqual(d.shown, [""], "the display is created empty");
  const notReady = {
    newDisplay: () => ({
      html: () => {
        throw new Error("Not ready");
      },
    }),
  };
  assert.equal(
    tslabDisplay(() => notReady),
    undefined,
  );
  assert.equal(
    tslabDisplay(() => {
      throw new Error("Cannot find module 'tslab'");
    }),
    undefined,
  );
  assert.equal(tslabDisplay(), undefined, "the real tslab, loaded outside a kernel");
});

test("with a notebook display the bar is HTML redrawn in place (throttled, final state always), nothing on the stream", () => {
  const d = fakeDisplay(),
    out = collector();
  const bar = createProgress({
    label: "model<1>.bin",
    total: 2048,
    unit: "bytes",
    stream: out.stream,
    display: () => d,
  });
  for (let n = 1; n <= 2048; n *= 2) bar.update(n);
  bar.finish();
  bar.finish();
  assert.equal(out.text(), "");
  assert.equal(d.shown.length, 2, "the first update, then (within 300 ms) only the final state");
  assert.match(
    d.shown[1],
    /^<div [^>]*>model&lt;1&gt;\.bin <progress value="2048" max="2048" [^>]*><\/progress> 100% 2\.00 kB\/2\.00 kB /,
  );
  // Unthrottled: every update redraws the same display.
  const every = fakeDisplay();
  const items = createProgress({ label: "x", total: 3, display: () => every, throttleMs: 0 });
  [1, 2, 3].forEach((n) => items.update(n));
  items.finish();
  assert.deepEqual(
    every.shown.map((s) => /value="(\d)"/.exec(s)![1]),
    ["1", "2", "3", "3"],
  );
});

test("without a notebook display the bar is text (a line per tenth off a terminal); stream null draws nothing at all", () => {
  for (const display of [() => undefined, null]) {
    const out = collector();
    const bar = createProgress({ label: "f", total: 10, unit: "items", stream: out.stream, display });
    for (let i = 1; i <= 10; i++) bar.tick();
    bar.finish();
    assert.equal(out.text().split("\n").filter(Boolean).length, 10);
    assert.match(out.text(), /^f \[#{24}\] 100% 10\/10 /m);
  }
  let asked = false;
  const quiet = createProgress({
    label: "q",
    total: 1,
    stream: null,
    display: () => {
      asked = true;
      return fakeDisplay();
    },
  });
  quiet.update(1);
  quiet.finish();
  assert.equal(asked, false);
});

test("trainingProgress in a notebook: one display per epoch, updated in place with the step and loss", () => {
  const displays: Array<ReturnType<typeof fakeDisplay>> = [];
  const onProgress = trainingProgress({
    display: () => {
      displays.push(fakeDisplay());
      return displays.at(-1);
    },
    throttleMs: 0,
  });
  for (const epoch of [1, 2])
    for (let step = 1; step <= 4; step++) {
      onProgress({
        epoch,
        numEpochs: 2,
        step,
        stepsPerEpoch: 4,
        globalStep: (epoch - 1) * 4 + step - 1,
        examplesSeen: 0,
        loss: 0.25 * step,
      });
    }
  assert.equal(displays.length, 2);
  for (const [i, d] of displays.entries()) {
    assert.match(
      d.shown.at(-1)!,
      new RegExp(`Epoch ${i + 1}/2 <progress value="4" max="4" .*100% 4/4 .* loss 1\\.000</div>$`),
    );
  }
});
