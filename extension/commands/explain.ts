// "DTD Lens: Explain Output…" (palette, Explorer, editor title, the inspector's
// button, the visualizer's Re-run): which model, input, output and
// method/rule/root finder (asked unless given), then one engine run through the
// runner, kept in Recent Runs and shown. `executeRun` is the run itself, also
// used by Re-run with Another Rule.

import * as vscode from 'vscode';
import { EngineError, type ModelPayload } from '../engineClient';
import { baseName, isModelFile, MODEL_FILES_TEXT, readSettings, toWireOptions } from '../config';
import { DEFAULT_METHOD, DEFAULT_ROOT_FINDER, logText, type ExplainResult, type InputSpec, type Progress, type Method, type RootFinderName, type WireExplainOptions } from '../protocol';
import { newRunId, type RunRecord } from '../runStore';
import { formatMs } from '../runsTree';
import type { HostContext } from '../host/context';
import type { InputChoice } from '../host/inputSource';
import { readModel } from '../host/modelSource';
import { isCancellation, type ReportedError } from '../host/notifier';
import { pickInput, pickMethodRuleFinder, pickModel, pickOutput } from '../host/pickers';

export type { InputChoice } from '../host/inputSource';

/** How long the progress notification waits for the panel to report it has drawn a result. */
const DRAWN_TIMEOUT_MS = 60000;

/** Everything a run can be told up front; what is missing is asked (or taken from the settings with `useDefaults`). */
export interface ExplainRequest {
  input?: InputChoice;
  explainedOutput?: number;
  method?: Method;
  rule?: string;
  rootFinder?: RootFinderName;
  options?: Partial<WireExplainOptions>;
  /** Take method, rule and root finder from the settings without asking. */
  useDefaults?: boolean;
  /** Re-run: the input picker focuses the last-used input. */
  focusLastInput?: boolean;
}

export type RunOutcomeStatus = 'ok' | 'failed' | 'cancelled' | 'error' | 'dismissed';

export interface RunOutcome {
  status: RunOutcomeStatus;
  runId?: string;
  result?: ExplainResult;
  error?: ReportedError;
  durationMs?: number;
}

/** The command: asks for what `req` does not say, runs, shows the result. */
export async function explainCommand(ctx: HostContext, uriArg?: vscode.Uri, req: ExplainRequest = {}): Promise<RunOutcome> {
  const uri = uriArg ?? (await pickModel());
  if (!uri) return { status: 'dismissed' };
  if (!isModelFile(uri)) {
    const error = { code: 'unsupported', message: `${baseName(uri)} is not a model file DTD Lens reads (${MODEL_FILES_TEXT}).` };
    void ctx.notifier.notify('error', `DTD Lens: ${error.message}`);
    return { status: 'error', error };
  }
  let payload: ModelPayload;
  try {
    payload = await readModel(uri);
  } catch (e) {
    return { status: 'error', error: ctx.notifier.reportError(e, `reading ${baseName(uri)}`) };
  }

  let explainedOutput = req.explainedOutput;
  let inputSpec: InputSpec;
  let inputLabel: string;
  // Short engine requests while asking: cancellable, but they do not cancel a run in progress.
  const inspect = (title: string, input?: InputSpec) =>
    ctx.runner.run(`DTD Lens: ${title}`, ({ token }) => ctx.engine.inspect(payload, input, { token }), { exclusive: false });
  try {
    let choice = req.input;
    if (!choice) {
      // Ask the input first: the output picker shows the outputs for it.
      const summary = await inspect(`Loading ${baseName(uri)}…`);
      choice = await pickInput(summary.model, ctx.inputs, req.focusLastInput === true);
      if (!choice) return { status: 'dismissed' };
    }
    ({ spec: inputSpec, label: inputLabel } = await ctx.inputs.specFor(choice));
    if (explainedOutput === undefined) {
      const reply = await inspect(`Computing the outputs of ${baseName(uri)}…`, inputSpec);
      const picked = await pickOutput(reply);
      if (picked === undefined) return { status: 'dismissed' };
      explainedOutput = picked;
      // Explain exactly the input whose outputs were shown.
      if (reply.input) inputSpec = { kind: 'values', values: reply.input };
    }
  } catch (e) {
    if (isCancellation(e)) return { status: 'cancelled' };
    return { status: 'error', error: ctx.notifier.reportError(e, `loading ${baseName(uri)}`) };
  }
  const how = await pickMethodRuleFinder(req);
  if (!how) return { status: 'dismissed' };
  const options = toWireOptions(readSettings(uri), { explainedOutput, ...how, options: req.options });
  return executeRun(ctx, uri, payload, inputSpec, inputLabel, options);
}

/**
 * The visualizer's Re-run button: explain the shown run's model again, asking input (the
 * last-used one focused), output and method. The model on screen is known even when its run
 * is no longer stored (Recent Runs cleared): only with nothing shown is a model asked for.
 */
export function explainAgain(ctx: HostContext, target: 'panel' | 'view'): Promise<RunOutcome> {
  const latest = ctx.store.latest();
  const id = target === 'panel' ? (ctx.shown.panelRunId ?? latest?.id) : latest?.id;
  const run = id ? ctx.store.get(id) : undefined;
  const model = run?.modelUri ?? ctx.shown.panelModelUri;
  return explainCommand(ctx, model ? vscode.Uri.parse(model) : undefined, { focusLastInput: true });
}

/** Runs the engine on a prepared request through the runner (progress, cancel), then stores and shows the result. */
export async function executeRun(ctx: HostContext, uri: vscode.Uri, payload: ModelPayload, input: InputSpec, inputLabel: string, options: WireExplainOptions): Promise<RunOutcome> {
  const record: RunRecord = {
    id: newRunId(),
    modelUri: uri.toString(),
    modelName: baseName(uri),
    explainedOutput: options.explainedOutput ?? 0,
    explainedValue: null,
    method: options.method ?? DEFAULT_METHOD,
    rule: typeof options.rule === 'string' ? options.rule : JSON.stringify(options.rule),
    rootFinder: options.rootFinder ?? DEFAULT_ROOT_FINDER,
    status: 'running',
    message: null,
    startedAt: Date.now(),
    durationMs: null,
    input: { label: inputLabel, values: input.kind === 'values' ? input.values : [] },
    options,
  };
  await ctx.store.add(record);
  ctx.log.info(logText(`run ${record.id}: ${record.modelName}, output ${record.explainedOutput}, ${record.method}, rule ${record.rule}, input ${inputLabel}`));
  try {
    let durationMs = 0;
    // The progress notification stays until the panel has drawn the result: the engine's work is the first 90 %.
    const result = await ctx.runner.run(
      `DTD Lens: ${record.modelName}, output ${record.explainedOutput}`,
      async ({ token, onProgress }) => {
        await ctx.store.prepare();
        // The engine writes the root tree and large layers to the run's page file and sends the view (protocol/pages.ts).
        const engineProgress = (p: Progress) => {
          if (p.stage !== 'Done') onProgress({ stage: p.stage, fraction: p.fraction !== undefined ? 0.9 * p.fraction : undefined });
        };
        const r = await ctx.engine.explain(payload, input, options, { token, onProgress: engineProgress }, ctx.store.pagesFile(record.id));
        if (r.paged) r.paged = { ...r.paged, run: record.id };
        durationMs = Date.now() - record.startedAt;
        onProgress({ stage: 'Storing the result', fraction: 0.92 });
        await ctx.store.update(record.id, { status: r.status === 'ok' ? 'ok' : 'failed', durationMs, explainedValue: r.explainedValue, message: r.message, input: { label: inputLabel, values: r.input } }, r);
        onProgress({ stage: 'Drawing', fraction: 0.95 });
        const since = Date.now();
        ctx.shown.show(record.id, r);
        await ctx.shown.waitForDrawn(since, DRAWN_TIMEOUT_MS, token);
        onProgress({ stage: 'Done', fraction: 1 });
        return r;
      },
      { exclusive: true, runId: record.id, onProgress: (p) => ctx.visualizers.progress(p.stage === 'Done' ? null : p) },
    );
    const status = result.status === 'ok' ? 'ok' : 'failed';
    await ctx.inputs.remember({ label: inputLabel, values: result.input });
    for (const w of result.warnings) ctx.log.warn(`run ${record.id}: ${logText(w)}`);
    ctx.log.info(`run ${record.id}: ${result.status} (${result.statusCode}) in ${formatMs(durationMs)}, backend ${result.backend}, ${result.precision}`);
    if (result.status !== 'ok' && result.message) void ctx.notifier.notify('warning', `DTD Lens: ${result.message}`);
    return { status, runId: record.id, result, durationMs };
  } catch (e) {
    const durationMs = Date.now() - record.startedAt;
    ctx.visualizers.progress(null);
    if (isCancellation(e)) {
      await ctx.store.update(record.id, { status: 'cancelled', durationMs, message: 'Cancelled.' });
      vscode.window.setStatusBarMessage('DTD Lens: run cancelled', 4000);
      return { status: 'cancelled', runId: record.id, durationMs, error: { code: 'cancelled', message: e instanceof EngineError ? e.message : String(e) } };
    }
    const error = ctx.notifier.reportError(e, `explaining ${record.modelName}`);
    await ctx.store.update(record.id, { status: 'error', durationMs, message: error.message });
    return { status: 'error', runId: record.id, durationMs, error };
  }
}
