// Baselines on demand. Runs are explained without the comparison baselines
// (gradient, gradient × input, the LRP variants: most of an LRP run's time and of
// its result on a CNN); they are computed when the user opens the comparison in
// the visualizer (the webview's 'baselines' request) or runs "DTD Lens: Compute
// Baselines" — for the stored run's model (its SHA-256 checked by the engine),
// input, explained output, precision and backend, with progress and Cancel. The
// run's stored result (and so Open Run, the JSON export and a restored panel)
// then carries them; large baseline tensors join the run's page file. A run that
// has them already answers at once; two asks for one run share one computation.

import * as vscode from 'vscode';
import { type BaselinesReply, type ExplainResult, isRunId, plainText, type Progress, withBaselines } from '../protocol';
import type { HostContext } from '../host/context';
import { readModel } from '../host/modelSource';
import { isCancellation } from '../host/notifier';
import { pickRun } from '../host/pickers';
import type { VisualizerTarget } from '../visualizer';

export interface BaselinesOutcome {
  runId: string;
  /** The stored result, with its baselines. */
  result: ExplainResult;
  reply: BaselinesReply;
}

/** Computations in flight, by run: a second ask (the other webview, the command) waits for the first. */
const inFlight = new Map<string, Promise<BaselinesOutcome>>();

/** The reply a result that already carries baselines stands for. */
function replyOf(result: ExplainResult): BaselinesReply {
  const tensors = Object.fromEntries(Object.entries(result.paged?.tensors ?? {}).filter(([k]) => k.startsWith('baseline:')));
  return { baselines: result.baselines, tensors, warnings: [], backend: result.backend, precision: result.precision, ms: result.timings?.baselines ?? 0 };
}

/** Computes (once) the baselines of stored run `runId`, stores them with the run and tells the webviews that show it. */
export function baselinesForRun(ctx: HostContext, runId: string, opts: { requester?: VisualizerTarget } = {}): Promise<BaselinesOutcome> {
  const pending = inFlight.get(runId);
  if (pending) return pending;
  const p = compute(ctx, runId, opts).finally(() => inFlight.delete(runId));
  inFlight.set(runId, p);
  return p;
}

async function compute(ctx: HostContext, runId: string, opts: { requester?: VisualizerTarget }): Promise<BaselinesOutcome> {
  const run = ctx.store.get(runId);
  const result = run ? await ctx.store.result(runId) : undefined;
  if (!run || !result) throw new Error('The run shown is no longer stored: explain the model again to compare it with the baselines.');
  if (result.baselines) return { runId, result, reply: replyOf(result) };
  const payload = await readModel(vscode.Uri.parse(run.modelUri));
  // The run's own options: its precision and backend; the method and output as the result records them.
  const options = { ...run.options, method: result.method, explainedOutput: result.explainedOutput };
  // Large tensors go to the run's page file, next to the run's own pages (a result stored whole keeps them inline).
  const pagesFile = result.paged ? ctx.store.pagesFile(runId) : undefined;
  if (pagesFile) await ctx.store.prepare();
  ctx.log.info(`run ${runId}: computing baselines (${result.method}, output ${result.explainedOutput}, ${options.precision ?? 'default precision'})`);
  const started = Date.now();
  let reply: BaselinesReply;
  try {
    reply = await ctx.runner.run(
      `DTD Lens: baselines for ${run.modelName}, output ${result.explainedOutput}`,
      ({ token, onProgress }) => ctx.engine.baselines(payload, { kind: 'values', values: result.input }, options, result.provenance?.modelSha256 ?? null, pagesFile, { token, onProgress }),
      { exclusive: false, onProgress: (p: Progress) => ctx.visualizers.progress(p.stage === 'Done' ? null : p) },
    );
  } finally {
    ctx.visualizers.progress(null);
  }
  const updated = withBaselines(result, reply);
  await ctx.store.update(runId, {}, updated);
  // The other webview showing this run keeps the updated result (for a reload) and merges the baselines.
  ctx.visualizers.baselinesComputed(runId, result, updated, reply, opts.requester);
  for (const w of reply.warnings) ctx.log.warn(`run ${runId}: ${plainText(w)}`);
  ctx.log.info(`run ${runId}: baselines in ${Date.now() - started} ms (engine ${Math.round(reply.ms)} ms, ${reply.backend}/${reply.precision})`);
  return { runId, result: updated, reply };
}

/** The run a webview means: the stored run id it sent, else the panel's run (or the latest for the side bar). */
export function runShownIn(ctx: HostContext, target: VisualizerTarget, run: string | null): string | undefined {
  if (run && isRunId(run) && ctx.store.get(run)) return run;
  const latest = ctx.store.latest()?.id;
  return target === 'panel' ? (ctx.shown.panelRunId ?? latest) : latest;
}

/** The webview's request (the user opened the comparison): the baselines of the run it shows. Errors are notified and rethrown for the webview. */
export async function baselinesRequest(ctx: HostContext, target: VisualizerTarget, run: string | null): Promise<{ run: string | null; reply: BaselinesReply }> {
  const id = runShownIn(ctx, target, run);
  try {
    if (!id) throw new Error('No stored run is shown: explain a model first.');
    const out = await baselinesForRun(ctx, id, { requester: target });
    return { run: out.runId, reply: out.reply };
  } catch (e) {
    if (isCancellation(e)) throw new Error('Computing the baselines was cancelled.');
    ctx.notifier.reportError(e, 'computing the baselines');
    throw e;
  }
}

/** "DTD Lens: Compute Baselines": the baselines of a run (the panel's, or one picked), drawn next to it in the panel. */
export async function computeBaselinesCommand(ctx: HostContext, runId?: string): Promise<BaselinesOutcome | undefined> {
  const run = await pickRun(ctx.store, ctx.notifier, 'DTD Lens: compute the baselines of which explanation?', runId ?? ctx.shown.panelRunId);
  if (!run) return undefined;
  try {
    // The panel is told below (it draws the first baseline); the side bar, when it shows the run, as it completes.
    const out = await baselinesForRun(ctx, run.id, { requester: 'panel' });
    if (ctx.shown.panelRunId !== run.id || !ctx.visualizers.panelOpen) ctx.shown.show(run.id, out.result);
    ctx.visualizers.showBaselinesInPanel(run.id, out.result, out.reply);
    return out;
  } catch (e) {
    if (isCancellation(e)) {
      vscode.window.setStatusBarMessage('DTD Lens: baselines cancelled', 4000);
      return undefined;
    }
    ctx.notifier.reportError(e, 'computing the baselines');
    return undefined;
  }
}
