// The root audit as a chart: per rule and method, the shares that say how far
// DTD can be trusted on this network (inputs with a root outside the local
// linear region, roots outside, inputs with negative relevance), as grouped
// horizontal bars on a 0–100 % scale, with the full table below. Built with
// d3 scales; every number is also in the DOM (data-value) for tests and
// screen readers.

import { scaleBand, scaleLinear } from 'd3';
import type { AuditResult } from '../extension/protocol';
import type { Palette } from './colors';
import { h, num } from './dom';

const SVG = 'http://www.w3.org/2000/svg';

const MEASURES: { key: 'shareInputsWithRootOutside' | 'shareRootsOutside' | 'shareInputsWithNegativeRelevance'; label: string }[] = [
  { key: 'shareInputsWithRootOutside', label: 'inputs with a root outside its region' },
  { key: 'shareRootsOutside', label: 'roots outside their region' },
  { key: 'shareInputsWithNegativeRelevance', label: 'inputs with negative relevance' },
];

/** The table's columns: the audit row's key (whose definition the audit carries) and the header the user reads. */
const COLUMNS: [string | null, string][] = [
  [null, 'rule'],
  [null, 'method'],
  [null, 'root finder'],
  [null, 'inputs ok'],
  [null, 'roots'],
  ['shareInputsWithRootOutside', 'inputs w/ root outside'],
  ['shareRootsOutside', 'roots outside'],
  ['shareRootsUnmoved', 'roots unmoved'],
  ['medianRootDistance', 'median distance'],
  ['shareInputsWithNegativeRelevance', 'inputs w/ neg. relevance'],
  ['meanConservationError', 'conservation error'],
];

/** A definition's name as the user reads it: its column header, else its key in words. */
function columnName(key: string): string {
  return COLUMNS.find(([k]) => k === key)?.[1] ?? key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** A mean Spearman ρ over `pairs` inputs; with none there is nothing to average, and the line says so. */
function spearman(meanSpearman: number, pairs: number): (Node | string)[] {
  if (pairs === 0 || !Number.isFinite(meanSpearman)) return ['not measured: no input gave two non-constant explanations to rank (0 inputs)'];
  return ['mean Spearman ρ ', num(meanSpearman), ` (${pairs} input${pairs === 1 ? '' : 's'})`];
}

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Draws the audit; returns the panel and how many bars it drew. */
export function auditPanel(audit: AuditResult, palette: Palette, onSave?: (format: 'csv' | 'json') => void): { panel: HTMLElement; bars: number } {
  const panel = h('section', { class: 'audit', 'data-inputs': audit.inputs });
  panel.append(
    h('h2', { class: 'pane-title' }, `Root audit · ${audit.model.name} · ${audit.inputs} inputs |N(0, I)| with output ${audit.explainedOutput} > ${audit.minOutput} · seed ${audit.seed}`),
  );
  if (onSave) {
    // Saving is the view's own: the host writes the audit it showed (the CSV the engine made, or the JSON) where the user says.
    const save = (format: 'csv' | 'json', text: string, title: string) => {
      const b = h('button', { class: `audit-save-${format}`, title, type: 'button' }, text);
      b.addEventListener('click', () => onSave(format));
      return b;
    };
    panel.append(h('div', { class: 'audit-actions' }, save('csv', 'Save CSV', 'save the audit table as CSV'), save('json', 'Save JSON', 'save the whole audit as JSON')));
  }
  const rows = audit.rows;
  const rowH = 18, right = 60;
  const groups = rows.map((r) => `${r.rule} · ${r.method}${r.method === 'full-backward' ? ` (${r.rootFinder})` : ''}`);
  // Room for the longest row label (11 px type: ≈ 6.3 px a character), up to 320 px; a longer one ellipsizes with its full text in a title.
  const maxChars = 50;
  const labelW = Math.min(320, 16 + 6.3 * Math.max(10, ...groups.map((g) => Math.min(maxChars, g.length))));
  const width = labelW + 540;
  const height = rows.length * (MEASURES.length * rowH + 14) + 40;
  const y = scaleBand<string>().domain(groups).range([10, height - 30]).paddingInner(0.15);
  const x = scaleLinear().domain([0, 1]).range([labelW, width - right]);
  const colors = [palette.fail, palette.negative, palette.muted];
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', 'aria-label': 'root audit chart', class: 'audit-chart', fill: palette.foreground });
  let bars = 0;
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(svgEl('line', { x1: x(t), x2: x(t), y1: 5, y2: height - 25, class: 'grid' }));
    const label = svgEl('text', { x: x(t), y: height - 10, 'text-anchor': 'middle', class: 'axis' });
    label.textContent = `${t * 100} %`;
    svg.append(label);
  }
  rows.forEach((r, gi) => {
    const g0 = y(groups[gi]) ?? 0;
    const band = y.bandwidth() / MEASURES.length;
    const name = svgEl('text', { x: labelW - 8, y: g0 + y.bandwidth() / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'group-label' });
    name.textContent = groups[gi].length > maxChars ? `${groups[gi].slice(0, maxChars - 1)}…` : groups[gi];
    const full = svgEl('title', {});
    full.textContent = groups[gi];
    name.append(full);
    svg.append(name);
    MEASURES.forEach((m, mi) => {
      const v = r[m.key];
      const yy = g0 + mi * band;
      const w = Number.isFinite(v) ? Math.max(0, x(v) - x(0)) : 0;
      const rect = svgEl('rect', { x: x(0), y: yy + 1, width: w, height: Math.max(1, band - 2), fill: colors[mi], 'data-measure': m.key, 'data-value': String(v), 'data-row': gi, class: 'bar' });
      const title = svgEl('title', {});
      title.textContent = `${groups[gi]}: ${m.label} ${Number.isFinite(v) ? (100 * v).toFixed(1) + ' %' : '—'}`;
      rect.append(title);
      svg.append(rect);
      const t = svgEl('text', { x: x(0) + w + 4, y: yy + band / 2, 'dominant-baseline': 'middle', class: 'bar-value' });
      t.textContent = Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '—';
      svg.append(t);
      bars++;
    });
  });
  const legend = h(
    'div',
    { class: 'audit-legend' },
    ...MEASURES.map((m, i) => {
      const sw = h('span', { class: 'swatch' });
      sw.style.background = colors[i]; // CSSOM, not a style attribute: the CSP forbids inline styles
      return h('span', { class: 'legend-item' }, sw, m.label);
    }),
  );
  panel.append(legend);
  panel.append(svg as unknown as Node);
  const table = h('table', { class: 'audit-table' });
  table.append(
    h(
      'thead',
      {},
      h('tr', {}, ...COLUMNS.map(([key, c]) => h('th', { title: key ? audit.definitions[key] : undefined }, c))),
    ),
  );
  const body = h('tbody', {});
  const pct = (v: number) => h('span', { class: 'num', 'data-value': String(v), title: String(v) }, Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '—');
  for (const r of rows) {
    body.append(
      h(
        'tr',
        { 'data-rule': r.rule, 'data-method': r.method },
        h('td', {}, r.rule),
        h('td', {}, r.method),
        h('td', {}, r.rootFinder),
        h('td', {}, `${r.inputs - r.failedInputs}/${r.inputs}`),
        h('td', {}, String(r.roots)),
        h('td', { class: r.shareInputsWithRootOutside > 0 ? 'fail' : '' }, pct(r.shareInputsWithRootOutside)),
        h('td', { class: r.shareRootsOutside > 0 ? 'fail' : '' }, pct(r.shareRootsOutside)),
        h('td', {}, pct(r.shareRootsUnmoved)),
        h('td', {}, num(r.medianRootDistance)),
        h('td', {}, pct(r.shareInputsWithNegativeRelevance)),
        h('td', {}, num(r.meanConservationError)),
      ),
    );
  }
  table.append(body);
  panel.append(table);
  const defs = h('details', { class: 'audit-definitions' }, h('summary', {}, 'What the columns mean'), h('dl', {}, ...Object.entries(audit.definitions).flatMap(([k, v]) => [h('dt', { 'data-key': k }, columnName(k)), h('dd', {}, v)])));
  panel.append(defs);
  if (audit.sanity) {
    const s = audit.sanity;
    const list = h('ul', { class: 'audit-sanity' });
    for (const r of s.randomization ?? []) list.append(h('li', {}, `Parameters randomised from ${r.randomizedFrom} up: `, ...spearman(r.meanSpearman, r.pairs)));
    if (s.randomLogit) list.append(h('li', {}, 'Random other output: ', ...spearman(s.randomLogit.meanSpearman, s.randomLogit.pairs)));
    if (s.pixelFlipping) list.append(h('li', {}, `Pixel flipping (${s.pixelFlipping.steps} steps): AOPC `, num(s.pixelFlipping.aopcRelevanceOrder), ' by relevance vs ', num(s.pixelFlipping.aopcRandomOrder), ' in random order'));
    panel.append(h('h3', {}, 'Sanity checks'), list);
  }
  return { panel, bars };
}
