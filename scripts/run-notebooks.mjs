#!/usr/bin/env node
/**
 * Executes the chapter notebooks two ways, as users and their CI would:
 *   1. `jupyter nbconvert --to script` → a .ts file run with Node (tsx);
 *   2. `jupyter nbconvert`-style execution through the real tslab kernel (nbclient), failing on the
 *      first cell error with that cell's stderr shown.
 * Smoke mode (default here; `--full` for the real thing): LLM_SMOKE=1, a fresh LLM_DATA_DIR, and a
 * 127.0.0.1 server with the tiny GPT-2 checkpoint and the dataset zip from ../shared/data
 * (or SHARED_DATA_DIR), so the real download code runs without internet.
 *
 * Usage: node scripts/run-notebooks.mjs [--full] [--only script|kernel] [notebooks/NN-x.ipynb ...]
 * Without Jupyter: reports the notebooks as skipped (a failure when CI=true).
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const full = args.includes("--full");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
const files = args.filter((a, i) => a.endsWith(".ipynb") && args[i - 1] !== "--only");
const notebooks = (files.length ? files.map((f) => path.resolve(f)) : fs.readdirSync(path.join(root, "notebooks"))
  .filter((f) => /^\d\d-.*\.ipynb$/.test(f)).sort().map((f) => path.join(root, "notebooks", f)));
const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const INSTALL = "sudo apt-get install -y jupyter-nbconvert python3-nbclient   (Debian/Ubuntu)";

function jupyterReady() {
  const nbc = spawnSync("jupyter", ["nbconvert", "--version"], { encoding: "utf8" });
  const cli = spawnSync(python, ["-c", "import nbclient, nbformat"], { encoding: "utf8" });
  return nbc.status === 0 && cli.status === 0;
}

function summary(passed, failed, skipped) {
  console.log(`notebooks: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
}

if (!jupyterReady()) {
  const msg = `Jupyter (nbconvert + nbclient) not found: notebook execution skipped. Install with:\n  ${INSTALL}`;
  if (process.env.CI === "true") {
    console.error(`FAIL: ${msg}\n(CI=true: a missing Jupyter is a failure.)`);
    summary(0, notebooks.length, 0);
    process.exit(1);
  }
  console.log(`SKIP: ${msg}`);
  summary(0, 0, notebooks.length * 2);
  process.exit(0);
}

const lib = require("llm-spam-classifier");
const build = path.join(root, "build", "notebooks");
fs.rmSync(build, { recursive: true, force: true });
fs.mkdirSync(path.join(build, "scripts"), { recursive: true });
// The converted scripts use top-level await: make their folder an ES module scope.
fs.writeFileSync(path.join(build, "scripts", "package.json"), '{ "type": "module" }\n');

const env = { ...process.env, JUPYTER_PATH: [path.join(root, ".jupyter"), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter) };
let server;
if (!full) {
  const shared = process.env.SHARED_DATA_DIR ?? path.resolve(root, "..", "shared", "data");
  const zip = path.join(shared, "sms_spam_collection.zip");
  server = await lib.startSmokeServer(fs.existsSync(zip) ? { smsZip: zip } : {});
  Object.assign(env, server.env, { LLM_SMOKE: "1" });
}

/** Runs a child process asynchronously (the smoke server in this process must keep answering). */
function exec(cmd, cmdArgs, opts) {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

async function run(label, cmd, cmdArgs, opts) {
  const t0 = Date.now();
  const r = await exec(cmd, cmdArgs, opts);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const ok = r.status === 0;
  console.log(`${ok ? "PASS" : "FAIL"} ${label} (${secs}s)`);
  if (!ok) {
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-60).join("\n");
    console.log(out.replace(/^/gm, "    "));
  }
  return ok;
}

let passed = 0, failed = 0;
const count = (ok) => (ok ? passed++ : failed++);
try {
  for (const nb of notebooks) {
    const name = path.basename(nb, ".ipynb");
    // Each notebook gets the same data folder, as a user's would (later notebooks reuse earlier downloads).
    const runEnv = { ...env, LLM_DATA_DIR: process.env.LLM_DATA_DIR ?? path.join(build, "data") };
    if (only !== "kernel") {
      const conv = await exec("jupyter", ["nbconvert", "--to", "script", "--output-dir", path.join(build, "scripts"), nb], { env });
      const script = path.join(build, "scripts", `${name}.ts`);
      if (conv.status !== 0 || !fs.existsSync(script)) {
        console.log(`FAIL ${name} as script: nbconvert --to script gave no .ts file\n${conv.stderr}`);
        failed++;
      } else {
        count(await run(`${name} as script (nbconvert --to script + tsx)`, process.execPath, ["--import", "tsx", script], { cwd: path.dirname(nb), env: runEnv }));
      }
    }
    if (only !== "script") {
      count(await run(`${name} in the tslab kernel (nbclient)`, python,
        [path.join(root, "scripts", "execute_notebook.py"), nb, path.join(build, `${name}.ipynb`), full ? "36000" : "1200"],
        { cwd: path.dirname(nb), env: runEnv }));
    }
  }
} finally {
  await server?.close();
}
summary(passed, failed, 0);
process.exit(failed ? 1 : 0);
