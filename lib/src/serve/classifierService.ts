/**
 * One classifier in memory and one queue in front of it. Requests run one at a time, in order, so a model switch
 * never races a classification. Classification requests that wait in the queue for the same model are merged:
 * their distinct texts go through the model once (8 per forward pass on ONNX Runtime), and texts classified
 * before are answered from a small cache, so concurrent or repeated requests never duplicate work.
 */
import type { Classification } from "../engine/inference";
import { encodeForClassification } from "../model/classifierInput";
import { explainByOcclusion, type Explanation } from "../train/explain";
import { getTokenizer } from "../tokenizer";
import type { ModelCatalog } from "./modelCatalog";
import { RequestError } from "./schemas";
import { openClassifier, type LoadedClassifier, type OpenClassifierOptions } from "./loadedClassifier";

/** Texts remembered per loaded model (their results are reused; the cache empties on a model switch). */
const CACHE_SIZE = 10_000;
/** Most tokens one explanation scores (each costs a forward pass; the chapter's classifier reads 120). */
export const MAX_EXPLAINED = 256;

type Job =
  | { kind: "load"; model: string; resolve: (v: undefined) => void; reject: (e: unknown) => void }
  | {
      kind: "classify";
      model: string;
      texts: string[];
      resolve: (v: Classification[]) => void;
      reject: (e: unknown) => void;
    }
  | { kind: "explain"; model: string; text: string; resolve: (v: Explanation) => void; reject: (e: unknown) => void };

/** Counters for health checks and tests. */
export interface ServiceStats {
  /** Models loaded since start (a switch loads one). */
  loads: number;
  /** Texts answered (from the model or the cache). */
  textsAnswered: number;
  /** Rows that went through the model for classification (distinct, uncached texts). */
  rowsComputed: number;
  /** Texts answered from the cache or shared with a merged request. */
  textsShared: number;
  /** Passes over the model for classification: each serves every request merged into it. */
  passes: number;
}

export class ClassifierService {
  private current?: { name: string; loaded: LoadedClassifier; cache: Map<string, Classification> };
  private readonly pending: Job[] = [];
  private draining?: Promise<void>;
  private closed = false;
  readonly stats: ServiceStats = {
    loads: 0,
    textsAnswered: 0,
    rowsComputed: 0,
    textsShared: 0,
    passes: 0,
  };

  constructor(
    readonly catalog: ModelCatalog,
    private readonly opts: OpenClassifierOptions,
  ) {}

  /** The loaded model's name and engine, if any. */
  get loaded(): { name: string; engine: "onnx" | "tfjs" } | undefined {
    return this.current && { name: this.current.name, engine: this.current.loaded.engine };
  }

  /** Requests waiting or running. */
  get queueLength(): number {
    return this.pending.length + (this.draining ? 1 : 0);
  }

  /** Loads a model (queued like any request). @throws ModelNameError for a name not in the catalog */
  load(model: string): Promise<undefined> {
    return this.enqueue<undefined>((resolve, reject) => ({ kind: "load", model, resolve, reject }));
  }

  /** Classifies texts with the named model. */
  classify(model: string, texts: string[]): Promise<Classification[]> {
    return this.enqueue<Classification[]>((resolve, reject) => ({ kind: "classify", model, texts, resolve, reject }));
  }

  /** Explains one text's classification by occlusion (explain.ts). */
  explain(model: string, text: string): Promise<Explanation> {
    return this.enqueue<Explanation>((resolve, reject) => ({ kind: "explain", model, text, resolve, reject }));
  }

  /** Waits for the queue to empty, then frees the model. Later requests are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.draining;
    await this.current?.loaded.release();
    this.current = undefined;
  }

  private enqueue<T>(make: (resolve: (v: T) => void, reject: (e: unknown) => void) => Job): Promise<T> {
    if (this.closed) return Promise.reject(new RequestError("The server is shutting down", 503));
    return new Promise<T>((resolve, reject) => {
      const job = make(resolve, reject);
      this.catalog.resolve(job.model); // a bad name fails now, unqueued
      this.pending.push(job);
      this.kick();
    });
  }

  /** Starts draining the queue unless it is already; a job that came in as a drain ended starts another. */
  private kick(): void {
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
      if (this.pending.length) this.kick();
    });
  }

  private async drain(): Promise<void> {
    // One job at a time. Before each, a turn of the event loop (setImmediate, after I/O): requests that arrived
    // meanwhile are parsed and join the queue, so waiting classifications merge. (A forward pass on ONNX Runtime
    // can hold the event loop; a microtask alone would start the next job before they are read.)
    const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      await nextTurn();
      const job = this.pending.shift();
      if (!job) return;
      if (job.kind === "classify") {
        const model = job.model;
        const group = [job, ...this.take((j) => j.kind === "classify" && j.model === model)];
        await this.run(group, (c) => this.classifyGroup(c, group as Array<Job & { kind: "classify" }>));
      } else if (job.kind === "explain") {
        await this.run([job], async (c) => {
          const classifyRows = (rows: number[][]) => c.loaded.classifyRows(rows);
          const opts = { maxTokens: MAX_EXPLAINED };
          job.resolve(await explainByOcclusion(job.text, c.loaded.input, classifyRows, getTokenizer(), opts));
        });
      } else await this.run([job], () => Promise.resolve(job.resolve(undefined)));
    }
  }

  /** Removes and returns the waiting jobs that match. */
  private take(match: (j: Job) => boolean): Job[] {
    const taken = this.pending.filter(match);
    for (const j of taken) this.pending.splice(this.pending.indexOf(j), 1);
    return taken;
  }

  /** Runs `work` with the jobs' model loaded; a failure rejects every job of the group. */
  private async run(jobs: Job[], work: (c: NonNullable<ClassifierService["current"]>) => Promise<void>) {
    try {
      await work(await this.ensureLoaded(jobs[0].model));
    } catch (err) {
      for (const j of jobs) j.reject(err);
    }
  }

  private async ensureLoaded(name: string): Promise<NonNullable<ClassifierService["current"]>> {
    if (this.current?.name === name) return this.current;
    const dir = this.catalog.resolve(name);
    // One model in memory: the old one goes before the new one loads.
    await this.current?.loaded.release();
    this.current = undefined;
    const loaded = await openClassifier(dir, this.opts);
    getTokenizer(); // loaded once (~0.3 s), here rather than in the first request's time
    this.stats.loads++;
    this.current = { name, loaded, cache: new Map() };
    return this.current;
  }

  /** One pass over the distinct, uncached texts of every merged request. */
  private async classifyGroup(c: NonNullable<ClassifierService["current"]>, group: Array<Job & { kind: "classify" }>) {
    const tokenizer = getTokenizer();
    const todo = new Map<string, number[]>();
    const ok: typeof group = [];
    for (const job of group) {
      try {
        const rows = new Map<string, number[]>();
        for (const t of job.texts)
          if (!c.cache.has(t) && !todo.has(t)) rows.set(t, encodeForClassification(t, c.loaded.input, tokenizer));
        for (const [t, row] of rows) todo.set(t, row);
        ok.push(job);
      } catch (err) {
        job.reject(err); // a bad text fails its own request only
      }
    }
    const texts = [...todo.keys()];
    const results = await c.loaded.classifyRows([...todo.values()]);
    this.stats.rowsComputed += texts.length;
    this.stats.passes++;
    const fresh = new Map(texts.map((t, i) => [t, results[i]]));
    for (const job of ok) {
      this.stats.textsAnswered += job.texts.length;
      job.resolve(job.texts.map((t) => fresh.get(t) ?? c.cache.get(t)!));
    }
    this.stats.textsShared = this.stats.textsAnswered - this.stats.rowsComputed;
    for (const [t, r] of fresh) {
      if (c.cache.size >= CACHE_SIZE) c.cache.delete(c.cache.keys().next().value!); // oldest first
      c.cache.set(t, r);
    }
  }
}
