// "DTD Lens: Re-run with Another Rule…": a stored run's model, input, output
// and options again with another rule (picked, or given by the caller).

import * as vscode from 'vscode';
import type { ModelPayload } from '../engineClient';
import type { HostContext } from '../host/context';
import { readModel } from '../host/modelSource';
import { pickRule, pickRun } from '../host/pickers';
import { executeRun, type RunOutcome } from './explain';

export async function rerunWithRule(ctx: HostContext, runId?: string, rule?: string): Promise<RunOutcome> {
  const run = await pickRun(ctx.store, ctx.notifier, 'DTD Lens: re-run which explanation?', runId ?? ctx.shown.panelRunId);
  if (!run) return { status: 'dismissed' };
  const newRule = rule ?? (await pickRule(run.rule, `DTD Lens: re-run ${run.modelName} · output ${run.explainedOutput} with rule…`));
  if (!newRule) return { status: 'dismissed' };
  const uri = vscode.Uri.parse(run.modelUri);
  let payload: ModelPayload;
  try {
    payload = await readModel(uri);
  } catch (e) {
    return { status: 'error', error: ctx.notifier.reportError(e, `reading ${run.modelName}`) };
  }
  return executeRun(ctx, uri, payload, { kind: 'values', values: run.input.values }, run.input.label, { ...run.options, rule: newRule });
}
