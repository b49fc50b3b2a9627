/**
 * The package's entry points: the main entry holds the chapter's functions and no internals; each folder of
 * lib/src has a subpath entry (`llm-spam-classifier/engine`, …) declared in both `exports` (Node) and
 * `typesVersions` (TypeScript's node10 resolution), which holds the internals that are not in the main entry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as main from "llm-spam-classifier";
import * as data from "llm-spam-classifier/data";
import * as engine from "llm-spam-classifier/engine";
import * as model from "llm-spam-classifier/model";
import * as plot from "llm-spam-classifier/plot";
import * as train from "llm-spam-classifier/train";
import * as util from "llm-spam-classifier/util";
import * as weights from "llm-spam-classifier/weights";
import { ROOT } from "../helpers";

const LIB = path.join(ROOT, "lib");

interface PackageJson {
  exports: Record<string, string | { types: string; default: string }>;
  typesVersions: { "*": Record<string, string[]> };
}

test("every subpath entry is declared for Node (exports) and for TypeScript (typesVersions), and built", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(LIB, "package.json"), "utf8")) as PackageJson;
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== "." && k !== "./package.json");
  assert.deepEqual(subpaths.map((k) => k.slice(2)).sort(), Object.keys(pkg.typesVersions["*"]).sort());
  for (const sub of subpaths) {
    const name = sub.slice(2);
    const entry = pkg.exports[sub];
    assert.ok(typeof entry === "object", sub);
    assert.deepEqual(entry, { types: `./dist/${name}/index.d.ts`, default: `./dist/${name}/index.js` }, sub);
    assert.deepEqual(pkg.typesVersions["*"][name], [`dist/${name}/index.d.ts`], sub);
    assert.ok(fs.existsSync(path.join(LIB, "src", name, "index.ts")), `lib/src/${name}/index.ts`);
    for (const f of [entry.types, entry.default]) assert.ok(fs.existsSync(path.join(LIB, f)), f);
  }
});

test("internals are in their folder's entry, not in the main entry", () => {
  const internals: Array<[Record<string, unknown>, string[]]> = [
    [data, ["parseCsv", "parseDelimited", "valueCounts", "extractZip", "spamDataPaths"]],
    [model, ["isLinearWeight", "parameterShapes", "checkTokenIds", "frozenTrunkSize", "encodeForClassification"]],
    [weights, ["crc32c", "maskCrc", "SafetensorsFile", "writeSafetensors", "decodeStringTensor", "openWeightSource"]],
    [train, ["crossEntropy", "crossEntropyOfLogits", "lastTokenLogitsOf", "formatEvalLine", "saveTrainingReport"]],
    [plot, ["linspace", "plotlyLibrary", "notebookPlotHtml", "findChromium"]],
    [engine, ["encodeModel", "OnnxGraphBuilder", "createOrtSession", "OnnxGptEngine", "createFastClassifierPath"]],
    [engine, ["enableOrtMatMul", "registerWasmKernels", "generateTextOnnx"]],
    [util, ["writeFileAtomic", "downloadFile", "createProgress", "serveFiles"]],
  ];
  const exported = main as Record<string, unknown>;
  for (const [entry, names] of internals) {
    for (const name of names) {
      assert.equal(typeof entry[name], "function", `${name} in its subpath entry`);
      assert.equal(exported[name], undefined, `${name} is not in the main entry`);
    }
  }
});

test("the main entry's functions are the subpath entries' own (one module instance, not copies)", () => {
  assert.equal(main.calcLossBatch, train.calcLossBatch);
  assert.equal(main.GPTModel, model.GPTModel);
  assert.equal(main.OnnxClassifier, engine.OnnxClassifier);
  assert.equal(main.prepareSpamData, data.prepareSpamData);
  assert.equal(main.loadPretrainedGpt2, weights.loadPretrainedGpt2);
  assert.equal(main.trainingFigures, plot.trainingFigures);
});
