// The root checks, applied: every decomposition (train-free, full-backward with
// every root finder) and the audit decide "relevance ≈ 0 at the root", "same
// local linear region" and "inside the domain" here, with the tolerances of
// protocol/checks.ts. The sampled finders' same-gradient test (their search
// criterion, from the research code) lives here too.

import { CHECK_TOLERANCES, FLOAT32_CHECK_TOLERANCES, relevanceVanishes, type Precision, type RootChecks, type RuleSpec } from '../protocol';
import { forwardFrom } from './forward';
import type { Network } from './network';
import { hasHinges, hingesOf, samePieceOf } from './activations';
import { boundAt } from './rules';

/**
 * The pre-activations of layers l..L at point p (the input of layer l): what
 * the region check compares. One array per layer; a batch of B points gives
 * B·m values per layer, row-major.
 */
export function regionSignature(net: Network, l: number, p: ArrayLike<number>): Float64Array[] {
  return forwardFrom(net, l, p).pre;
}

/**
 * Same local linear region along the explained output's path: every ReLU (leaky ReLU, clip) unit
 * of the hidden layers from l up, and the explained unit `row` of the last
 * layer, is on the same side of its hinge at point `s` of the batch `at` as at
 * the reference (one point). Units within the hinge band count as either side
 * (the region's closure, so a root on its own unit's hinge is inside). Another
 * output of the last layer turning off does not change the explained output's
 * function, so it is not a region change.
 */
export function samePattern(net: Network, l: number, ref: ArrayLike<number>[], at: ArrayLike<number>[], row: number, s = 0, precision: Precision = 'float64'): boolean {
  const L = net.layers.length;
  for (let k = 0; k < ref.length; k++) {
    const layer = net.layers[l - 1 + k];
    if (!hasHinges(layer.activation)) continue;
    const m = layer.outFeatures;
    const band = precision === 'float32' ? float32Band(ref[k], m) : CHECK_TOLERANCES.hingeBand;
    const last = l + k === L;
    const j0 = last ? row : 0;
    const j1 = last ? row + 1 : m;
    const hinges = hingesOf(layer);
    const r = ref[k], a = at[k], o = s * m;
    for (let j = j0; j < j1; j++) {
      const zr = r[j];
      const za = a[o + j];
      if (!Number.isFinite(za) || !Number.isFinite(zr)) return false;
      if (!samePieceOf(hinges, zr, za, band)) return false;
    }
  }
  return true;
}

/** The float32 hinge band of a layer: FLOAT32_CHECK_TOLERANCES.hingeBandRel × its largest |pre-activation| at the reference (at least the float64 band). */
function float32Band(ref: ArrayLike<number>, m: number): number {
  let scale = 0;
  for (let j = 0; j < m; j++) if (Math.abs(ref[j]) > scale) scale = Math.abs(ref[j]);
  return Math.max(CHECK_TOLERANCES.hingeBand, FLOAT32_CHECK_TOLERANCES.hingeBandRel * scale);
}

/** samePattern for one root point given directly. */
export function rootInRegion(net: Network, l: number, ref: ArrayLike<number>[], root: ArrayLike<number>, row: number): boolean {
  return samePattern(net, l, ref, regionSignature(net, l, root), row);
}

/** The sampled finders' search criterion: the gradient at point s of G equals the reference within atol + rtol·|ref| (numpy isclose). */
export function sameGradient(ref: ArrayLike<number>, G: ArrayLike<number>, s: number, rtol: number, atol: number): boolean {
  const n = ref.length;
  for (let i = 0; i < n; i++) {
    const g = G[s * n + i];
    if (!(Math.abs(g - ref[i]) <= atol + rtol * Math.abs(ref[i]))) return false;
  }
  return true;
}

/** Whether point p lies in the rule's input domain for this layer (≥ 0 for ReLU outputs, or inside the zB box). */
export function inDomain(rule: RuleSpec, p: ArrayLike<number>, nonNegativeDomain: boolean): boolean {
  const tol = CHECK_TOLERANCES.domain;
  for (let i = 0; i < p.length; i++) if (!Number.isFinite(p[i])) return false;
  if (rule.name === 'zB') {
    for (let i = 0; i < p.length; i++) {
      if (p[i] < boundAt(rule.low, i, 0) - tol || p[i] > boundAt(rule.high, i, 1) + tol) return false;
    }
    return true;
  }
  if (!nonNegativeDomain) return true;
  for (let i = 0; i < p.length; i++) if (p[i] < -tol) return false;
  return true;
}

/** The checks record of one root (RootInfo.checks and TreeEntry.checks). */
export function rootChecks(relevanceAtRoot: number, relevanceAtInput: number, inRegion: boolean, domainOk: boolean, crossing: string | null, precision: Precision = 'float64'): RootChecks {
  const rtol = precision === 'float32' ? FLOAT32_CHECK_TOLERANCES.relevanceZeroRtol : CHECK_TOLERANCES.relevanceZeroRtol;
  return { relevanceZero: relevanceVanishes(relevanceAtRoot, relevanceAtInput, rtol), inRegion, inDomain: domainOk, crossing: inRegion ? null : crossing };
}
