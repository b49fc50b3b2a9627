/**
 * llm-spam-classifier/serve: the web app to try a classifier in a browser (`npm run ui`, `npm start -- serve`):
 * the Fastify server, its queue in front of one loaded model, the model catalog and cards.
 */
export { startUiServer, type StartOptions, type RunningUi } from "./start";
export { createUiServer, isLoopbackHost, HOW_TO_TRAIN, type UiServerOptions } from "./server";
export { ClassifierService, type ServiceStats } from "./classifierService";
export { openClassifier, type LoadedClassifier, type OpenClassifierOptions } from "./loadedClassifier";
export { ModelCatalog, ModelNameError, scanClassifiers, isClassifierDir } from "./modelCatalog";
export { readModelCard, plotFile, PLOT_NAMES, type ModelCard, type PlotName, type Accuracies } from "./modelCard";
export { MAX_TEXTS, BODY_LIMIT, RequestError, requestTexts, schemaMessage } from "./schemas";
