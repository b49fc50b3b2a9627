#!/usr/bin/env node
// `npm run lab [-- notebook|lab args]`: starts JupyterLab (or the classic notebook when Lab is not installed)
// with this project's tslab kernel, found through JUPYTER_PATH — no global `tslab install` needed.
import { spawnSync, spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = {
  ...process.env,
  JUPYTER_PATH: [path.join(root, ".jupyter"), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
};
const has = (sub) => spawnSync("jupyter", [sub, "--version"], { env, stdio: "ignore" }).status === 0;
const app = has("lab") ? "lab" : has("notebook") ? "notebook" : undefined;
if (!app) {
  console.error(
    "Jupyter is not installed. Install JupyterLab (pip install jupyterlab) or, on Debian/Ubuntu,\n" +
      "  sudo apt-get install -y jupyter-notebook jupyter-nbconvert python3-nbclient\nthen run `npm run lab` again.",
  );
  process.exit(1);
}
console.log(
  `Starting jupyter ${app} in notebooks/ with the TypeScript (tslab) kernel from ${path.join(root, ".jupyter")}`,
);
const extra = process.getuid?.() === 0 ? ["--allow-root"] : []; // containers often run as root
const child = spawn(
  "jupyter",
  [app, "--notebook-dir", path.join(root, "notebooks"), ...extra, ...process.argv.slice(2)],
  { env, stdio: "inherit" },
);
child.on("exit", (code) => process.exit(code ?? 0));
