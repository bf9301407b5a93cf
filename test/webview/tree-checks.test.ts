// What the root inspector shows for a tree entry's "relevance ≈ 0 at root"
// check: an entry that leaves half its relevance unresolved fails, one that
// leaves 1e-9 of it passes — in the tree table's mini checks and in the
// entry's badges, as the engine decided it (TreeEntry.checks).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ExplainResult, TreeEntry } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview } from './harness';

describe('root tree: relevance ≈ 0 at a tree entry', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(() => browser?.close());

  it('fails for unresolved 0.5 of relevance 1 and passes for 1e-9 of 1', async () => {
    const base = await engineResult('tiny_3_5_1_seed2_w5', { method: 'full-backward' });
    const result: ExplainResult = structuredClone(base);
    const top = result.tree!.filter((e) => e.path.length === 2);
    assert.ok(top.length >= 2, 'fixture premise: two roots of layer1 at the input');
    const [bad, good] = top;
    const set = (e: TreeEntry, unresolved: number, relevanceZero: boolean) => {
      e.relevanceAtInput = 1;
      e.relevanceAtRoot = unresolved;
      // The engine's decision: the webview shows it and never decides a check itself.
      e.checks = { relevanceZero, inRegion: true, inDomain: true, crossing: null };
    };
    set(bad, 0.5, false);
    set(good, 1e-9, true);
    const w = await openWebview(browser);
    await w.send({ type: 'result', result });
    await w.page.locator('.tree-panel[data-path=""]').waitFor();
    const mini = async (e: TreeEntry) => (await w.page.locator(`.tree-panel tr.tree-child[data-path="${e.path.join('/')}"] td.mini-checks`).textContent())?.trim();
    assert.equal(await mini(bad), '✗ ✓ ✓', 'the entry with half its relevance unresolved');
    assert.equal(await mini(good), '✓ ✓ ✓', 'the entry with 1e-9 unresolved');
    for (const [e, state] of [
      [bad, 'fail'],
      [good, 'pass'],
    ] as const) {
      const key = e.path.join('/');
      if (!(await w.page.locator('.tree-panel[data-path=""]').count())) {
        await w.page.locator('.tree-panel .breadcrumb .crumb[data-path=""]').click();
        await w.page.locator('.tree-panel[data-path=""]').waitFor();
      }
      await w.page.click(`.tree-panel tr.tree-child[data-path="${key}"]`);
      const panel = w.page.locator(`.tree-panel[data-path="${key}"]`);
      await panel.waitFor();
      assert.equal(await panel.locator('.badge[data-check="relevance ≈ 0 at root"]').getAttribute('data-state'), state, key);
    }
    assert.deepEqual(w.problems, []);
  });
});
