// The conservation ledger: per layer the relevance sum against f(x), the
// negative mass and the roots that fail their checks. Failures are highlighted:
// this is the honest summary of how far an explanation can be trusted.

import type { ExplainResult, LayerDiagnostics } from '../extension/protocol';
import type { Palette } from './colors';
import { describe } from './compare';
import { h, num } from './dom';

/** The engine decided conservation (protocol/checks.ts); the ledger only shows it. */
export function conservationFails(d: LayerDiagnostics): boolean {
  return !d.conserved;
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
        h('th', { title: 'roots outside the input\'s local linear region / roots' }, 'outside region'),
        h('th', { title: 'roots outside the input domain / roots' }, 'outside domain'),
        h('th', { title: 'roots where the relevance does not vanish / roots' }, 'R ≠ 0 at root'),
      ),
    ),
  );
  const body = h('tbody');
  const maxRatio = Math.max(1, ...layers.map((d) => Math.abs(d.relevanceSum / (d.explainedValue || 1))));
  for (const d of layers) {
    const consFail = conservationFails(d);
    const outRegion = d.rootsTotal - d.rootsInRegion;
    const outDomain = d.rootsTotal - d.rootsInDomain;
    const notZero = d.rootsTotal - d.rootsWithZeroRelevance;
    const ratio = d.explainedValue !== 0 ? d.relevanceSum / d.explainedValue : NaN;
    const bar = h('span', { class: 'ratio-bar' });
    const fill = h('span', { class: `ratio-fill ${ratio < 0 ? 'neg' : 'pos'}` });
    // Width through the CSSOM (allowed by the CSP, unlike style attributes).
    fill.style.width = `${Number.isFinite(ratio) ? Math.min(100, (Math.abs(ratio) / maxRatio) * 100) : 0}%`;
    fill.style.background = ratio < 0 ? palette.negative : palette.positive;
    bar.append(fill);
    const fails = consFail || outRegion > 0 || outDomain > 0 || notZero > 0;
    const tr = h('tr', { class: `ledger-row${fails ? ' has-failure' : ''}`, 'data-index': d.index, 'data-name': d.name });
    const cell = (cls: string, fail: boolean, ...c: (Node | string)[]) => h('td', { class: `${cls}${fail ? ' fail' : ''}` }, ...c);
    const count = (n: number, total: number) => h('span', { class: 'num', 'data-value': String(n), 'data-total': String(total) }, `${n} / ${total}`);
    tr.append(
      h('td', { class: 'name' }, d.name),
      cell('sum', consFail, num(d.relevanceSum)),
      cell('ratio', consFail, bar, h('span', { class: 'num', 'data-value': String(ratio) }, Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)} %` : '—')),
      cell('error', consFail, num(d.conservationError)),
      h('td', { class: `negative${d.negativeMass !== 0 ? ' warn' : ''}` }, num(d.negativeMass)),
      cell('region', outRegion > 0, count(outRegion, d.rootsTotal)),
      cell('domain', outDomain > 0, count(outDomain, d.rootsTotal)),
      cell('zero', notZero > 0, count(notZero, d.rootsTotal)),
    );
    body.append(tr);
  }
  table.append(body);
  section.append(table);
  const failing = layers.filter((d) => conservationFails(d) || d.rootsInRegion < d.rootsTotal || d.rootsInDomain < d.rootsTotal || d.rootsWithZeroRelevance < d.rootsTotal);
  section.append(
    h(
      'p',
      { class: failing.length ? 'summary fail-text' : 'summary pass-text' },
      failing.length
        ? `${failing.length} of ${layers.length} layers fail a check: ${failing.map((d) => d.name).join(', ')}.`
        : `All ${layers.length} layers conserve f(x) and all roots pass their checks.`,
    ),
  );
  return section;
}

/** Fills the ledger area: one ledger per result, captioned with its method and rules. */
export function renderLedgers(container: HTMLElement, results: ExplainResult[], palette: Palette): void {
  container.replaceChildren(...results.map((r) => ledgerPanel(r, palette, describe(r))));
}
