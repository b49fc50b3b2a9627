/**
 * The web app (`npm run ui`, `npm start -- serve`): a Fastify server with schema-validated JSON endpoints over
 * the library's classifier, and the page that uses them (lib/assets/ui/ and lib/src/serve/page/, every asset
 * served from here, so it works offline).
 *
 *   GET  /api/health     status, the loaded model and engine, queue length, counters
 *   GET  /api/models     the classifiers under the data folder, each with its model card
 *   POST /api/classify   { text } or { texts: [...] }, optional model → labels and spam probabilities
 *   POST /api/explain    { text }, optional model → each token's influence (occlusion, train/explain.ts)
 *   GET  /api/plot       ?model=&plot=loss|accuracy&format=png|html → the training run's plot
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import { ASSETS_DIR } from "../assets";
import { isUserError } from "../errors";
import { ClassifierService } from "./classifierService";
import { ModelCatalog, ModelNameError } from "./modelCatalog";
import { plotFile, readModelCard, type PlotName } from "./modelCard";
import { BODY_LIMIT, classifyBody, explainBody, plotQuery, requestTexts, RequestError, schemaMessage } from "./schemas";

export interface UiServerOptions {
  /** The data folder whose classifiers the picker lists. */
  dataDir: string;
  /** A classifier folder to load first (`--model DIR`); default review-classifier, else the first one found. */
  model?: string;
  /** The weight cache folder (see weightCacheDir), or false for none. */
  cacheDir?: string | false;
  /** Initialises tfjs; called only for a model that ONNX Runtime cannot run. */
  initTfjs: () => Promise<unknown>;
  log?: (line: string) => void;
}

/** How to make a classifier, for the page and the console when there is none. */
export const HOW_TO_TRAIN =
  "Fine-tune one with `npm start -- finetune` (the chapter's run), or `npm start -- finetune --smoke` for a tiny model in a few seconds; then reload the page.";

const STATIC: Record<string, { file: string; type: string }> = {
  "/": { file: path.join(ASSETS_DIR, "ui", "index.html"), type: "text/html; charset=utf-8" },
  "/app.css": { file: path.join(ASSETS_DIR, "ui", "app.css"), type: "text/css; charset=utf-8" },
};
/** The page's compiled modules (lib/src/serve/page/*.ts → dist/serve/page/*.js). */
const PAGE_JS = path.join(__dirname, "page");

/** The Fastify app with its classifier service (not listening yet: `app.listen`, or `app.inject` in tests). */
export function createUiServer(o: UiServerOptions): {
  app: FastifyInstance;
  service: ClassifierService;
  defaultModel: string | undefined;
} {
  const catalog = new ModelCatalog(o.dataDir);
  const startup = o.model !== undefined ? catalog.addStartupModel(o.model) : undefined;
  const listed = catalog.list();
  const defaultModel =
    startup ?? ["review-classifier", "smoke/review-classifier"].find((n) => listed.includes(n)) ?? listed[0];
  const service = new ClassifierService(catalog, { cacheDir: o.cacheDir, initTfjs: o.initTfjs, log: o.log });
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // Validate as written: no type coercion ("text": 3 is refused, not read as "3"), no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    schemaErrorFormatter: (errors, dataVar) =>
      new Error(schemaMessage(errors, dataVar === "querystring" ? "query" : "request body")),
  });
  const modelOf = (m: string | undefined) => {
    const name = m ?? service.loaded?.name ?? defaultModel;
    if (name === undefined) throw new RequestError(`No fine-tuned classifier in the data folder. ${HOW_TO_TRAIN}`, 409);
    return name;
  };

  app.removeContentTypeParser("text/plain"); // JSON only (415 for anything else)
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const [status, message] = errorReply(err);
    if (status >= 500) o.log?.(`Error: ${err.stack ?? err.message}`);
    // Names only: the data folder's own path never leaves the server (e.g. in a load error).
    const safe = message.split(path.resolve(o.dataDir)).join("<data>");
    return reply.status(status).send({ statusCode: status, error: safe });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ statusCode: 404, error: `Nothing at ${req.method} ${req.url.split("?")[0]}` }),
  );

  for (const [url, { file, type }] of Object.entries(STATIC))
    app.get(url, (_req, reply) => reply.type(type).send(fs.readFileSync(file)));
  app.get<{ Params: { file: string } }>("/js/:file", (req, reply) => {
    const file = req.params.file;
    if (!/^[a-zA-Z]+\.js$/.test(file) || !fs.existsSync(path.join(PAGE_JS, file)))
      return reply.status(404).send({ statusCode: 404, error: `No page module ${file}` });
    return reply.type("text/javascript; charset=utf-8").send(fs.readFileSync(path.join(PAGE_JS, file)));
  });

  app.get("/api/health", () => ({
    status: "ok",
    model: service.loaded?.name ?? null,
    engine: service.loaded?.engine ?? null,
    queue: service.queueLength,
    stats: service.stats,
  }));

  app.get("/api/models", () => {
    const names = catalog.list();
    return {
      models: names.map((n) => readModelCard(n, catalog.resolve(n))),
      active: service.loaded?.name ?? defaultModel ?? null,
      ...(names.length ? {} : { howToTrain: HOW_TO_TRAIN }),
    };
  });

  app.post<{ Body: { text?: string; texts?: string[]; model?: string } }>(
    "/api/classify",
    { schema: { body: classifyBody } },
    async (req) => {
      const start = performance.now();
      const { texts, single } = requestTexts(req.body);
      const model = modelOf(req.body.model);
      const results = await service.classify(model, texts);
      return {
        model,
        engine: service.loaded?.engine,
        ms: performance.now() - start,
        results: results.map((r, i) => (single ? r : { text: texts[i], ...r })),
      };
    },
  );

  app.post<{ Body: { text: string; model?: string } }>(
    "/api/explain",
    { schema: { body: explainBody } },
    async (req) => {
      const start = performance.now();
      if (!req.body.text.trim()) throw new RequestError("The text is empty: type or paste a message");
      const model = modelOf(req.body.model);
      const explanation = await service.explain(model, req.body.text);
      return { model, engine: service.loaded?.engine, ms: performance.now() - start, ...explanation };
    },
  );

  app.get<{ Querystring: { model: string; plot: PlotName; format?: "png" | "html" } }>(
    "/api/plot",
    { schema: { querystring: plotQuery } },
    (req, reply) => {
      const format = req.query.format ?? "png";
      const file = plotFile(catalog.resolve(req.query.model), req.query.plot, format);
      if (!fs.existsSync(file))
        return reply.status(404).send({ statusCode: 404, error: `${req.query.model} has no ${path.basename(file)}` });
      return reply.type(format === "png" ? "image/png" : "text/html; charset=utf-8").send(fs.readFileSync(file));
    },
  );

  // Closing: answer what is in flight with "Connection: close", so no kept-alive socket holds the close open
  // (Node closes the idle ones at once, but one that turns idle later would wait for its keep-alive timeout).
  let closing = false;
  app.addHook("preClose", (done) => {
    closing = true;
    done();
  });
  app.addHook("onSend", (_req, reply, payload, done) => {
    if (closing) void reply.header("connection", "close");
    done(null, payload);
  });
  app.addHook("onClose", () => service.close());
  return { app, service, defaultModel };
}

/** HTTP status and message for an error (never a stack trace to the client). */
function errorReply(err: FastifyError): [number, string] {
  if (err.validation) return [400, err.message];
  if (err instanceof RequestError) return [err.statusCode, err.message];
  if (err instanceof ModelNameError) return [err.status, err.message];
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return [413, "The request is larger than 1 MB: send fewer or shorter texts per request"];
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return [415, "Send JSON (Content-Type: application/json)"];
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return [400, 'The request body is empty: send JSON such as {"text": "..."}'];
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return [400, "The request body is not valid JSON"];
  }
  if (err.name === "SyntaxError") return [400, "The request body is not valid JSON"];
  const { statusCode, message } = err; // (read first: isUserError narrows the rest of the function)
  if (isUserError(err)) return [400, message];
  if (statusCode && statusCode < 500) return [statusCode, message];
  return [500, `Internal error: ${message}`];
}

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return ["127.0.0.1", "localhost", "::1", "[::1]"].includes(host) || /^127\./.test(host);
}
