// The toolbar: the title and the one-line description of what is drawn, the
// "Assumptions" disclosure (what the model loader assumed or changed: the
// result's model.notes, drawn as text), the unit search, top-k, the baseline and comparison choices, fit, export and
// re-run. It owns its controls and reports what the user did through actions;
// it changes no state itself.

import type { AuditResult, ExplainResult } from '../extension/protocol';
import { describe } from './compare';
import { h, num } from './dom';
import type { Current, Format, UiState } from './state';

/** The compare menu's entry that asks the host for the baselines of a result that has none (baselines on demand). */
export const COMPUTE_BASELINES = '@compute';

/** Where the baselines of the shown result stand when it carries none: the host computes them on request, one is running. */
export interface BaselineState {
  onDemand: boolean;
  pending: boolean;
}

export interface ToolbarActions {
  search(text: string): void;
  /** A valid top-k (1–100) was entered. */
  topK(k: number): void;
  /** A baseline to compare with ('' = none), or COMPUTE_BASELINES: ask the host for them. */
  baseline(key: string): void;
  compareMode(mode: UiState['compareMode']): void;
  fit(): void;
  export(format: Format): void;
  rerun(): void;
}

/** The "Assumptions" disclosure: what the model loaders assumed or changed (the results' model.notes), as text. Panel toolbar and side bar. */
export class Assumptions {
  readonly element: HTMLDetailsElement;
  private readonly count = h('span', { class: 'count' });
  private readonly list = h('ul', {});

  constructor() {
    this.element = h(
      'details',
      { class: 'assumptions', hidden: true },
      h('summary', { title: 'what the model loader assumed or changed when it read the file' }, 'Assumptions ', this.count),
      this.list,
    );
  }

  /** The loaders' notes of the shown results (each once; in a comparison, prefixed by the model when the two differ). */
  show(results: ExplainResult[]): void {
    const notesOf = (r: ExplainResult) => (Array.isArray(r.model?.notes) ? r.model.notes.filter((n): n is string => typeof n === 'string') : []);
    const names = new Set(results.map((r) => r.model?.name));
    const items: string[] = [];
    for (const r of results) {
      for (const n of notesOf(r)) {
        const text = names.size > 1 ? `${String(r.model?.name)}: ${n}` : n;
        if (!items.includes(text)) items.push(text);
      }
    }
    this.list.replaceChildren(...items.map((t) => h('li', {}, t)));
    this.count.textContent = `(${items.length})`;
    this.element.hidden = items.length === 0;
  }
}

export class Toolbar {
  readonly element: HTMLElement;
  readonly search: HTMLInputElement;
  private readonly title: HTMLElement;
  private readonly meta: HTMLElement;
  private readonly assumptions: Assumptions;
  private readonly topK: HTMLInputElement;
  private readonly baseline: HTMLSelectElement;
  private readonly compareMode: HTMLSelectElement;
  /** The model shown last: a search typed for one model does not carry over to another. */
  private shownModel: string | null = null;

  constructor(ui: UiState, actions: ToolbarActions) {
    const button = (label: string, title: string, fn: () => void, cls = '') => {
      const b = h('button', { class: `tool ${cls}`, title, type: 'button' }, label);
      b.addEventListener('click', fn);
      return b;
    };
    this.title = h('h1', { class: 'title' }, 'DTD Lens');
    this.meta = h('div', { class: 'meta' });
    this.assumptions = new Assumptions();
    const search = (this.search = h('input', { class: 'search', type: 'search', placeholder: 'find unit, e.g. 2:15', 'aria-label': 'find a unit by layer and index', spellcheck: 'false' }));
    const topK = (this.topK = h('input', { class: 'topk', type: 'number', min: 1, max: 100, value: ui.topK, 'aria-label': 'flows per unit', title: 'flows drawn per unit (top-k by |flow|); the rest is aggregated' }));
    const baseline = (this.baseline = h('select', { class: 'baseline', 'aria-label': 'compare with a baseline', title: 'compare with a baseline: the gradient, gradient × input or an LRP rule (computed when first asked for)' }));
    const compareMode = (this.compareMode = h('select', { class: 'compare-mode', 'aria-label': 'comparison view' }, h('option', { value: 'side' }, 'side by side'), h('option', { value: 'diff' }, 'difference (right − left)')));
    compareMode.value = ui.compareMode;
    this.element = h(
      'header',
      { class: 'toolbar' },
      h('div', { class: 'heading' }, this.title, this.meta, this.assumptions.element),
      h(
        'div',
        { class: 'controls' },
        search,
        h('label', { class: 'ctl' }, 'top-k ', topK),
        h('label', { class: 'ctl baseline-ctl' }, 'compare ', baseline),
        h('label', { class: 'ctl compare-ctl' }, 'view ', compareMode),
        button('Fit', 'fit the network in view (0)', () => actions.fit()),
        button('SVG', 'export the view as SVG', () => actions.export('svg'), 'export-svg'),
        button('PNG', 'export the view as PNG', () => actions.export('png'), 'export-png'),
        button('JSON', 'export the result as JSON', () => actions.export('json'), 'export-json'),
        button('Re-run', 'explain again', () => actions.rerun(), 'rerun'),
      ),
    );

    search.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') actions.search(search.value);
      if (ev.key === 'Escape') search.blur();
    });
    topK.addEventListener('change', () => {
      const k = Math.round(Number(topK.value));
      if (Number.isFinite(k) && k >= 1 && k <= 100) actions.topK(k);
      else topK.value = String(ui.topK);
    });
    baseline.addEventListener('change', () => actions.baseline(baseline.value));
    compareMode.addEventListener('change', () => actions.compareMode(compareMode.value === 'diff' ? 'diff' : 'side'));
  }

  /**
   * Shows what is drawn and the choices that fit it. Returns the baseline
   * actually selectable ('' when ui.baseline is not one the result carries).
   * A single result without baselines offers to compute them when the host can
   * (`baselines.onDemand`); while they are computed the menu says so and waits.
   */
  showResult(c: Current, ui: UiState, baselines: BaselineState = { onDemand: false, pending: false }): string {
    const main = c.kind === 'single' ? c.result : c.left;
    const model = `${main.model?.name ?? ''}\u0000${main.activations.map((a) => a.length).join('x')}`;
    if (this.shownModel !== null && this.shownModel !== model) {
      this.search.value = '';
      this.markSearch(true);
    }
    this.shownModel = model;
    this.title.textContent = main.model?.name ? `${main.model.name}` : 'DTD Lens';
    this.meta.replaceChildren(
      c.kind === 'single' ? describe(c.result) : `${describe(c.left)}  vs  ${describe(c.right)}`,
      ' · output ',
      String(main.explainedOutput),
      ' · f(x) = ',
      num(main.explainedValue),
      // Where it was computed: the backend (and why auto fell back, when it did) and the precision.
      main.backend ? h('span', { class: 'compute', title: 'compute backend and precision of this run' }, ` · ${main.backend}, ${main.precision}`) : '',
      main.status === 'failed' ? h('span', { class: 'fail-text' }, ' · failed') : '',
    );
    this.showAssumptions(c.kind === 'single' ? [c.result] : [c.left, c.right]);
    // Baseline choices (single result only).
    const b = this.baseline;
    b.replaceChildren(h('option', { value: '' }, 'none'));
    const carried = c.kind === 'single' && c.result.baselines !== null && c.result.baselines !== undefined;
    const offer = c.kind === 'single' && !carried && baselines.onDemand;
    if (c.kind === 'single' && c.result.baselines) {
      b.append(h('option', { value: 'gradientTimesInput' }, 'gradient × input'));
      for (const k of Object.keys(c.result.baselines.lrp ?? {})) b.append(h('option', { value: `lrp:${k}` }, `LRP ${k}`));
    } else if (offer) {
      b.append(h('option', { value: COMPUTE_BASELINES }, baselines.pending ? 'computing baselines…' : 'gradient, LRP… (compute)'));
    }
    const pending = offer && baselines.pending;
    b.disabled = pending;
    b.setAttribute('data-state', carried ? 'carried' : pending ? 'pending' : offer ? 'offered' : 'none');
    b.value = pending ? COMPUTE_BASELINES : ui.baseline;
    const baseline = !pending && b.value === ui.baseline ? ui.baseline : '';
    if (!pending) b.value = baseline;
    (b.parentElement as HTMLElement).hidden = c.kind !== 'single' || (!carried && !offer);
    const comparing = c.kind === 'compare' || baseline !== '';
    (this.compareMode.parentElement as HTMLElement).hidden = !comparing;
    this.compareMode.value = ui.compareMode;
    this.topK.value = String(ui.topK);
    return baseline;
  }

  private showAssumptions(results: ExplainResult[]): void {
    this.assumptions.show(results);
  }

  showAudit(audit: AuditResult): void {
    this.title.textContent = `Root audit · ${audit.model.name}`;
    this.meta.textContent = `${audit.inputs} inputs · seed ${audit.seed}`;
    this.showAssumptions([]);
  }

  showEmpty(): void {
    this.title.textContent = 'DTD Lens';
    this.meta.textContent = '';
    this.showAssumptions([]);
  }

  /** Marks the search box as holding a query that found nothing. */
  markSearch(valid: boolean): void {
    this.search.classList.toggle('invalid', !valid);
  }

  focusSearch(): void {
    this.search.focus();
  }
}
