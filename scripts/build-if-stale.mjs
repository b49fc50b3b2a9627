#!/usr/bin/env node
/**
 * `prestart`: rebuilds lib/dist only when a source is newer than the last build, so `npm start -- <command>`
 * does not pay a full TypeScript compile (10+ s) on every run. A build stamp (lib/dist/.build-stamp) is written
 * after each successful compile; any lib/src file, lib/tsconfig.json or lib/package.json newer than it (or a
 * missing stamp) triggers `tsc -p lib/tsconfig.json` (and the web app page's tsconfig).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const lib = path.join(root, "lib");
const stamp = path.join(lib, "dist", ".build-stamp");

function newest(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return fs.readdirSync(p).reduce((m, f) => Math.max(m, newest(path.join(p, f))), st.mtimeMs);
}

const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : -Infinity;
const sources = Math.max(
  newest(path.join(lib, "src")),
  newest(path.join(lib, "tsconfig.json")),
  newest(path.join(lib, "package.json")),
);
if (sources > built) {
  const tsc = createRequire(path.join(root, "package.json")).resolve("typescript/bin/tsc");
  // The library, then the web app's page (browser modules, lib/src/serve/page/).
  for (const project of [path.join(lib, "tsconfig.json"), path.join(lib, "src", "serve", "page", "tsconfig.json")]) {
    const r = spawnSync(process.execPath, [tsc, "-p", project], { stdio: "inherit" });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
