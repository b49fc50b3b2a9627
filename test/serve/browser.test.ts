/**
 * The web app end to end in a real headless Chromium (playwright-core driving the system's Chromium, which
 * .ci/run installs from Debian): start the server on the smoke classifiers, classify a text, upload a file
 * of 20 lines and read the table, check the explanation, export the CSV, switch models, and the page on a
 * phone-sized screen. Each state is saved as a screenshot in build/ui-screenshots/.
 * Skipped (with the reason) where no Chromium is installed.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { findChromium } from "llm-spam-classifier/plot";
import { initBackend } from "llm-spam-classifier";
import { startUiServer, type RunningUi } from "llm-spam-classifier/serve";
import { ROOT } from "../helpers";
import { CHAPTER_MODEL, LORA_MODEL, makeSmokeClassifiers } from "./smokeClassifiers";

const SHOTS = path.join(ROOT, "build", "ui-screenshots");
const executablePath = findChromium();

let data: { dataDir: string; cleanup: () => void };
let ui: RunningUi;
let browser: Browser;
let page: Page;
/** Every request the page made: all of them must go to our server (the page works offline). */
const requested: string[] = [];

const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

before(async () => {
  if (!executablePath) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  data = await makeSmokeClassifiers("serve-browser-");
  ui = await startUiServer({
    dataDir: data.dataDir,
    port: 0,
    handleSignals: false,
    cacheDir: false,
    initTfjs: () => initBackend("wasm"),
  });
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page.on("request", (r) => requested.push(r.url()));
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
});

after(async () => {
  await browser?.close();
  await ui?.close();
  data?.cleanup();
});

const skip = executablePath ? false : "no Chromium installed (apt-get install chromium)";

test("the page loads offline, shows the default model's card with its accuracies and plots", { skip }, async () => {
  await page.goto(ui.url);
  await page.waitForSelector(`.card[data-model="${CHAPTER_MODEL}"]`);
  assert.equal(await page.locator("#model").inputValue(), CHAPTER_MODEL);
  assert.deepEqual(await page.locator("#model option").allTextContents(), [LORA_MODEL, CHAPTER_MODEL]);
  const card = await page.locator("#card").innerText();
  assert.match(card, /Base weights\s+124M\/model\.ckpt/);
  assert.match(card, /last transformer block/);
  assert.match(card, /Trained length\s+120 tokens/);
  assert.equal(await page.locator("#metrics-table tbody tr").count(), 3);
  const metrics = JSON.parse(fs.readFileSync(path.join(data.dataDir, CHAPTER_MODEL, "metrics.json"), "utf8")) as {
    final: { testAcc: number };
  };
  assert.match(
    await page.locator("#metrics-table tbody tr").nth(2).innerText(),
    new RegExp(`${(metrics.final.testAcc * 100).toFixed(1)} %`),
  );
  if (fs.existsSync(path.join(data.dataDir, CHAPTER_MODEL, "loss-plot.png"))) {
    const img = page.locator(".plot img").first();
    await img.scrollIntoViewIfNeeded();
    await page.waitForFunction(() => {
      const i = document.querySelector<HTMLImageElement>(".plot img");
      return i !== null && i.complete && i.naturalWidth > 0;
    });
  }
  await shot("1-start");
});

test(
  "classify one text: label, probability, time, and the coloured explanation (keyboard only)",
  { skip },
  async () => {
    await page.locator("#text").focus();
    await page.keyboard.type("WINNER!! Claim your free prize now, call 09061701461");
    await page.keyboard.press("Control+Enter");
    await page.waitForSelector(".explanation");
    const single = await page.locator(".single").innerText();
    assert.match(single, /^(spam|not spam)/);
    assert.match(single, /spam probability \d+\.\d\d %/);
    assert.match(single, /\d+ ms|\d+\.\d\d s/);
    const tokens = page.locator("#explained-tokens .tok");
    assert.ok((await tokens.count()) > 5);
    assert.equal((await tokens.allTextContents()).join(""), "WINNER!! Claim your free prize now, call 09061701461");
    const colours = await tokens.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    assert.ok(
      colours.every((c) => /^rgba\(/.test(c)),
      colours.join(" "),
    );
    await shot("2-single");
  },
);

test("upload a file of 20 lines: a table of 20 results, exported as CSV", { skip }, async () => {
  const lines = Array.from({ length: 20 }, (_, i) =>
    i % 2 ? `Lunch at ${i} tomorrow?` : `FREE entry ${i}: win a prize, text WIN to 8000${i}`,
  );
  await page.locator("#file").setInputFiles({
    name: "messages.txt",
    mimeType: "text/plain",
    buffer: Buffer.from(lines.join("\n") + "\n"),
  });
  await page.waitForSelector("#results-table");
  const rows = page.locator("#results-table tbody tr");
  assert.equal(await rows.count(), 20);
  const table = await rows.evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent ?? "")),
  );
  assert.deepEqual(
    table.map((r) => r[1]),
    lines,
  );
  // The same numbers as the API (which the API test checks against the library).
  const api = (await (
    await fetch(new URL("/api/classify", ui.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ texts: lines, model: CHAPTER_MODEL }),
    })
  ).json()) as { results: Array<{ label: string; spamProbability: number }> };
  table.forEach((r, i) => {
    assert.equal(r[2], api.results[i].label);
    assert.equal(r[3], `${(api.results[i].spamProbability * 100).toFixed(2)} %`);
  });
  assert.match(await page.locator(".summary").innerText(), /^20 messages: \d+ spam, \d+ not spam/);
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#export").click()]);
  const csv = fs
    .readFileSync(await download.path(), "utf8")
    .trim()
    .split("\r\n");
  assert.equal(csv[0], "text,label,spam_probability");
  assert.equal(csv.length, 21);
  assert.ok(csv[1].startsWith(`"${lines[0]}",${api.results[0].label},0.`), csv[1]); // quoted: it has a comma
  assert.ok(csv[2].startsWith(`${lines[1]},${api.results[1].label},0.`), csv[2]);
  await shot("3-batch");
});

test("a .csv file with a header: its text column is classified", { skip }, async () => {
  const csv = 'Label,Text\nspam,"Win £1000, call now"\nham,"See you at 5, ok?"\n';
  await page.locator("#file").setInputFiles({ name: "split.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.waitForFunction(() => document.querySelectorAll("#results-table tbody tr").length === 2);
  assert.deepEqual(await page.locator("#results-table tbody td.text").allTextContents(), [
    "Win £1000, call now",
    "See you at 5, ok?",
  ]);
});

test("a .txt file dropped anywhere on the page is classified", { skip }, async () => {
  const dataTransfer = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["Call now to win\n\nsee you soon\nURGENT prize\n"], "dropped.txt", { type: "text/plain" }));
    return dt;
  });
  await page.dispatchEvent("footer", "drop", { dataTransfer });
  await page.waitForFunction(() => document.querySelectorAll("#results-table tbody tr").length === 3);
  assert.deepEqual(await page.locator("#results-table tbody td.text").allTextContents(), [
    "Call now to win",
    "see you soon",
    "URGENT prize",
  ]);
});

test("switch models: the LoRA classifier's card, and its own answers", { skip }, async () => {
  await page.locator("#model").selectOption(LORA_MODEL);
  await page.waitForSelector(`.card[data-model="${LORA_MODEL}"]`);
  assert.match(await page.locator("#card").innerText(), /LoRA adapters on every Linear layer.*rank 16, alpha 16/s);
  await page.locator("#text").fill("Hey, are we still on for dinner?");
  await page.locator("#classify").click();
  await page.waitForSelector(".explanation");
  assert.match(await page.locator(".single .meta").innerText(), new RegExp(LORA_MODEL));
  const r = (await (
    await fetch(new URL("/api/classify", ui.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "Hey, are we still on for dinner?", model: LORA_MODEL }),
    })
  ).json()) as { results: Array<{ spamProbability: number }> };
  assert.match(
    await page.locator(".single .prob").innerText(),
    new RegExp(`${(r.results[0].spamProbability * 100).toFixed(2)} %`),
  );
  await shot("4-switched");
});

test("errors show on the page; a phone-sized screen gets one column", { skip }, async () => {
  await page.locator("#clear").click();
  await page.locator("#classify").click();
  assert.match(await page.locator("#error").innerText(), /Type or paste a message/);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator("#text").fill("Free entry to win cash now");
  await page.locator("#classify").click();
  await page.waitForSelector(".explanation");
  const [main, aside] = await Promise.all([
    page.locator("main > section").boundingBox(),
    page.locator("main > aside").boundingBox(),
  ]);
  assert.ok(main && aside && aside.y > main.y + main.height - 1, "the model panel goes below on a phone");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow} px)`);
  await shot("5-phone");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot("6-phone-dark");
  const foreign = requested.filter((u) => !u.startsWith(ui.url) && !u.startsWith("blob:"));
  assert.deepEqual(foreign, [], "every asset comes from the local server");
});
