// Every default and every closed list of choices, in one place: the engine, the
// command line, the extension host (settings fall back to these), the webview
// and the HTML report import them. package.json's settings must agree with
// them (test/unit/protocol.test.ts checks it).

import { LIMITS } from './limits';

export const METHODS = ['train-free', 'full-backward', 'lrp'] as const;
export const ROOT_FINDERS = ['linear', 'metropolis-hastings', 'interpolation', 'polytope', 'hit-and-run'] as const;
export const PRECISIONS = ['float64', 'float32'] as const;
export const BACKENDS = ['auto', 'onnxruntime', 'tensorflow', 'wasm', 'cpu'] as const;

export const DEFAULT_METHOD = 'train-free' as const;
export const DEFAULT_RULE = 'z+';
export const DEFAULT_ROOT_FINDER = 'linear' as const;
export const DEFAULT_PRECISION = 'float64' as const;
export const DEFAULT_BACKEND = 'auto' as const;
export const DEFAULT_SEED = 0;

/** Flows kept per upper unit in a result, and drawn per unit by the visualizer. */
export const DEFAULT_TOP_K = 20;
/** Full-backward: roots move by nudge·(a − r) toward their call input. */
export const DEFAULT_NUDGE = 1e-9;
/** Full-backward with linear roots: the most relevance evaluations allowed. */
export const DEFAULT_MAX_COST = 2e6;
/** Full-backward: the most root-tree entries kept in a result. */
export const DEFAULT_MAX_TREE_ENTRIES = 20000;

/** Metropolis–Hastings root finder (the research code's defaults). */
export const DEFAULT_MH = {
  steps: 1000,
  warmup: 100,
  chains: 1,
  initScale: 1e-6,
  targetAcceptance: 0.9,
  clampNonNegative: true,
  minScale: 1e-6,
  maxScale: 0.01,
} as const;

/** Interpolation root finder. */
export const DEFAULT_INTERPOLATION = {
  batchSize: 50,
  points: 10,
  refinementSteps: 10,
  initScale: 1,
  clampNonNegative: true,
} as const;

/** Sampled finders' same-region test: the gradient at a candidate equals the input's within these (numpy isclose). */
export const DEFAULT_SAME_REGION = { rtol: 1e-3, atol: 1e-5 } as const;

/** Extension-host settings without an engine counterpart. */
export const DEFAULT_ENGINE_TIMEOUT_SECONDS = 120;
export const DEFAULT_MAX_MODEL_SIZE_MB = LIMITS.modelFileMB;
export const DEFAULT_MAX_RECENT_RUNS = 20;

/** Random inputs: |N(0, I)| redrawn until the explained output exceeds this. */
export const DEFAULT_MIN_OUTPUT = 0;

/**
 * The comparison baselines (gradient, gradient×input and nine LRP variants) are
 * computed only when asked: on a VGG-style CNN they cost most of an LRP run and
 * most of the result's size. explain() and the command line (--baselines) leave
 * them out by default; VS Code computes them for a shown run when the user picks
 * one in the compare menu or runs "Compute Baselines" (engine request 'baselines').
 */
export const DEFAULT_BASELINES = false;
