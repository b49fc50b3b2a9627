#!/usr/bin/env node
/**
 * Executes the chapter notebooks two ways, as users and their CI would:
 *   1. `jupyter nbconvert --to script notebooks/*.ipynb` writes NN-name.ts beside each notebook (in place, where
 *      notebooks/package.json makes them ES modules, so top-level await works); `tsc -p notebooks/tsconfig.json`
 *      type-checks them against the built package; each runs with Node + tsx in notebooks/. The .ts files are
 *      deleted afterwards (.gitignore ignores them).
 *   2. execution through the real tslab kernel (nbclient), failing on the first cell error with that cell's
 *      stderr shown; the executed copies go to build/notebooks/.
 * Smoke mode (default here; `--full` for the real thing) is LLM_SMOKE=1 and a fresh LLM_DATA_DIR, nothing
 * else: the package's own dataset copy and tiny GPT-2 make it work offline, as it does for a user.
 *
 * Usage: node scripts/run-notebooks.mjs [--full] [--only script|kernel] [--out DIR] [notebooks/NN-x.ipynb ...]
 * (--out: where the executed copies go, default build/notebooks)
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
const notebooks = files.length
  ? files.map((f) => path.resolve(f))
  : fs
      .readdirSync(path.join(root, "notebooks"))
      .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
      .sort()
      .map((f) => path.join(root, "notebooks", f));
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
  summary(0, 0, notebooks.length * 2 + 1);
  process.exit(0);
}

const build = args.includes("--out")
  ? path.resolve(args[args.indexOf("--out") + 1])
  : path.join(root, "build", "notebooks");
fs.rmSync(build, { recursive: true, force: true });
fs.mkdirSync(build, { recursive: true });

const env = {
  ...process.env,
  JUPYTER_PATH: [path.join(root, ".jupyter"), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
};
if (!full) Object.assign(env, { LLM_SMOKE: "1" });
// Each run gets one data folder for all notebooks, as a user's would (later notebooks reuse earlier downloads).
env.LLM_DATA_DIR = process.env.LLM_DATA_DIR ?? path.join(build, "data");

/** Runs a child process, collecting its output. */
function exec(cmd, cmdArgs, opts) {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
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

let passed = 0,
  failed = 0;
const count = (ok) => (ok ? passed++ : failed++);
const scriptOf = (nb) => nb.replace(/\.ipynb$/, ".ts");
const converted = [];
try {
  if (only !== "kernel") {
    // As a user's CI does it: convert in place, type-check, run where nbconvert wrote them.
    const conv = await exec("jupyter", ["nbconvert", "--to", "script", ...notebooks], { env });
    for (const nb of notebooks) if (fs.existsSync(scriptOf(nb))) converted.push(scriptOf(nb));
    if (conv.status !== 0 || converted.length !== notebooks.length) {
      console.log(
        `FAIL nbconvert --to script wrote ${converted.length} of ${notebooks.length} scripts\n${conv.stderr}`,
      );
      failed++;
    }
    const tsc = path.join(path.dirname(require.resolve("typescript/package.json")), "bin", "tsc");
    count(
      await run(
        "the converted scripts type-check (tsc -p notebooks/tsconfig.json)",
        process.execPath,
        [tsc, "-p", path.join(root, "notebooks", "tsconfig.json")],
        { cwd: root, env },
      ),
    );
    for (const script of converted) {
      const name = path.basename(script, ".ts");
      count(
        await run(
          `${name} as script (nbconvert --to script + tsx, in place)`,
          process.execPath,
          ["--import", "tsx", script],
          { cwd: path.dirname(script), env },
        ),
      );
    }
  }
  if (only !== "script") {
    for (const nb of notebooks) {
      const name = path.basename(nb, ".ipynb");
      count(
        await run(
          `${name} in the tslab kernel (nbclient)`,
          python,
          [
            path.join(root, "scripts", "execute_notebook.py"),
            nb,
            path.join(build, `${name}.ipynb`),
            full ? "36000" : "1200",
          ],
          { cwd: path.dirname(nb), env },
        ),
      );
    }
  }
} finally {
  for (const script of converted) fs.rmSync(script, { force: true });
}
summary(passed, failed, 0);
process.exit(failed ? 1 : 0);
