// The root audit's options and result: what crosses from the engine to the
// host, the webview, CSV/JSON exports and the command line.

import type { CancelSignal, Method, ModelSummary, Progress, RootFinderName } from './result';

export type SanityCheck = 'randomization' | 'random-logit' | 'pixel-flipping';

export interface AuditOptions {
  inputs: number;
  /** Rules to audit, each for every layer (text form, also per layer: "layer1=zB=0,1;*=z+"). Default z+, w2, x, gamma. */
  rules?: string[];
  methods?: Method[];
  /** Root finder of the full-backward runs (default linear, as the research code). */
  rootFinder?: RootFinderName;
  seed?: number;
  minOutput?: number;
  explainedOutput?: number;
  sanity?: SanityCheck[];
  maxCost?: number;
  signal?: CancelSignal;
  onProgress?: (p: Progress) => void;
}

export interface AuditRow {
  rule: string;
  method: Method;
  rootFinder: RootFinderName;
  inputs: number;
  /** Inputs where the decomposition failed (no root / no positive relevance); the shares below are over the others. */
  failedInputs: number;
  roots: number;
  shareInputsWithRootOutside: number;
  shareRootsOutside: number;
  shareRootsUnmoved: number;
  medianRootDistance: number;
  shareInputsWithNegativeRelevance: number;
  meanConservationError: number;
  /** Why this rule and method were not run (e.g. too costly on this network); the shares are then NaN. */
  skipped?: string;
}

export interface SanityResult {
  /** Spearman ρ is taken only where both explanations are non-constant (a randomised net often outputs ≤ 0: no relevance at all); `pairs` counts those inputs. */
  randomization?: { randomizedFrom: string; meanSpearman: number; pairs: number }[];
  randomLogit?: { meanSpearman: number; pairs: number };
  pixelFlipping?: { steps: number; aopcRelevanceOrder: number; aopcRandomOrder: number };
}

export interface AuditResult {
  schema: 'dtd-lens/audit@1';
  model: ModelSummary;
  explainedOutput: number;
  seed: number;
  minOutput: number;
  inputs: number;
  rows: AuditRow[];
  sanity: SanityResult | null;
  /** Definitions of the columns, in words. */
  definitions: Record<string, string>;
  timings: Record<string, number>;
  /** What the audit left out or assumed (e.g. root checks skipped on very deep networks), once each. */
  warnings?: string[];
}

