// Extension entry: builds the host context (engine client, Recent Runs store,
// visualizers, notifications, the engine runner, the input source, the run
// shown in the panel), registers the commands (extension/commands/, one module
// per command), the Recent Runs tree and the model inspector editor, and
// returns a small API (`DtdLensApi`) that the real-VS-Code tests use to observe
// behaviour (no mocks of VS Code).

import * as vscode from 'vscode';
import { EngineClient } from './engineClient';
import { RunStore, type RunRecord } from './runStore';
import { RunsTreeProvider } from './runsTree';
import { Visualizers, type RenderedEvent, type VisualizerTarget } from './visualizer';
import { ModelEditorProvider, type InspectorOutcome } from './modelEditor';
import { readSettings } from './config';
import type { HostContext } from './host/context';
import type { WebviewSettings } from './protocol';
import { InputSource } from './host/inputSource';
import { readModel } from './host/modelSource';
import { Notifier, type Notice } from './host/notifier';
import { EngineRunner, type ProgressEvent } from './host/runner';
import { ShownRun } from './host/shownRun';
import { auditCommand, saveShownAudit, type AuditOutcome, type AuditRequest } from './commands/audit';
import { baselinesRequest, computeBaselinesCommand, type BaselinesOutcome } from './commands/baselines';
import { compareRuns } from './commands/compare';
import { conceptHeatmap } from './commands/concepts';
import { explainAgain, explainCommand, type ExplainRequest, type RunOutcome } from './commands/explain';
import { exportRun, saveViewExport } from './commands/export';
import { openRun, openVisualizer } from './commands/openRun';
import { rerunWithRule } from './commands/rerun';
import { explainDatasetCommand, type DatasetOutcome, type DatasetRequest } from './commands/dataset';

export const COMMANDS = [
  'dtdLens.explainOutput',
  'dtdLens.explainOutputFromExplorer',
  'dtdLens.openVisualizer',
  'dtdLens.rerunWithRule',
  'dtdLens.compare',
  'dtdLens.export',
  'dtdLens.showLog',
  'dtdLens.audit',
  'dtdLens.openRun',
  'dtdLens.deleteRun',
  'dtdLens.clearRuns',
  'dtdLens.explainDataset',
  'dtdLens.computeBaselines',
] as const;

/** What activate() returns: used by the tests, stable enough for other extensions. */
export interface DtdLensApi {
  explain(uri: vscode.Uri, request?: ExplainRequest): Promise<RunOutcome>;
  /** A dataset run (a folder of images, a file of several inputs) shown as the gallery. */
  explainDataset(uri: vscode.Uri, request?: DatasetRequest): Promise<DatasetOutcome>;
  cancelActiveRun(): boolean;
  rerunWithRule(runId: string, rule: string): Promise<RunOutcome>;
  compare(leftId: string, rightId: string): Promise<boolean>;
  /** "Compute Baselines": the run's baselines, stored with it and drawn next to it in the panel. */
  computeBaselines(runId: string): Promise<BaselinesOutcome | undefined>;
  /** The root audit; options given here skip the questions. */
  audit(uri: vscode.Uri, request?: AuditRequest): Promise<AuditOutcome>;
  exportRun(runId: string, format: 'json' | 'svg' | 'png', target: vscode.Uri): Promise<vscode.Uri | undefined>;
  openRun(runId: string): Promise<boolean>;
  runs(): readonly RunRecord[];
  /** A page of a stored run (its root tree's nodes, large layers), as the visualizer gets it. */
  page(runId: string, key: string): Promise<unknown>;
  engine: {
    readonly pid: number | undefined;
    readonly spawnCount: number;
    readonly busy: boolean;
    readonly lastCancelLatencyMs: number | undefined;
    ping(timeoutMs?: number): Promise<number>;
    kill(): void;
    onExit(cb: (pid: number) => void): vscode.Disposable;
  };
  /** Every 'rendered' report of a visualizer, oldest first. */
  readonly rendered: readonly RenderedEvent[];
  waitForRendered(target: VisualizerTarget, since: number, timeoutMs?: number): Promise<RenderedEvent>;
  /** Resolves when a visualizer reports 'drawn' (its result painted) after `since`. */
  waitForDrawn(target: VisualizerTarget, since: number, timeoutMs?: number): Promise<void>;
  /** Progress events of recent runs, oldest first. */
  readonly progressEvents: readonly ProgressEvent[];
  /** Every notification the extension showed, oldest first. */
  readonly notices: readonly Notice[];
  /** What the model inspector editor showed, by URI string. */
  readonly inspected: ReadonlyMap<string, InspectorOutcome>;
  /** settings(): what the webviews get with a result (theme, topK, dtdLens.inputShape). */
  readonly visualizers: { readonly panelOpen: boolean; readonly viewResolved: boolean; settings(): WebviewSettings };
}

export function activate(context: vscode.ExtensionContext): DtdLensApi {
  const log = vscode.window.createOutputChannel('DTD Lens', { log: true });
  context.subscriptions.push(log);
  log.info(`DTD Lens ${context.extension.packageJSON.version as string} activating (VS Code ${vscode.version}, ${vscode.env.appHost}, remote ${vscode.env.remoteName ?? 'none'})`);

  const engine = new EngineClient({
    enginePath: vscode.Uri.joinPath(context.extensionUri, 'dist', 'engine.js').fsPath,
    log,
    timeoutSeconds: () => readSettings().engineTimeoutSeconds,
  });
  context.subscriptions.push({ dispose: () => engine.dispose() });

  const storage = context.storageUri ?? context.globalStorageUri;
  const store = new RunStore(context.workspaceState, vscode.Uri.joinPath(storage, 'runs'), () => readSettings().maxRecentRuns);
  context.subscriptions.push(store);

  const rendered: RenderedEvent[] = [];
  const renderedEmitter = new vscode.EventEmitter<RenderedEvent>();
  context.subscriptions.push(renderedEmitter);
  const waitForRendered = (target: VisualizerTarget, since: number, timeoutMs = 30000): Promise<RenderedEvent> => {
    const hit = rendered.find((e) => e.target === target && e.at >= since);
    if (hit) return Promise.resolve(hit);
    return new Promise<RenderedEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`The ${target} visualizer did not report 'rendered' within ${timeoutMs} ms.`));
      }, timeoutMs);
      const sub = renderedEmitter.event((e) => {
        if (e.target === target && e.at >= since) {
          clearTimeout(timer);
          sub.dispose();
          resolve(e);
        }
      });
    });
  };

  // 'drawn': the webview painted a result (the progress notification waits for the panel's).
  const drawnEmitter = new vscode.EventEmitter<{ target: VisualizerTarget; at: number }>();
  context.subscriptions.push(drawnEmitter);
  const drawn: { target: VisualizerTarget; at: number }[] = [];
  const waitForDrawn = (target: VisualizerTarget, since: number, timeoutMs = 30000): Promise<void> => {
    if (drawn.some((e) => e.target === target && e.at >= since)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`The ${target} visualizer did not report 'drawn' within ${timeoutMs} ms.`));
      }, timeoutMs);
      const sub = drawnEmitter.event((e) => {
        if (e.target === target && e.at >= since) {
          clearTimeout(timer);
          sub.dispose();
          resolve();
        }
      });
    });
  };

  const notifier = new Notifier(log);
  // The visualizers call back into the host context (restore, Re-run), built just below.
  const visualizers = new Visualizers(context.extensionUri, {
    log,
    onRendered: (e) => {
      rendered.push(e);
      if (rendered.length > 200) rendered.shift();
      renderedEmitter.fire(e);
    },
    onError: (message) => void notifier.notify('error', `DTD Lens visualizer: ${message}`),
    restoreRun: () => host.shown.restoreContent(),
    onExplainRequest: (target) => void explainAgain(host, target),
    // The side bar's "Open in editor": the open-visualizer command shows the panel's run (or restores it); a side bar
    // showing another stored run opens that one instead, so the panel shows the same run as the side bar.
    onOpenInEditor: (_target, run) => {
      if (run && run !== host.shown.panelRunId && store.get(run)) void vscode.commands.executeCommand('dtdLens.openRun', run);
      else void vscode.commands.executeCommand('dtdLens.openVisualizer');
    },
    onUserExport: (_target, format, data) => void saveViewExport(host, format, data),
    onSaveAudit: (format) => void saveShownAudit(host, format),
    onConceptRequest: (target, layer, channel) => conceptHeatmap(host, target, layer, channel),
    onBaselinesRequest: (target, run) => baselinesRequest(host, target, run),
    onDrawn: (target) => {
      const e = { target, at: Date.now() };
      drawn.push(e);
      if (drawn.length > 200) drawn.shift();
      drawnEmitter.fire(e);
    },
    onPage: (run, key) => store.page(run, key),
  });
  context.subscriptions.push(visualizers);

  const shown = new ShownRun(context.workspaceState, store, visualizers);
  shown.waitForPanelRender = (since, timeoutMs) => waitForRendered('panel', since, timeoutMs);
  shown.waitForPanelDrawn = (since, timeoutMs) => waitForDrawn('panel', since, timeoutMs);
  const runner = new EngineRunner();
  const host: HostContext = { engine, store, visualizers, log, notifier, runner, inputs: new InputSource(context.workspaceState), shown };

  const tree = new RunsTreeProvider(store);
  context.subscriptions.push(tree, vscode.window.createTreeView('dtdLens.runs', { treeDataProvider: tree, showCollapseAll: false }));

  const inspected = new Map<string, InspectorOutcome>();
  context.subscriptions.push(
    ModelEditorProvider.register({
      inspect: async (uri) => (await engine.inspect(await readModel(uri))).model,
      log,
      onShown: (uri, outcome) => inspected.set(uri.toString(), outcome),
    }),
  );

  const runIdOf = (arg: unknown): string | undefined =>
    typeof arg === 'string' ? arg : typeof arg === 'object' && arg !== null && typeof (arg as RunRecord).id === 'string' ? (arg as RunRecord).id : undefined;
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const explainArgs = (a: unknown, b: unknown): [vscode.Uri | undefined, ExplainRequest] => [
    a instanceof vscode.Uri ? a : undefined,
    // From the Explorer the second argument is the list of selected URIs, not a request.
    isRecord(b) ? (b as ExplainRequest) : {},
  ];

  const register = (id: (typeof COMMANDS)[number], fn: (...args: unknown[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  register('dtdLens.explainOutput', (a, b) => explainCommand(host, ...explainArgs(a, b)));
  register('dtdLens.explainOutputFromExplorer', (a, b) => explainCommand(host, ...explainArgs(a, b)));
  register('dtdLens.openVisualizer', () => openVisualizer(host));
  register('dtdLens.rerunWithRule', (a, rule) => rerunWithRule(host, runIdOf(a), typeof rule === 'string' ? rule : undefined));
  register('dtdLens.compare', (a, b) => compareRuns(host, runIdOf(a), runIdOf(b)));
  register('dtdLens.export', (a, format, target) =>
    exportRun(host, runIdOf(a), format === 'json' || format === 'svg' || format === 'png' ? format : undefined, target instanceof vscode.Uri ? target : undefined),
  );
  register('dtdLens.showLog', () => log.show());
  register('dtdLens.audit', (a, req) => auditCommand(host, a instanceof vscode.Uri ? a : undefined, isRecord(req) ? (req as AuditRequest) : {}));
  register('dtdLens.openRun', (a) => {
    const id = runIdOf(a);
    return id ? openRun(host, id) : false;
  });
  register('dtdLens.deleteRun', async (a) => {
    const id = runIdOf(a);
    if (id) await store.remove(id);
  });
  // Removing every stored run cannot be undone: ask first (a caller passing `true` has asked already).
  register('dtdLens.clearRuns', async (confirmed) => {
    const n = store.all().length;
    if (n === 0) return false;
    if (confirmed !== true) {
      const yes = 'Clear All Runs';
      const choice = await vscode.window.showWarningMessage(`Remove all ${n} recent run${n === 1 ? '' : 's'} and their stored results?`, { modal: true, detail: 'This cannot be undone.' }, yes);
      if (choice !== yes) return false;
    }
    await store.clear();
    return true;
  });
  register('dtdLens.computeBaselines', (a) => computeBaselinesCommand(host, runIdOf(a)));
  register('dtdLens.explainDataset', (a, b) => explainDatasetCommand(host, context.extensionUri, a instanceof vscode.Uri ? a : undefined, isRecord(b) ? (b as DatasetRequest) : {}));

  log.info(`DTD Lens activated; engine: ${vscode.Uri.joinPath(context.extensionUri, 'dist', 'engine.js').fsPath}`);

  return {
    explain: (uri, request) => explainCommand(host, uri, request ?? { useDefaults: true }),
    explainDataset: (uri, request) => explainDatasetCommand(host, context.extensionUri, uri, request ?? { useDefaults: true }),
    cancelActiveRun: () => runner.cancelActive(),
    rerunWithRule: (runId, rule) => rerunWithRule(host, runId, rule),
    compare: (l, r) => compareRuns(host, l, r),
    computeBaselines: (id) => computeBaselinesCommand(host, id),
    audit: (uri, req) => auditCommand(host, uri, req ?? {}),
    exportRun: (id, format, target) => exportRun(host, id, format, target),
    openRun: (id) => openRun(host, id),
    runs: () => store.all(),
    page: (id, key) => store.page(id, key),
    engine: {
      get pid() {
        return engine.pid;
      },
      get spawnCount() {
        return engine.spawnCount;
      },
      get busy() {
        return engine.busy;
      },
      get lastCancelLatencyMs() {
        return engine.lastCancelLatencyMs;
      },
      ping: (t) => engine.ping(t),
      kill: () => engine.kill('Stopped on request.'),
      onExit: (cb) => engine.on('exited', (pid) => cb(pid)),
    },
    rendered,
    waitForRendered,
    waitForDrawn,
    notices: notifier.notices,
    progressEvents: runner.progressEvents,
    inspected,
    visualizers: {
      get panelOpen() {
        return visualizers.panelOpen;
      },
      get viewResolved() {
        return visualizers.viewResolved;
      },
      settings: () => visualizers.settings(),
    },
  };
}

export function deactivate(): void {
  // Disposables in context.subscriptions stop the engine.
}
