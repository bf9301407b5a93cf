// "DTD Lens: Export Explanation…": a stored run as JSON (the full result), or
// its drawing as SVG / PNG (drawn by the panel, shown first when needed),
// written with workspace.fs to a file given by the caller or a save dialog.

import * as vscode from 'vscode';
import type { HostContext } from '../host/context';
import { pickExportFormat, pickRun, pickSaveTarget, type ExportFormat } from '../host/pickers';
import type { RunRecord } from '../runStore';

export async function exportRun(ctx: HostContext, runId?: string, format?: ExportFormat, target?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const run = await pickRun(ctx.store, ctx.notifier, 'DTD Lens: export which explanation?', runId ?? ctx.shown.panelRunId);
  if (!run) return undefined;
  const result = await ctx.store.result(run.id);
  if (!result) {
    void ctx.notifier.notify('warning', 'DTD Lens: this run has no stored result to export.');
    return undefined;
  }
  const fmt = format ?? (await pickExportFormat());
  if (!fmt) return undefined;
  const stem = exportStem(run);
  const uri = target ?? (await pickSaveTarget('DTD Lens: export explanation', stem, fmt));
  if (!uri) return undefined;
  try {
    let bytes: Uint8Array;
    if (fmt === 'json') {
      bytes = new TextEncoder().encode(JSON.stringify(result, null, 1));
    } else {
      await ctx.shown.ensureInPanel(run.id, result);
      bytes = decodeDataUrl(await ctx.visualizers.exportFromPanel(fmt));
    }
    await vscode.workspace.fs.writeFile(uri, bytes);
    ctx.log.info(`exported run ${run.id} as ${fmt} to ${uri.toString()} (${bytes.length} bytes)`);
    void ctx.notifier.notify('info', `DTD Lens: exported to ${vscode.workspace.asRelativePath(uri)}.`);
    return uri;
  } catch (e) {
    void ctx.notifier.notify('error', `DTD Lens: export failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/**
 * The panel's own SVG / PNG / JSON buttons: the webview sends what it drew,
 * the host asks where to save it (named after the run shown) and writes it.
 */
export async function saveViewExport(ctx: HostContext, format: ExportFormat, data: string): Promise<vscode.Uri | undefined> {
  const run = ctx.shown.panelRunId ? ctx.store.get(ctx.shown.panelRunId) : undefined;
  const stem = run ? exportStem(run) : 'dtd-lens-explanation';
  const uri = await pickSaveTarget('DTD Lens: save the view', stem, format);
  if (!uri) return undefined;
  try {
    const bytes = decodeDataUrl(data);
    await vscode.workspace.fs.writeFile(uri, bytes);
    ctx.log.info(`saved the panel's ${format} to ${uri.toString()} (${bytes.length} bytes)`);
    void ctx.notifier.notify('info', `DTD Lens: saved to ${vscode.workspace.asRelativePath(uri)}.`);
    return uri;
  } catch (e) {
    void ctx.notifier.notify('error', `DTD Lens: saving failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/** A file name for a run's export: model, output, method (full-backward with its root finder) and rule, so exports of different runs do not overwrite each other. */
function exportStem(run: RunRecord): string {
  const method = run.method === 'full-backward' ? `full-backward-${run.rootFinder}` : run.method;
  return `${run.modelName.replace(/\.[^.]+$/, '')}-output${run.explainedOutput}-${method}-${run.rule.replace(/[^A-Za-z0-9+=.,-]/g, '_')}`;
}

/** The bytes of a data: URL the webview sent (base64 or percent-encoded), or the text itself. */
function decodeDataUrl(data: string): Uint8Array {
  const m = /^data:[^,]*?(;base64)?,/.exec(data);
  if (!m) return new TextEncoder().encode(data);
  const body = data.slice(m[0].length);
  return m[1] ? new Uint8Array(Buffer.from(body, 'base64')) : new TextEncoder().encode(decodeURIComponent(body));
}
