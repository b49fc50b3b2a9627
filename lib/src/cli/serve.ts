import type { CliCommand } from "./command";
import { intOption, weightCacheDirFor } from "./command";

/** `npm start -- serve` (`npm run ui`): the web app to try the classifier in a browser. */
export const serveCommand: CliCommand = {
  name: "serve",
  summary: "A local web page to classify messages, see why, and compare your classifiers",
  usage: "[--model DIR] [--port 8000] [--host 127.0.0.1]",
  help: `Starts a web server on 127.0.0.1 and prints its URL. The page classifies a message or many (one per
line, or a .txt/.csv file dropped on it; results as a table, exportable as CSV), shows which tokens pushed a
message toward spam (occlusion: each token taken out in turn), and the model card of each classifier under
the data folder (base weights, what was trained, trained length, accuracies and plots of its training run).
JSON endpoints: GET /api/health, GET /api/models, POST /api/classify, POST /api/explain.
Ctrl-C finishes the requests in progress, then stops.

Options:
  --model DIR    the classifier to load first (default <data>/review-classifier, else the first one found)
  --port N       the port (default 8000; 0 picks a free one)
  --host H       the address to listen on (default 127.0.0.1, this machine only); another address lets
                 other machines use the classifier, without any authentication`,
  options: {
    model: { type: "string" },
    port: { type: "string" },
    host: { type: "string" },
  },
  async run(values, _positionals, ctx) {
    const port = intOption(values, "port", 8000, 0, 65535);
    const host = typeof values.host === "string" ? values.host : "127.0.0.1";
    // Fastify and the classifier are loaded here, not when the CLI starts (`--help` stays light).
    const { startUiServer } = await import("../serve/start");
    const server = await startUiServer({
      dataDir: ctx.settings.dataDir,
      model: typeof values.model === "string" ? values.model : undefined,
      cacheDir: weightCacheDirFor(ctx),
      initTfjs: () => ctx.backend(),
      host,
      port,
      log: ctx.log,
    });
    await server.stopped;
  },
};
