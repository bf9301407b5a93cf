// What the panes show: one result, a result next to a baseline it carries
// (gradient × input, an LRP rule), or two results side by side or as their
// difference. Pure data, no DOM.

import type { ExplainResult, LayerDiagnostics } from '../extension/protocol';
import { isConserved } from '../extension/protocol';
import { layerName } from './model';
import type { Current, UiState } from './state';

export interface PaneSpec {
  result: ExplainResult;
  label: string;
  /** Drawn relevance when it is not result.relevance (difference view). */
  relevance?: (number[] | null)[];
  /** What the colours mean when it is not plain relevance: the two runs of a difference view (left, right). */
  difference?: { left: string; right: string };
}

/** A result's method, rules and root finder in one line. */
export function describe(r: ExplainResult): string {
  // One rule for every layer is named once; per-layer rules are listed in layer order.
  const rules = r.rules?.length ? (new Set(r.rules).size === 1 ? r.rules[0] : r.rules.join(', ')) : '';
  return `${r.method}${rules ? ' · ' + rules : ''}${r.method === 'full-backward' ? ' · ' + r.rootFinder : ''}`;
}

/** A result whose relevance is a baseline the engine carried along (gradient × input, an LRP rule). */
export function baselineResult(r: ExplainResult, key: string): ExplainResult | null {
  if (!r.baselines) return null;
  const L = r.activations.length - 1;
  let layers: (number[] | null)[];
  let label: string;
  if (key === 'gradientTimesInput') {
    layers = [r.baselines.gradientTimesInput];
    label = 'gradient × input';
  } else if (key.startsWith('lrp:') && r.baselines.lrp[key.slice(4)]) {
    const b = r.baselines.lrp[key.slice(4)];
    layers = b.perLayer && b.perLayer.length ? b.perLayer : [b.relevance];
    label = `LRP ${key.slice(4)}`;
  } else return null;
  const relevance: (number[] | null)[] = Array.from({ length: L + 1 }, (_, l) => (l < L ? (layers[l] ?? null) : r.relevance[L]));
  const diag: LayerDiagnostics[] = [];
  relevance.forEach((v, l) => {
    if (!v) return;
    let sum = 0;
    let neg = 0;
    for (const x of v) {
      sum += x;
      if (x < 0) neg += x;
    }
    // Conservation of a baseline is decided by the protocol's predicate, as the engine decides it for a result.
    diag.push({ index: l, name: layerName(r, l), relevanceSum: sum, explainedValue: r.explainedValue, conservationError: sum - r.explainedValue, conserved: isConserved(sum, r.explainedValue), negativeMass: neg, rootsTotal: 0, rootsInRegion: 0, rootsInDomain: 0, rootsWithZeroRelevance: 0 });
  });
  // No flows: a baseline has none, and `flowsOf` must not fall back to the DTD result's.
  return { ...r, relevance, roots: [], tree: null, flows: [], rules: [label], diagnostics: { layers: diag }, baselines: null, message: null, warnings: [] } as ExplainResult;
}

function comparePanes(left: ExplainResult, right: ExplainResult, ll: string, rl: string, mode: UiState['compareMode']): { specs: PaneSpec[]; note?: string } {
  if (mode === 'diff') {
    const same = left.activations.length === right.activations.length && left.activations.every((a, l) => a.length === right.activations[l].length);
    if (same) {
      const relevance = left.relevance.map((a, l) => {
        const b = right.relevance[l];
        return a && b ? a.map((v, i) => b[i] - v) : null;
      });
      return { specs: [{ result: right, label: `difference: ${rl} − ${ll}`, relevance, difference: { left: ll, right: rl } }] };
    }
    return { specs: sideBySide(left, right, ll, rl), note: 'The two networks differ in shape: showing them side by side.' };
  }
  return { specs: sideBySide(left, right, ll, rl) };
}

function sideBySide(left: ExplainResult, right: ExplainResult, ll: string, rl: string): PaneSpec[] {
  return [
    { result: left, label: ll },
    { result: right, label: rl },
  ];
}

/** The panes to draw for what is on screen; `note` says when the choice was not possible. */
export function paneSpecs(c: Current, ui: Pick<UiState, 'baseline' | 'compareMode'>): { specs: PaneSpec[]; note?: string } {
  if (c.kind === 'single') {
    const b = ui.baseline ? baselineResult(c.result, ui.baseline) : null;
    if (!b) return { specs: [{ result: c.result, label: describe(c.result) }] };
    return comparePanes(c.result, b, describe(c.result), b.rules[0], ui.compareMode);
  }
  return comparePanes(c.left, c.right, describe(c.left), describe(c.right), ui.compareMode);
}

/** The results that get a conservation ledger. */
export function ledgerResults(c: Current, specs: PaneSpec[]): ExplainResult[] {
  if (c.kind === 'compare') return [c.left, c.right];
  const distinct = [...new Set(specs.map((s) => s.result))];
  return distinct.length > 1 ? distinct : [c.result];
}

/** The results the host sent (the ones that carry warnings and the model). */
export function resultsOf(c: Current): ExplainResult[] {
  return c.kind === 'single' ? [c.result] : [c.left, c.right];
}
