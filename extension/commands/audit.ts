// "DTD Lens: Audit Roots…": the research experiment on the chosen model (random
// inputs, per rule and method: roots outside their region, …) through the
// runner, drawn as a chart in the visualizer panel, with CSV/JSON export.
// Options given by a caller (tests, other commands) skip the questions.

import * as vscode from 'vscode';
import type { ModelPayload } from '../engineClient';
import { baseName, readSettings } from '../config';
import type { AuditResult, WireAuditOptions } from '../protocol';
import { logText } from '../protocol';
import { formatMs } from '../runsTree';
import type { HostContext } from '../host/context';
import { readModel } from '../host/modelSource';
import { isCancellation, type ReportedError } from '../host/notifier';
import { pickAuditInputs, pickAuditRootFinder, pickAuditRules, pickModel, pickSaveTarget } from '../host/pickers';

/** What the audit can be told up front; `saveTo` writes the CSV (.csv) or JSON instead of offering to save. */
export type AuditRequest = Partial<WireAuditOptions> & { saveTo?: vscode.Uri };

export type AuditOutcome =
  | { status: 'ok'; audit: AuditResult; csv: string; durationMs: number }
  | { status: 'dismissed' | 'cancelled' }
  | { status: 'error'; error: ReportedError };

const DEFAULT_SANITY: WireAuditOptions['sanity'] = ['randomization', 'random-logit', 'pixel-flipping'];

export async function auditCommand(ctx: HostContext, uriArg?: vscode.Uri, req: AuditRequest = {}): Promise<AuditOutcome> {
  const uri = uriArg ?? (await pickModel());
  if (!uri) return { status: 'dismissed' };
  const name = baseName(uri);
  let payload: ModelPayload;
  try {
    payload = await readModel(uri);
  } catch (e) {
    return { status: 'error', error: ctx.notifier.reportError(e, `reading ${name}`) };
  }
  const inputs = req.inputs ?? (await pickAuditInputs(name));
  if (inputs === undefined) return { status: 'dismissed' };
  const rules = req.rules ?? (await pickAuditRules());
  if (!rules) return { status: 'dismissed' };
  const rootFinder = req.rootFinder ?? (await pickAuditRootFinder());
  if (!rootFinder) return { status: 'dismissed' };
  const options: WireAuditOptions = {
    inputs,
    rules,
    rootFinder,
    methods: req.methods,
    seed: req.seed ?? readSettings(uri).seed,
    minOutput: req.minOutput,
    explainedOutput: req.explainedOutput,
    sanity: req.sanity ?? DEFAULT_SANITY,
  };
  const started = Date.now();
  try {
    const { audit, csv } = await ctx.runner.run(`DTD Lens: auditing ${name}`, ({ token, onProgress }) => ctx.engine.audit(payload, options, { token, onProgress }), { exclusive: true });
    const durationMs = Date.now() - started;
    ctx.log.info(`audit of ${logText(name)}: ${audit.inputs} inputs, ${audit.rows.length} rows in ${formatMs(durationMs)}`);
    ctx.visualizers.showInPanel({ type: 'audit', audit }, `DTD Lens: audit of ${name}`);
    ctx.shown.showsOther();
    const text = (ext: string) => new TextEncoder().encode(ext === 'csv' ? csv : JSON.stringify(audit, null, 1));
    if (req.saveTo) {
      await vscode.workspace.fs.writeFile(req.saveTo, text(req.saveTo.path.endsWith('.csv') ? 'csv' : 'json'));
    } else {
      void ctx.notifier.notify('info', `DTD Lens: audit of ${audit.inputs} inputs done in ${formatMs(durationMs)}.`, 'Save CSV', 'Save JSON').then(async (choice) => {
        if (!choice) return;
        const ext = choice === 'Save CSV' ? 'csv' : 'json';
        const target = await pickSaveTarget('DTD Lens: save the audit', `${name.replace(/\.[^.]+$/, '')}-audit`, ext);
        if (target) await vscode.workspace.fs.writeFile(target, text(ext));
      });
    }
    return { status: 'ok', audit, csv, durationMs };
  } catch (e) {
    if (isCancellation(e)) return { status: 'cancelled' };
    return { status: 'error', error: ctx.notifier.reportError(e, `auditing ${name}`) };
  }
}
