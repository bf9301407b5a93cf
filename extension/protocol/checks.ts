// The root checks' vocabulary and tolerances: one table, and the scalar
// predicates built on it. The engine's checks module (engine/checks.ts) applies
// them to networks and roots; the stored-run migration uses them for results of
// schema 1. Nothing else decides a check: the webview and the reports display
// the booleans the engine wrote.

export const CHECK_TOLERANCES = {
  /** relevanceZero: |R_j(root)| ≤ rtol·max(|R_j(a)|, floor). */
  relevanceZeroRtol: 1e-6,
  relevanceZeroFloor: 1e-12,
  /** Same region: units whose pre-activation lies within this of the hinge count as either side (the region's closure). */
  hingeBand: 1e-9,
  /** Domain: a root coordinate may undershoot its bound by this much (rounding). */
  domain: 1e-12,
  /** Audit: a root does not move the output when |f(root) − f(a)| ≤ rtol·max(1, |f(a)|). */
  unmovedRtol: 1e-12,
  /** Conservation: |Σ R − f(x)| ≤ rtol·max(|f(x)|, floor) (the ledger's ✓). */
  conservationRtol: 1e-6,
  conservationFloor: 1e-12,
} as const;

/**
 * Train-free roots checked on a float32 backend: the roots' pre-activations and relevances carry float32 rounding
 * (about 1e-7 of the layer's magnitude per operation), so a root on its own unit's hinge lands ±1e-7·scale off it
 * and the float64 band (1e-9, absolute) would call it outside its region. Here the band is relative to the layer's
 * largest |pre-activation| at the input, and "relevance ≈ 0" is relative to 1e-4.
 */
export const FLOAT32_CHECK_TOLERANCES = {
  hingeBandRel: 1e-5,
  relevanceZeroRtol: 1e-4,
} as const;

/** The unit's relevance vanishes at its root (rtol: the precision's, see FLOAT32_CHECK_TOLERANCES). Not finite is never a pass. */
export function relevanceVanishes(atRoot: number, atInput: number, rtol: number = CHECK_TOLERANCES.relevanceZeroRtol): boolean {
  if (!Number.isFinite(atRoot) || !Number.isFinite(atInput)) return false;
  return Math.abs(atRoot) <= rtol * Math.max(Math.abs(atInput), CHECK_TOLERANCES.relevanceZeroFloor);
}

/** Relevance on a layer sums to the explained value. Not finite is never a pass. */
export function isConserved(relevanceSum: number, explainedValue: number): boolean {
  if (!Number.isFinite(relevanceSum) || !Number.isFinite(explainedValue)) return false;
  return Math.abs(relevanceSum - explainedValue) <= CHECK_TOLERANCES.conservationRtol * Math.max(Math.abs(explainedValue), CHECK_TOLERANCES.conservationFloor);
}

/** The output computed from the root equals the output at the layer input: the root removed nothing. */
export function outputUnmoved(outputAtRoot: number, outputAtInput: number): boolean {
  if (!Number.isFinite(outputAtRoot) || !Number.isFinite(outputAtInput)) return false;
  return Math.abs(outputAtRoot - outputAtInput) <= CHECK_TOLERANCES.unmovedRtol * Math.max(1, Math.abs(outputAtInput));
}

/** In words, what each check tested (carried by every result: `diagnostics.checkDefinitions`). */
export interface CheckDefinitions {
  relevanceZero: string;
  inRegion: string;
  inDomain: string;
  conservation: string;
}

export function checkDefinitions(region: 'pattern' | 'gradient', precision: 'float64' | 'float32' = 'float64'): CheckDefinitions {
  const t = CHECK_TOLERANCES;
  const f32 = precision === 'float32' && region === 'pattern';
  const rtol = f32 ? FLOAT32_CHECK_TOLERANCES.relevanceZeroRtol : t.relevanceZeroRtol;
  const band = f32 ? `${FLOAT32_CHECK_TOLERANCES.hingeBandRel} × the layer's largest |pre-activation| (float32)` : `${t.hingeBand}`;
  return {
    relevanceZero: `|R_j(root)| ≤ ${rtol}·max(|R_j(a)|, ${t.relevanceZeroFloor})${f32 ? ' (float32)' : ''}: the unit's relevance, evaluated at its root, vanishes`,
    inRegion:
      region === 'pattern'
        ? `the root has the layer input's ReLU on/off pattern in every hidden layer above it and, in the last layer, at the explained output only (other outputs may turn off); units within ${band} of their hinge count as either side`
        : `the gradient of the explained output at the root equals the one at the layer input (|Δ| ≤ atol + rtol·|ref|, the research code's test), i.e. the same linear piece along the explained output's path`,
    inDomain: `every root coordinate is ≥ −${t.domain} where the layer input is a ReLU output (or the input is non-negative), or inside the zB box`,
    conservation: `|Σ relevance − f(x)| ≤ ${t.conservationRtol}·max(|f(x)|, ${t.conservationFloor})`,
  };
}
