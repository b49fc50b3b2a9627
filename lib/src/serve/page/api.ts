/** The server's JSON endpoints (lib/src/serve/server.ts), typed for the page. */

export interface Classification {
  text?: string;
  label: "spam" | "not spam";
  spamProbability: number;
}

export interface ClassifyResponse {
  model: string;
  engine: "onnx" | "tfjs";
  /** Server time for the request, queue included (ms). */
  ms: number;
  results: Classification[];
}

export interface TokenInfluence {
  id: number;
  text: string;
  /** Spam probability with the token minus without it. */
  influence: number;
}

export interface ExplainResponse extends Classification {
  model: string;
  engine: "onnx" | "tfjs";
  ms: number;
  method: "occlusion";
  tokens: TokenInfluence[];
  truncatedTokens: number;
}

export interface Accuracies {
  trainAcc: number;
  valAcc: number;
  testAcc: number;
}

export interface ModelCard {
  name: string;
  baseWeights: string | null;
  method: string | null;
  methodDetails: Record<string, unknown> | null;
  trainedLength: number;
  model: { embDim: number; nLayers: number; nHeads: number; contextLength: number };
  epochs: number | null;
  steps: number | null;
  smoke: boolean;
  metrics: { initial: Accuracies | null; final: Accuracies | null } | null;
  plots: Partial<Record<"loss" | "accuracy", Array<"png" | "html">>>;
}

export interface ModelsResponse {
  models: ModelCard[];
  active: string | null;
  howToTrain?: string;
}

/** The most texts one request may carry (the server's MAX_TEXTS). */
export const MAX_TEXTS = 1000;

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch {
    throw new Error("The server does not answer: is `npm run ui` still running?");
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new Error(body.error ?? `The server answered ${res.status}`);
  return body as T;
}

export const getModels = () => call<ModelsResponse>("/api/models");

const post = <T>(url: string, body: unknown) =>
  call<T>(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

export const classify = (texts: string[], model: string) =>
  post<ClassifyResponse>("/api/classify", texts.length === 1 ? { text: texts[0], model } : { texts, model });

export const explain = (text: string, model: string) => post<ExplainResponse>("/api/explain", { text, model });

/** URL of a training plot's PNG (or HTML). */
export const plotUrl = (model: string, plot: string, format: "png" | "html" = "png") =>
  `/api/plot?${new URLSearchParams({ model, plot, format }).toString()}`;
