/**
 * The web app's JSON request schemas (Fastify validates every body against them) and the one-line messages a
 * rejected request gets back instead of the validator's own wording.
 */

/** Most texts one request may classify (one per line on the page). */
export const MAX_TEXTS = 1000;
/** Largest request body (bytes): a megabyte. */
export const BODY_LIMIT = 1024 * 1024;

const model = { type: "string", minLength: 1, maxLength: 500 } as const;

export const classifyBody = {
  type: "object",
  additionalProperties: false,
  properties: {
    text: { type: "string" },
    texts: { type: "array", items: { type: "string" }, minItems: 1, maxItems: MAX_TEXTS },
    model,
  },
} as const;

export const explainBody = {
  type: "object",
  additionalProperties: false,
  required: ["text"],
  properties: { text: { type: "string" }, model },
} as const;

export const plotQuery = {
  type: "object",
  additionalProperties: false,
  required: ["model", "plot"],
  properties: {
    model,
    plot: { type: "string", enum: ["loss", "accuracy"] },
    format: { type: "string", enum: ["png", "html"] },
  },
} as const;

/** What an ajv error object carries (the part used here). */
interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** One clear message for the first schema error of a request. */
export function schemaMessage(errors: readonly SchemaError[], where: string): string {
  const e = errors[0];
  const field = e.instancePath.replace(/^\//, "").replace(/\/(\d+)$/, "[$1]") || where;
  switch (e.keyword) {
    case "maxItems":
      return `Too many texts: at most ${MAX_TEXTS} lines per request (send the rest in another request)`;
    case "minItems":
      return `"texts" is empty: give at least one message`;
    case "required":
      return `"${String(e.params.missingProperty)}" is missing`;
    case "additionalProperties":
      return `Unknown field "${String(e.params.additionalProperty)}" in the ${where}`;
    case "type":
      return `"${field}" must be ${/^[aeiou]/.test(String(e.params.type)) ? "an" : "a"} ${String(e.params.type)}`;
    case "enum":
      return `"${field}" must be one of ${(e.params.allowedValues as string[]).join(", ")}`;
    case "minLength":
      return `"${field}" is empty`;
    case "maxLength":
      return `"${field}" is too long`;
    default:
      return `Invalid ${where}: ${field} ${e.message ?? e.keyword}`;
  }
}

/** The texts of a classify request, checked: `text` or `texts`, none of them blank. */
export function requestTexts(body: { text?: string; texts?: string[] }): { texts: string[]; single: boolean } {
  if (body.text !== undefined && body.texts !== undefined) throw new RequestError(`Give "text" or "texts", not both`);
  if (body.text === undefined && body.texts === undefined)
    throw new RequestError(`Give "text" (one message) or "texts" (a list of messages)`);
  if (body.text !== undefined) {
    if (!body.text.trim()) throw new RequestError("The text is empty: type or paste a message");
    return { texts: [body.text], single: true };
  }
  const blank = body.texts!.findIndex((t) => !t.trim());
  if (blank >= 0) throw new RequestError(`Text ${blank + 1} of ${body.texts!.length} is empty: remove empty lines`);
  return { texts: body.texts!, single: false };
}

/** A request the app refuses (HTTP 400 unless said otherwise), with a message for the person who sent it. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = "RequestError";
  }
}
