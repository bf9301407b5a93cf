// Everything the webview says besides the drawing: the progress bar of a run
// streaming in, dismissable errors, the warnings and failures a result reports,
// and the status line under the network (search answers, fallbacks).

import type { ExplainResult, Progress } from '../extension/protocol';
import { h } from './dom';

export class Notices {
  readonly progress: HTMLElement;
  readonly errors: HTMLElement;
  readonly warnings: HTMLElement;
  readonly status: HTMLElement;
  private readonly progressBar: HTMLElement;
  private readonly progressText: HTMLElement;

  constructor() {
    this.progressBar = h('div', { class: 'progress-bar' });
    this.progressText = h('span', { class: 'progress-text' });
    this.progress = h('div', { class: 'progress', hidden: true, role: 'progressbar', 'aria-label': 'explaining' }, h('div', { class: 'progress-track' }, this.progressBar), this.progressText);
    this.errors = h('div', { class: 'errors', role: 'alert' });
    this.warnings = h('div', { class: 'warnings' });
    this.status = h('div', { class: 'status', 'aria-live': 'polite' });
  }

  setProgress(p: Pick<Progress, 'stage' | 'fraction'> | null): void {
    if (!p) {
      this.progress.hidden = true;
      return;
    }
    this.progress.hidden = false;
    const known = typeof p.fraction === 'number' && Number.isFinite(p.fraction);
    this.progress.classList.toggle('indeterminate', !known);
    const pct = known ? Math.max(0, Math.min(1, p.fraction as number)) * 100 : 0;
    this.progressBar.style.width = known ? `${pct}%` : '30%';
    this.progress.setAttribute('aria-valuenow', known ? String(Math.round(pct)) : '');
    this.progressText.textContent = `${p.stage}${known ? ` · ${Math.round(pct)} %` : ''}`;
  }

  showError(message: string): void {
    const close = h('button', { class: 'close', title: 'dismiss', type: 'button' }, '×');
    const item = h('div', { class: 'error' }, h('span', {}, message), close);
    close.addEventListener('click', () => item.remove());
    this.errors.append(item);
  }

  /** The notes and failures the results themselves report. */
  showWarnings(results: ExplainResult[]): void {
    this.warnings.replaceChildren();
    for (const r of results) {
      if (r.message) this.warnings.append(h('div', { class: r.status === 'failed' ? 'warning failed' : 'warning' }, `${r.status === 'failed' ? 'Failed' : 'Note'} (${r.statusCode}): ${r.message}`));
      for (const w of r.warnings ?? []) this.warnings.append(h('div', { class: 'warning' }, w));
    }
  }

  setStatus(text: string): void {
    this.status.textContent = text;
  }
}
