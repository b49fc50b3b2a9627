/** What the benchmark runs: the book's chapter (full) or a small subset through the same code (quick). */

export interface ChapterPlan {
  readonly name: "full" | "quick";
  /** Rows of each split used (undefined: all). */
  readonly trainRows?: number;
  readonly valRows?: number;
  readonly testRows?: number;
  readonly batchSize: number;
  readonly epochs: number;
  readonly evalFreq: number;
  readonly evalIter: number;
  /** Batches of the initial accuracies (book: 10) and losses (book: 5). */
  readonly initAccBatches: number;
  readonly initLossBatches: number;
  /** PyTorch training steps timed (median). */
  readonly torchStepReps: number;
  /** Plain (uncached tfjs) training steps timed. */
  readonly plainReps: number;
  /** Training steps with every parameter trainable timed, ours and PyTorch's (after one warm-up step). */
  readonly allStepReps: number;
  /** LoRA and prompt-tuning steps (after one warm-up step) and evaluation forwards timed, ours and PyTorch's. */
  readonly peftStepReps: number;
  readonly peftForwardReps: number;
}

export const FULL_PLAN: ChapterPlan = {
  name: "full",
  batchSize: 8,
  epochs: 5,
  evalFreq: 50,
  evalIter: 5,
  initAccBatches: 10,
  initLossBatches: 5,
  torchStepReps: 5,
  plainReps: 2,
  allStepReps: 3,
  peftStepReps: 3,
  peftForwardReps: 3,
};

export const QUICK_PLAN: ChapterPlan = {
  name: "quick",
  trainRows: 80,
  valRows: 16,
  testRows: 16,
  batchSize: 8,
  epochs: 1,
  evalFreq: 5,
  evalIter: 2,
  initAccBatches: 2,
  initLossBatches: 1,
  torchStepReps: 2,
  plainReps: 1,
  allStepReps: 2,
  // Not in a plain --quick run (over 2 minutes with PyTorch's side); used by --quick --only-peft. Our second
  // step is still a warm-up one (2-3x the later ones: fresh memory for the backward's buffers): median of 3.
  peftStepReps: 3,
  peftForwardReps: 2,
};

/** Unit counts of the chapter under a plan: training steps and evaluation forwards (batches). */
export interface ChapterUnits {
  trainingSteps: number;
  initialAccuracyForwards: number;
  initialLossForwards: number;
  evaluationForwards: number;
  epochAccuracyForwards: number;
  finalAccuracyForwards: number;
  /** Sum of all forward batches. */
  forwards: number;
}

/** Counts the book's units (full plan: 650 steps; 30 + 15 + 130 + 50 + 187 = 412 forwards). */
export function chapterUnits(
  plan: ChapterPlan,
  sizes: { train: number; validation: number; test: number },
): ChapterUnits {
  const trainBatches = Math.floor(sizes.train / plan.batchSize); // drop_last
  const valBatches = Math.ceil(sizes.validation / plan.batchSize),
    testBatches = Math.ceil(sizes.test / plan.batchSize);
  const steps = plan.epochs * trainBatches;
  const evaluations = Math.ceil(steps / plan.evalFreq); // global_step % eval_freq == 0, steps 0..steps-1
  const evalPair = Math.min(plan.evalIter, trainBatches) + Math.min(plan.evalIter, valBatches);
  const units = {
    trainingSteps: steps,
    initialAccuracyForwards:
      Math.min(plan.initAccBatches, trainBatches) +
      Math.min(plan.initAccBatches, valBatches) +
      Math.min(plan.initAccBatches, testBatches),
    initialLossForwards:
      Math.min(plan.initLossBatches, trainBatches) +
      Math.min(plan.initLossBatches, valBatches) +
      Math.min(plan.initLossBatches, testBatches),
    evaluationForwards: evaluations * evalPair,
    epochAccuracyForwards: plan.epochs * evalPair,
    finalAccuracyForwards: trainBatches + valBatches + testBatches,
  };
  return {
    ...units,
    forwards:
      units.initialAccuracyForwards +
      units.initialLossForwards +
      units.evaluationForwards +
      units.epochAccuracyForwards +
      units.finalAccuracyForwards,
  };
}

/**
 * Unit counts of appendix E's LoRA chapter (the book's schedule, always the full one): chapter 6's training loop
 * (5 epochs of batch 8, `eval_freq` 50, `eval_iter` 5, final full-set accuracies), with the initial accuracies
 * (10 batches per split) computed twice, before and after the LoRA swap, and no initial losses. On the chapter's
 * split: 650 steps; 60 + 130 + 50 + 187 = 427 forwards.
 */
export function loraChapterUnits(sizes: { train: number; validation: number; test: number }): ChapterUnits {
  const units = chapterUnits({ ...FULL_PLAN, initLossBatches: 0 }, sizes);
  return {
    ...units,
    initialAccuracyForwards: 2 * units.initialAccuracyForwards,
    forwards: units.forwards + units.initialAccuracyForwards,
  };
}

/** How the bench runs the plain (uncached) training step (bench/plainStep.ts). */
export type PlainMode = "tfjs" | "ortMatMul" | "native";

export const PLAIN_MODE_LABELS: Record<PlainMode, string> = {
  tfjs: "every kernel tfjs-wasm",
  ortMatMul: "tfjs, matmuls on ONNX Runtime",
  native: "library default: frozen trunk on ONNX Runtime every step, tfjs + ORT matmuls for the last block",
};
