// Which run the visualizer panel shows: remembered in workspace state so that
// exports know what is drawn and a panel restored after a reload shows the same
// run. Showing a run's result goes through here (panel and side view).

import * as vscode from 'vscode';
import type { ExplainResult, HostToWebview } from '../protocol';
import type { RunStore } from '../runStore';
import type { Visualizers } from '../visualizer';

const PANEL_RUN_KEY = 'dtdLens.panelRun';
const PANEL_MODEL_KEY = 'dtdLens.panelModel';

export class ShownRun {
  /** The run the panel shows; undefined when it shows something else (a comparison, an audit). */
  panelRunId: string | undefined;
  /** The model (URI string) of the last run shown, kept when the runs are cleared: Re-run explains it again. */
  panelModelUri: string | undefined;
  /** Set by the extension: resolves when the panel reports it drew something after `since`. */
  waitForPanelRender: (since: number, timeoutMs: number) => Promise<unknown> = () => Promise.resolve();
  /** Set by the extension: resolves when the panel reports it has drawn (painted) a result after `since`. */
  waitForPanelDrawn: (since: number, timeoutMs: number) => Promise<unknown> = () => Promise.resolve();

  /** Waits until the panel has drawn what was shown after `since`; gives up (quietly) after `timeoutMs` or on cancel. */
  async waitForDrawn(since: number, timeoutMs: number, token?: vscode.CancellationToken): Promise<void> {
    if (!this.visualizers.panelOpen) return;
    let sub: vscode.Disposable | undefined;
    const cancelled = new Promise<void>((resolve) => (sub = token?.onCancellationRequested(() => resolve())));
    try {
      await Promise.race([this.waitForPanelDrawn(since, timeoutMs).catch(() => undefined), cancelled]);
    } finally {
      sub?.dispose();
    }
  }

  constructor(
    private readonly state: vscode.Memento,
    private readonly store: RunStore,
    private readonly visualizers: Visualizers,
  ) {
    this.panelRunId = state.get<string>(PANEL_RUN_KEY);
    this.panelModelUri = state.get<string>(PANEL_MODEL_KEY);
  }

  /** Shows a run's result in the panel and the side view. */
  show(runId: string, result: ExplainResult): void {
    const run = this.store.get(runId);
    const title = run ? `DTD Lens: ${run.modelName} · ${run.explainedOutput}` : 'DTD Lens';
    this.panelRunId = runId;
    void this.state.update(PANEL_RUN_KEY, runId);
    if (run) {
      this.panelModelUri = run.modelUri;
      void this.state.update(PANEL_MODEL_KEY, run.modelUri);
    }
    this.visualizers.showEverywhere({ type: 'result', result, settings: this.visualizers.settings() }, { title });
  }

  /** Shows the run in the panel unless it is already drawn there, and waits until it is. */
  async ensureInPanel(runId: string, result: ExplainResult): Promise<void> {
    if (this.panelRunId === runId && this.visualizers.panelOpen) return;
    const since = Date.now();
    this.show(runId, result);
    await this.waitForPanelRender(since, 20000);
  }

  /** The panel now shows something that is not a stored run. */
  showsOther(): void {
    this.panelRunId = undefined;
  }

  /** Content for a panel restored after a reload (or opened by Open Visualizer). */
  async restoreContent(): Promise<HostToWebview | undefined> {
    const id = this.panelRunId ?? this.store.latest()?.id;
    if (!id) return undefined;
    const result = await this.store.result(id);
    return result ? { type: 'result', result, settings: this.visualizers.settings() } : undefined;
  }
}
