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
import { pickAuditInputs, pickAuditOutput, pickAuditRootFinder, pickAuditRules, pickModel, pickSaveTarget } from '../host/pickers';

/** What the audit can be told up front; `saveTo` writes the CSV (.csv) or JSON instead of offering to save. */
export type AuditRequest = Partial<WireAuditOptions> & { saveTo?: vscode.Uri };

export type AuditOutcome =
  | { status: 'ok'; audit: AuditResult; csv: string; durationMs: number }
  | { status: 'dismissed' | 'cancelled' }
  | { status: 'error'; error: ReportedError };

const DEFAULT_SANITY: WireAuditOptions['sanity'] = ['randomization', 'random-logit', 'pixel-flipping'];

/** The audit the panel shows, for its own Save CSV / Save JSON buttons. */
let shownAudit: { name: string; audit: AuditResult; csv: string } | undefined;

function auditBytes(a: { audit: AuditResult; csv: string }, ext: 'csv' | 'json'): Uint8Array {
  return new TextEncoder().encode(ext === 'csv' ? a.csv : JSON.stringify(a.audit, null, 1));
}

/** Asks where, and saves the audit the panel shows as CSV or JSON (the view's buttons and the done message's actions). */
export async function saveShownAudit(ctx: HostContext, ext: 'csv' | 'json'): Promise<vscode.Uri | undefined> {
  const shown = shownAudit;
  if (!shown) {
    void ctx.notifier.notify('warning', 'DTD Lens: no audit to save; run "DTD Lens: Audit Roots…" first.');
    return undefined;
  }
  const target = await pickSaveTarget('DTD Lens: save the audit', `${shown.name.replace(/\.[^.]+$/, '')}-audit-output${shown.audit.explainedOutput}`, ext);
  if (!target) return undefined;
  try {
    await vscode.workspace.fs.writeFile(target, auditBytes(shown, ext));
    void ctx.notifier.notify('info', `DTD Lens: saved the audit to ${vscode.workspace.asRelativePath(target)}.`);
    return target;
  } catch (e) {
    void ctx.notifier.notify('error', `DTD Lens: saving the audit failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

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
  let explainedOutput = req.explainedOutput;
  // Which output to audit, asked with the other questions (a caller that gives the number of inputs has
  // set the audit up, and gets the engine's default output unless it names one).
  if (explainedOutput === undefined && req.inputs === undefined) {
    // The model's outputs (a single one is taken without asking).
    try {
      const reply = await ctx.runner.run(`DTD Lens: Loading ${name}…`, ({ token }) => ctx.engine.inspect(payload, undefined, { token }), { exclusive: false });
      explainedOutput = await pickAuditOutput(reply.model.name, reply.model.outputSize);
    } catch (e) {
      if (isCancellation(e)) return { status: 'cancelled' };
      return { status: 'error', error: ctx.notifier.reportError(e, `loading ${name}`) };
    }
    if (explainedOutput === undefined) return { status: 'dismissed' };
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
    explainedOutput,
    sanity: req.sanity ?? DEFAULT_SANITY,
  };
  const started = Date.now();
  try {
    const { audit, csv } = await ctx.runner.run(`DTD Lens: auditing ${name}`, ({ token, onProgress }) => ctx.engine.audit(payload, options, { token, onProgress }), { exclusive: true });
    const durationMs = Date.now() - started;
    ctx.log.info(`audit of ${logText(name)}: ${audit.inputs} inputs, ${audit.rows.length} rows in ${formatMs(durationMs)}`);
    ctx.visualizers.showInPanel({ type: 'audit', audit }, `DTD Lens: audit of ${name}`);
    ctx.shown.showsOther();
    shownAudit = { name, audit, csv };
    if (req.saveTo) {
      await vscode.workspace.fs.writeFile(req.saveTo, auditBytes(shownAudit, req.saveTo.path.endsWith('.csv') ? 'csv' : 'json'));
    } else {
      void ctx.notifier.notify('info', `DTD Lens: audit of ${audit.inputs} inputs done in ${formatMs(durationMs)} (Save CSV / Save JSON in its view).`, 'Save CSV', 'Save JSON').then((choice) => {
        if (choice) void saveShownAudit(ctx, choice === 'Save CSV' ? 'csv' : 'json');
      });
    }
    return { status: 'ok', audit, csv, durationMs };
  } catch (e) {
    if (isCancellation(e)) return { status: 'cancelled' };
    return { status: 'error', error: ctx.notifier.reportError(e, `auditing ${name}`) };
  }
}
