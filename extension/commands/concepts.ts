// Concepts (CRP) on request: the webview asks for the conditional heatmap of one
// channel of the result it shows; the host finds that run (the panel's, else the
// latest), reads its model again (confined, bounded: host/modelSource.ts) and asks
// the engine to recompute for the run's input, method, rules and output. The
// engine checks the model file is the one the run explained (its SHA-256).

import * as vscode from 'vscode';
import type { ConceptHeatmap } from '../protocol';
import type { HostContext } from '../host/context';
import { readModel } from '../host/modelSource';
import type { VisualizerTarget } from '../visualizer';

export async function conceptHeatmap(ctx: HostContext, target: VisualizerTarget, layer: number, channel: number): Promise<ConceptHeatmap> {
  const latest = ctx.store.latest()?.id;
  const id = target === 'panel' ? (ctx.shown.panelRunId ?? latest) : latest;
  const run = id ? ctx.store.get(id) : undefined;
  const result = id ? await ctx.store.result(id) : undefined;
  if (!run || !result) throw new Error('The run shown is no longer stored: explain the model again to see its concepts.');
  const payload = await readModel(vscode.Uri.parse(run.modelUri));
  const options = { ...run.options, method: result.method, explainedOutput: result.explainedOutput };
  ctx.log.info(`run ${run.id}: concept of layer ${layer}, channel ${channel}`);
  const [concept] = await ctx.engine.concepts(payload, { kind: 'values', values: result.input }, options, layer, [channel], result.provenance?.modelSha256 ?? null);
  if (!concept) throw new Error('The engine returned no heatmap.');
  return concept;
}
