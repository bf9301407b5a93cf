// Showing what is already computed: "Open Run" (a Recent Runs item) and
// "Open Visualizer" (the panel with the shown or latest run, also what a panel
// restored after a reload shows: host/shownRun.ts restoreContent).

import type { HostContext } from '../host/context';

export async function openRun(ctx: HostContext, runId: string): Promise<boolean> {
  const result = await ctx.store.result(runId);
  if (!result) {
    void ctx.notifier.notify('warning', 'DTD Lens: this run has no stored result (it failed, was cancelled, or its file was removed).');
    return false;
  }
  ctx.shown.show(runId, result);
  return true;
}

export async function openVisualizer(ctx: HostContext): Promise<void> {
  const content = await ctx.shown.restoreContent();
  const host = ctx.visualizers.openPanel();
  if (content && !host.hasContent) host.show(content);
}
