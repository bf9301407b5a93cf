// The "Recent Runs" tree: one item per run (output and method in the label;
// model, rule, status in the description); clicking an item re-opens the run's result in the visualizer.

import * as vscode from 'vscode';
import { runMethodText, type RunRecord, type RunStore } from './runStore';

export class RunsTreeProvider implements vscode.TreeDataProvider<RunRecord>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<RunRecord | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly store: RunStore) {
    this.sub = store.onDidChange(() => this.emitter.fire(undefined));
  }

  getChildren(element?: RunRecord): RunRecord[] {
    return element ? [] : [...this.store.all()];
  }

  getTreeItem(run: RunRecord): vscode.TreeItem {
    // The label is what a narrow side bar always shows: the output and how it was explained (method, root finder);
    // the model, rule and status follow in the description, everything in the tooltip.
    const item = new vscode.TreeItem(`output ${run.explainedOutput} · ${runMethodText(run)}`, vscode.TreeItemCollapsibleState.None);
    item.id = run.id;
    item.description = `${run.modelName} · ${run.rule} · ${statusText(run)}`;
    item.iconPath = statusIcon(run);
    item.contextValue = `dtdLens.run.${run.status}`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${escapeMd(run.modelName)}**, output ${run.explainedOutput}`);
    if (run.explainedValue !== null) md.appendMarkdown(` = ${run.explainedValue.toPrecision(6)}`);
    md.appendMarkdown(`\n\n- method: ${run.method}${run.method === 'full-backward' ? ` (root finder ${run.rootFinder})` : ''}`);
    md.appendMarkdown(`\n- rule: \`${run.rule}\``);
    md.appendMarkdown(`\n- input: ${escapeMd(run.input.label)}`);
    md.appendMarkdown(`\n- status: ${statusText(run)}`);
    md.appendMarkdown(`\n- started: ${new Date(run.startedAt).toLocaleString()}`);
    if (run.message) md.appendMarkdown(`\n\n${escapeMd(run.message)}`);
    item.tooltip = md;
    if (run.status === 'ok' || run.status === 'failed') {
      item.command = { command: 'dtdLens.openRun', title: 'Open Run', arguments: [run.id] };
    }
    return item;
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }
}

function statusText(run: RunRecord): string {
  switch (run.status) {
    case 'running':
      return 'running…';
    case 'ok':
      return run.durationMs !== null ? `ok, ${formatMs(run.durationMs)}` : 'ok';
    case 'failed':
      return 'no decomposition';
    case 'cancelled':
      return 'cancelled';
    case 'error':
      return 'error';
  }
}

function statusIcon(run: RunRecord): vscode.ThemeIcon {
  switch (run.status) {
    case 'running':
      return new vscode.ThemeIcon('loading~spin');
    case 'ok':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'failed':
      return new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
    case 'cancelled':
      return new vscode.ThemeIcon('circle-slash');
    case 'error':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}
