// "DTD Lens: Compare Two Explanations…": two stored results side by side in the
// visualizer panel (given by id, or picked).

import type { HostContext } from '../host/context';
import { pickTwoRuns } from '../host/pickers';

export async function compareRuns(ctx: HostContext, leftId?: string, rightId?: string): Promise<boolean> {
  const ids = leftId && rightId ? [leftId, rightId] : await pickTwoRuns(ctx.store, ctx.notifier);
  if (!ids) return false;
  const [left, right] = await Promise.all(ids.map((id) => ctx.store.result(id)));
  if (!left || !right) {
    void ctx.notifier.notify('warning', 'DTD Lens: one of the runs has no stored result.');
    return false;
  }
  const [l, r] = ids.map((id) => ctx.store.get(id));
  ctx.visualizers.showInPanel({ type: 'compare', left, right, settings: ctx.visualizers.settings() }, `DTD Lens: ${l?.rule ?? 'left'} vs ${r?.rule ?? 'right'}`);
  ctx.shown.showsOther();
  return true;
}
