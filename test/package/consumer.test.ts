/**
 * The library as a user's own project meets it: `npm pack` the package, install the tarball into a fresh
 * project in a temporary folder outside this repository, and run cells copied from the notebooks there
 * (ESM with tsx, type-checked with tsc, and the same code as CommonJS with `require`), plus the package's
 * CLI. Needs the npm registry (or npm's cache), as any `npm install` does.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadClassifier, classifyReview } from "llm-spam-classifier";
import { ROOT } from "../helpers";

const LIB = path.join(ROOT, "lib");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "consumer-"));
const app = path.join(work, "my-app");
let tarball = "";

/** The environment of a shell outside this project: none of npm's per-script variables, none of ours. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|LLM_|GPT2_|SMS_SPAM_|TFJS_|ONNX|ORT_|INIT_CWD$|NODE_OPTIONS$)/i.test(k)) env[k] = v;
  }
  return env;
}

function sh(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: "utf8", timeout: timeoutMs });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(" ")} in ${cwd}:\n${(r.stdout ?? "").slice(-2000)}\n${(r.stderr ?? "").slice(-3000)}`,
  );
  return r;
}

/** Version of a package installed here, so the user's project installs the same one (from npm's cache). */
const versionOf = (name: string) =>
  (JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string })
    .version;

/** A project that knows nothing of this repository: its own package.json and the documented .npmrc line. */
function newProject(dir: string, npmrc: boolean): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: path.basename(dir), version: "1.0.0", private: true }, null, 2),
  );
  if (npmrc) fs.writeFileSync(path.join(dir, ".npmrc"), "onnxruntime-node-install=skip\n");
}

const npmInstall = (dir: string, pkgs: string[]) =>
  sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...pkgs], dir, 600_000);

before(() => {
  const packed = sh("npm", ["pack", "--pack-destination", work], LIB, 300_000);
  tarball = path.join(work, packed.stdout.trim().split("\n").at(-1)!);
  assert.ok(fs.existsSync(tarball), tarball);
  newProject(app, true);
  npmInstall(app, [
    tarball,
    `tsx@${versionOf("tsx")}`,
    `typescript@${versionOf("typescript")}`,
    `@types/node@${versionOf("@types/node")}`,
  ]);
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

test("the tarball holds what runs: dist, the assets and the licence, no sources, maps or stale files", () => {
  const list = sh("tar", ["-tzf", tarball], work).stdout.split("\n").filter(Boolean);
  for (const f of [
    "package/dist/index.js",
    "package/dist/index.d.ts",
    "package/dist/cli/main.js",
    "package/LICENSE",
    "package/README.md",
    "package/assets/sms-spam-collection/sms_spam_collection.zip",
    "package/assets/gpt2-tiny/124M/model.ckpt.index",
    "package/assets/bert-tiny/model.safetensors",
    "package/assets/bert-tiny/vocab.txt",
  ]) {
    assert.ok(list.includes(f), f);
  }
  assert.deepEqual(
    list.filter((f) => /\.map$|tsbuildinfo|\/src\//.test(f)),
    [],
  );
  for (const f of list.filter((x) => x.startsWith("package/dist/") && x.endsWith(".js"))) {
    assert.ok(
      fs.existsSync(path.join(LIB, "src", f.slice("package/dist/".length).replace(/\.js$/, ".ts"))),
      `${f} has no source (stale build output)`,
    );
  }
  const pkg = JSON.parse(
    fs.readFileSync(path.join(app, "node_modules", "llm-spam-classifier", "package.json"), "utf8"),
  ) as { dependencies: Record<string, string> };
  assert.ok(!("danfojs-node" in pkg.dependencies), "the library depends only on what it imports");
});

// Cells from notebooks 01 (data), 03 (GPT-2) and 06 (classification), in smoke mode: the package's own
// dataset copy and tiny GPT-2. The classifier is the one `npx llm-spam finetune --smoke` saved.
const CELLS = `
const settings = getSettings({ smoke: true });
const prepared = await prepareSpamData(settings.dataDir, { urls: settings.smsSpamUrls, log: console.log });
const rows = Object.fromEntries(Object.entries(prepared.files).map(([k, f]) => [k, f.rows]));

const { model: gpt2 } = await loadPretrainedGpt2({ weights: "124M", dataDir: settings.dataDir, baseUrls: settings.gpt2BaseUrls, log: console.log });
const generated = await generateText(gpt2, "Every effort moves you", { maxNewTokens: 5 });
gpt2.dispose();

const { model } = loadClassifier(path.join(settings.dataDir, "review-classifier"));
const text1 = "You are a winner you have been specially selected to receive $1000 cash or a $2000 award.";
const label = await classifyReviewAsync(text1, model, getTokenizer(), { maxLength: 120 });
model.dispose();
console.log("RESULT " + JSON.stringify({ rows, tokens: getTokenizer().encode("Do you have time"), generated, label, ort: loadOnnxRuntime() !== undefined }));
`;
const NAMES =
  "getSettings, prepareSpamData, loadPretrainedGpt2, generateText, loadClassifier, classifyReviewAsync, getTokenizer, loadOnnxRuntime";

function resultOf(r: SpawnSyncReturns<string>): Record<string, unknown> {
  const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, r.stdout + r.stderr);
  return JSON.parse(line.slice("RESULT ".length)) as Record<string, unknown>;
}

/** A user's strict NodeNext tsconfig.json in `dir` that type-checks only `file`. */
function writeStrictTsconfig(dir: string, file: string): void {
  const compilerOptions = {
    target: "ES2022",
    module: "nodenext",
    moduleResolution: "nodenext",
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ["node"],
  };
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: [file] }));
}

test("in a user's project: the CLI fine-tunes a smoke classifier; copied cells run (tsx, ESM), type-check (tsc) and run with require (CJS)", () => {
  sh("npx", ["--no", "--", "llm-spam", "finetune", "--smoke", "--epochs", "1"], app);
  const saved = path.join(app, "data", "smoke", "review-classifier");
  assert.ok(fs.existsSync(path.join(saved, "model.safetensors")), "the CLI saved into the project's own data/ folder");

  fs.writeFileSync(
    path.join(app, "cells.mts"),
    `import { ${NAMES} } from "llm-spam-classifier";\nimport * as path from "node:path";\n${CELLS}`,
  );
  fs.writeFileSync(
    path.join(app, "cells.cjs"),
    `const { ${NAMES} } = require("llm-spam-classifier");\nconst path = require("node:path");\n(async () => {${CELLS}})();\n`,
  );
  writeStrictTsconfig(app, "cells.mts");

  const esm = resultOf(sh("npx", ["--no", "--", "tsx", "cells.mts"], app));
  sh("npx", ["--no", "--", "tsc", "-p", "."], app);
  const cjs = resultOf(sh("node", ["cells.cjs"], app));
  assert.deepEqual(cjs, esm);
  assert.deepEqual(esm.rows, { train: 1045, validation: 149, test: 300 });
  assert.deepEqual(esm.tokens, [5211, 345, 423, 640]);
  assert.match(String(esm.generated), /^Every effort moves you/);
  assert.equal(esm.ort, true, "onnxruntime-node installed (with the .npmrc line)");
  // The same saved classifier, read by this repository's library, gives the same answer.
  const { model } = loadClassifier(saved);
  try {
    assert.equal(
      esm.label,
      classifyReview(
        "You are a winner you have been specially selected to receive $1000 cash or a $2000 award.",
        model,
        undefined,
        { maxLength: 120 },
      ),
    );
  } finally {
    model.dispose();
  }
});

/** One function from each subpath entry (lib/package.json `exports`). */
const SUBPATH_NAMES: Record<string, string> = {
  data: "valueCounts",
  model: "encodeForClassification",
  weights: "openWeightSource",
  train: "crossEntropyOfLogits",
  plot: "linspace",
  engine: "OnnxGptEngine",
  util: "writeFileAtomic",
  serve: "startUiServer",
};

test("in a user's project: subpath exports and plain Node ESM find the package's names and types", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(LIB, "package.json"), "utf8")) as {
    exports: Record<string, unknown>;
  };
  const declared = Object.keys(pkg.exports).filter((k) => k !== "." && k !== "./package.json");
  assert.deepEqual(Object.keys(SUBPATH_NAMES).sort(), declared.map((k) => k.slice(2)).sort(), "one name per subpath");
  const subs = Object.entries(SUBPATH_NAMES);
  const imports = subs.map(([sub, name]) => `import { ${name} } from "llm-spam-classifier/${sub}";`).join("\n");
  const code = `import { getTokenizer, SMS_SPAM_ZIP } from "llm-spam-classifier"; import * as fs from "node:fs";
${imports}
console.log(JSON.stringify([getTokenizer().encode("hi").length, fs.existsSync(SMS_SPAM_ZIP), ${subs.map(([, n]) => `typeof ${n}`).join(", ")}]));`;
  const r = sh("node", ["--input-type=module", "-e", code], app);
  assert.deepEqual(JSON.parse(r.stdout.trim()), [1, true, ...subs.map(() => "function")]);
  const cjs = `console.log(JSON.stringify([${subs.map(([sub, n]) => `typeof require("llm-spam-classifier/${sub}").${n}`).join(", ")}]));`;
  assert.deepEqual(
    JSON.parse(sh("node", ["-e", cjs], app).stdout.trim()),
    subs.map(() => "function"),
  );
  fs.writeFileSync(
    path.join(app, "sub.mts"),
    `${imports}\nconst f: typeof OnnxGptEngine.create = OnnxGptEngine.create;\nconsole.log(typeof f, ${subs.map(([, n]) => `typeof ${n}`).join(", ")});\n`,
  );
  writeStrictTsconfig(app, "sub.mts");
  sh("npx", ["--no", "--", "tsc", "-p", "."], app);
});

test("without the .npmrc line the install still succeeds offline; the library then runs on tfjs alone", () => {
  const bare = path.join(work, "bare-app");
  newProject(bare, false);
  npmInstall(bare, [tarball]);
  const r = sh(
    "node",
    [
      "-e",
      `const l = require("llm-spam-classifier");
console.log(JSON.stringify({ tokens: l.getTokenizer().encode("Do you have time"), ort: l.loadOnnxRuntime() !== undefined }));`,
    ],
    bare,
  );
  const out = JSON.parse(r.stdout.trim()) as { tokens: number[]; ort: boolean };
  assert.deepEqual(out.tokens, [5211, 345, 423, 640]);
  // Offline, onnxruntime-node's CUDA download fails and npm leaves the optional package out; online it installs.
  const ortDir = path.join(bare, "node_modules", "onnxruntime-node");
  assert.equal(out.ort, fs.existsSync(ortDir));
});
