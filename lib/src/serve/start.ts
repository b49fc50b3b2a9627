/**
 * Starting and stopping the web app: listen (127.0.0.1 unless told otherwise, with a warning for any other
 * address), print the URL and what is loaded, and on Ctrl-C (SIGINT) or SIGTERM finish the requests in
 * progress, free the model and return.
 */
import { createUiServer, HOW_TO_TRAIN, isLoopbackHost, type UiServerOptions } from "./server";

export interface StartOptions extends UiServerOptions {
  host?: string;
  port?: number;
  /** Stop on SIGINT/SIGTERM (default true; tests stop with `close()`). */
  handleSignals?: boolean;
}

export interface RunningUi {
  /** e.g. `http://127.0.0.1:8000/`. */
  url: string;
  /** Stops accepting, waits for the requests in progress, frees the model. */
  close: () => Promise<void>;
  /** Settles once the server has stopped. */
  stopped: Promise<void>;
}

/** Starts the web app (see the file comment). */
export async function startUiServer(o: StartOptions): Promise<RunningUi> {
  const log = o.log ?? (() => {});
  const host = o.host ?? "127.0.0.1";
  const { app, service, defaultModel } = createUiServer(o);
  if (!isLoopbackHost(host))
    log(
      `Warning: listening on ${host}, not 127.0.0.1: anyone who can reach this machine can use the classifier (there is no authentication). Use it only on a network you trust.`,
    );
  await app.listen({ host, port: o.port ?? 8000 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  const url = `http://${shown}:${port}/`;
  log(`Spam classifier in your browser: ${url}`);
  if (defaultModel === undefined) log(`No fine-tuned classifier under ${o.dataDir} yet. ${HOW_TO_TRAIN}`);
  else {
    log(`Loading ${defaultModel} …`);
    service.load(defaultModel).then(
      () =>
        log(
          `Loaded ${defaultModel} (${service.loaded?.engine === "onnx" ? "ONNX Runtime" : "tfjs"}). Ctrl-C stops the server.`,
        ),
      (err: Error) => log(`Could not load ${defaultModel}: ${err.message}`),
    );
  }
  let closing: Promise<void> | undefined;
  let onSignal: (() => void) | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (onSignal) {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      await app.close(); // waits for the requests in progress, then the onClose hook frees the model
    })());
  if (o.handleSignals ?? true) {
    onSignal = () => {
      log(`\nStopping: finishing ${service.queueLength} request(s) in progress …`);
      // A second Ctrl-C while stopping ends the process at once.
      process.once("SIGINT", () => process.exit(130));
      void close().then(() => log("Stopped."));
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  const stopped = new Promise<void>((resolve) => app.server.once("close", () => resolve()));
  return { url, close, stopped: stopped.then(() => closing) };
}
