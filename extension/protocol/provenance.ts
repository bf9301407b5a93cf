// What makes a result reproducible, as one record: the model file's hash, the
// engine version, and every choice that changed the numbers. Results carry it
// in their fields; exports that are not the result itself (SVG, PNG) embed this
// record, so a picture can be traced back to its run.

import type { ExplainResult } from './result';

export interface ReproducibilityRecord {
  engineVersion: string;
  model: string;
  modelSha256: string | null;
  method: string;
  rules: string[];
  rootFinder: string;
  explainedOutput: number;
  seed: number;
  precision: string;
  backend: string;
  options: Record<string, unknown>;
  input: number[];
}

export function reproducibilityRecord(r: ExplainResult): ReproducibilityRecord {
  return {
    engineVersion: r.provenance?.engineVersion ?? 'unknown',
    model: r.model.name,
    modelSha256: r.provenance?.modelSha256 ?? null,
    method: r.method,
    rules: r.rules,
    rootFinder: r.rootFinder,
    explainedOutput: r.explainedOutput,
    seed: r.seed,
    precision: r.precision,
    backend: r.backend,
    options: r.options,
    input: r.input,
  };
}
