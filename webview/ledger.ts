// The conservation ledger: per layer the relevance sum against f(x), the
// negative mass and the roots that fail their checks. Failures are highlighted:
// this is the honest summary of how far an explanation can be trusted.
// A row is the layer being decomposed: its root columns count the roots of
// that layer's units (the engine's diagnostics keep them under the space the
// roots live in, one index lower), so a unit marked "✗ same linear region" in
// the inspector counts on its own layer's row.

import type { ExplainResult, LayerDiagnostics } from '../extension/protocol';
import type { Palette } from './colors';
import { describe } from './compare';
import { badge, h, num } from './dom';

/** The engine decided conservation (protocol/checks.ts); the ledger only shows it. */
export function conservationFails(d: LayerDiagnostics): boolean {
  return !d.conserved;
}

/** Root counts of the units of layer `index` (the engine keeps them under index − 1, the space they live in). */
export interface RootCounts {
  total: number;
  outRegion: number;
  outDomain: number;
  notZero: number;
}

export function rootCountsOf(layers: LayerDiagnostics[], index: number): RootCounts | null {
  if (index < 1) return null;
  const d = layers.find((x) => x.index === index - 1);
  if (!d) return null;
  return { total: d.rootsTotal, outRegion: d.rootsTotal - d.rootsInRegion, outDomain: d.rootsTotal - d.rootsInDomain, notZero: d.rootsTotal - d.rootsWithZeroRelevance };
}

export function ledgerPanel(result: ExplainResult, palette: Palette, caption: string): HTMLElement {
  const layers = result.diagnostics?.layers ?? [];
  const section = h('section', { class: 'ledger', 'data-caption': caption });
  section.append(h('h3', {}, 'Conservation ledger', h('span', { class: 'muted' }, ` · ${caption} · f(x) = `), num(result.explainedValue)));
  if (!layers.length) {
    section.append(h('p', { class: 'muted' }, 'This result carries no per-layer diagnostics.'));
    return section;
  }
  const table = h('table', { class: 'ledger-table' });
  table.append(
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'layer'),
        h('th', { title: 'Σ relevance of the layer' }, 'Σ R'),
        h('th', { title: 'Σ R relative to f(x)' }, 'Σ R / f(x)'),
        h('th', { title: 'Σ R − f(x)' }, 'error'),
        h('th', { title: 'sum of the negative relevances' }, 'negative mass'),
        h('th', { title: 'roots of this layer\'s units outside the input\'s local linear region / roots' }, 'outside region'),
        h('th', { title: 'roots of this layer\'s units outside the input domain / roots' }, 'outside domain'),
        h('th', { title: 'roots of this layer\'s units where the relevance does not vanish / roots' }, 'R ≠ 0 at root'),
      ),
    ),
  );
  const body = h('tbody');
  const maxRatio = maxRatioOf(layers);
  for (const d of layers) {
    const consFail = conservationFails(d);
    const rc = rootCountsOf(layers, d.index);
    const outRegion = rc?.outRegion ?? 0;
    const outDomain = rc?.outDomain ?? 0;
    const notZero = rc?.notZero ?? 0;
    const ratio = ratioOf(d);
    const bar = ratioBar(ratio, maxRatio, palette);
    const fails = consFail || outRegion > 0 || outDomain > 0 || notZero > 0;
    const tr = h('tr', { class: `ledger-row${fails ? ' has-failure' : ''}`, 'data-index': d.index, 'data-name': d.name });
    const cell = (cls: string, fail: boolean, ...c: (Node | string)[]) => h('td', { class: `${cls}${fail ? ' fail' : ''}` }, ...c);
    // The input has no roots of its own (it is never decomposed).
    const count = (n: number) =>
      rc ? h('span', { class: 'num', 'data-value': String(n), 'data-total': String(rc.total) }, `${n} / ${rc.total}`) : h('span', { class: 'num muted', 'data-value': 'null', title: 'the input is not decomposed: no roots' }, '—');
    tr.append(
      h('td', { class: 'name', title: d.name }, d.name),
      cell('sum', consFail, num(d.relevanceSum)),
      cell('ratio', consFail, bar, h('span', { class: 'num', 'data-value': String(ratio) }, Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)} %` : '—')),
      cell('error', consFail, num(d.conservationError)),
      h('td', { class: `negative${d.negativeMass !== 0 ? ' warn' : ''}` }, num(d.negativeMass)),
      cell('region', outRegion > 0, count(outRegion)),
      cell('domain', outDomain > 0, count(outDomain)),
      cell('zero', notZero > 0, count(notZero)),
    );
    body.append(tr);
  }
  table.append(body);
  section.append(table);
  section.append(ledgerVerdict(layers));
  return section;
}

/** Σ R / f(x) of a layer (NaN when f(x) = 0). */
function ratioOf(d: LayerDiagnostics): number {
  return d.explainedValue !== 0 ? d.relevanceSum / d.explainedValue : NaN;
}

function maxRatioOf(layers: LayerDiagnostics[]): number {
  return Math.max(1, ...layers.map((d) => Math.abs(d.relevanceSum / (d.explainedValue || 1))));
}

/** The Σ R / f(x) bar: its length relative to the largest ratio of the ledger, coloured by sign. */
function ratioBar(ratio: number, maxRatio: number, palette: Palette): HTMLElement {
  const bar = h('span', { class: 'ratio-bar' });
  const fill = h('span', { class: `ratio-fill ${ratio < 0 ? 'neg' : 'pos'}` });
  // Width through the CSSOM (allowed by the CSP, unlike style attributes).
  fill.style.width = `${Number.isFinite(ratio) ? Math.min(100, (Math.abs(ratio) / maxRatio) * 100) : 0}%`;
  fill.style.background = ratio < 0 ? palette.negative : palette.positive;
  bar.append(fill);
  return bar;
}

/** The checks a layer's row fails: conservation (Σ R ≠ f(x)) and its units' root checks, each with its count. */
export interface FailedCheck {
  check: 'conservation' | 'region' | 'domain' | 'zero';
  /** Badge text. */
  label: string;
  why: string;
}

export function failedChecks(layers: LayerDiagnostics[], d: LayerDiagnostics): FailedCheck[] {
  const out: FailedCheck[] = [];
  if (conservationFails(d)) out.push({ check: 'conservation', label: 'Σ R ≠ f(x)', why: `the layer's relevance sum ${d.relevanceSum} differs from f(x) = ${d.explainedValue} (error ${d.conservationError})` });
  const rc = rootCountsOf(layers, d.index);
  if (rc) {
    if (rc.outRegion > 0) out.push({ check: 'region', label: `${rc.outRegion}/${rc.total} outside region`, why: "roots of this layer's units outside the input's local linear region / roots" });
    if (rc.outDomain > 0) out.push({ check: 'domain', label: `${rc.outDomain}/${rc.total} outside domain`, why: "roots of this layer's units outside the input domain / roots" });
    if (rc.notZero > 0) out.push({ check: 'zero', label: `${rc.notZero}/${rc.total} R ≠ 0 at root`, why: "roots of this layer's units where the relevance does not vanish / roots" });
  }
  return out;
}

/** The ledger's one-line verdict: which layers fail a check, or that all pass. */
function ledgerVerdict(layers: LayerDiagnostics[]): HTMLElement {
  const failing = layers.filter((d) => failedChecks(layers, d).length > 0);
  return h(
    'p',
    { class: failing.length ? 'summary fail-text' : 'summary pass-text' },
    failing.length
      ? `${failing.length} of ${layers.length} layers fail a check: ${failing.map((d) => d.name).join(', ')}.`
      : `All ${layers.length} layers conserve f(x) and all roots pass their checks.`,
  );
}

/**
 * The ledger for the side bar (~300 px): per layer its name, the Σ R / f(x) bar and percentage, and the checks it
 * fails as badges; no columns, rows wrap. Each row is reachable by Tab and says all of it in its label.
 */
export function compactLedger(result: ExplainResult, palette: Palette): HTMLElement {
  const layers = result.diagnostics?.layers ?? [];
  const section = h('section', { class: 'ledger compact', 'aria-label': 'conservation ledger' });
  section.append(h('h3', {}, 'Conservation ledger'));
  if (!layers.length) {
    section.append(h('p', { class: 'muted' }, 'This result carries no per-layer diagnostics.'));
    return section;
  }
  const maxRatio = maxRatioOf(layers);
  const list = h('ul', { class: 'ledger-compact' });
  for (const d of layers) {
    const ratio = ratioOf(d);
    const fails = failedChecks(layers, d);
    const pct = Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)} %` : '—';
    const said = `${d.name}: Σ R / f(x) ${pct}${fails.length ? `; fails ${fails.map((f) => f.label).join(', ')}` : '; passes its checks'}`;
    list.append(
      h(
        'li',
        { class: `ledger-row${fails.length ? ' has-failure' : ''}`, tabindex: 0, 'data-index': d.index, 'data-name': d.name, 'aria-label': said, title: said },
        h('div', { class: 'lc-head' }, h('span', { class: 'name' }, d.name), h('span', { class: `num ratio${conservationFails(d) ? ' fail-text' : ''}`, 'data-value': String(ratio) }, pct)),
        ratioBar(ratio, maxRatio, palette),
        fails.length ? h('div', { class: 'badges' }, ...fails.map((f) => badge(f.label, 'fail', f.why))) : null,
      ),
    );
  }
  section.append(list, ledgerVerdict(layers));
  return section;
}

/** Fills the ledger area: one ledger per result, captioned with its method and rules. */
export function renderLedgers(container: HTMLElement, results: ExplainResult[], palette: Palette): void {
  container.replaceChildren(...results.map((r) => ledgerPanel(r, palette, describe(r))));
}
