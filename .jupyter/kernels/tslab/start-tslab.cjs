// Starts the project's own tslab (node_modules/tslab) as a Jupyter kernel, wherever the notebook is.
// Used through JUPYTER_PATH=<project>/.jupyter (see `npm run lab`), so no global `tslab install` is needed.
const fs = require("node:fs");
const path = require("node:path");
const root = path.resolve(__dirname, "..", "..", "..");
const main = path.join(root, "node_modules", "tslab", "dist", "main.js");
if (!fs.existsSync(main)) {
  console.error(`tslab is not installed in ${root}: run \`npm install\` there first.`);
  process.exit(1);
}
require(main).main();
