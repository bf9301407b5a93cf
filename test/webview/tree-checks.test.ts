// What the root inspector shows for a tree entry's "relevance ≈ 0 at root"
// check: an entry that leaves half its relevance unresolved fails, one that
// leaves 1e-9 of it passes — in the tree table's mini checks and in the
// entry's badges, as the engine decided it (TreeEntry.checks); an entry the
// engine put outside its region and domain shows both failing. And the
// conservation ledger: a layer highlights as failing exactly when the engine
// said it does not conserve (LayerDiagnostics.conserved), whatever the error.

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

  it('fails for unresolved 0.5 of relevance 1, passes for 1e-9 of 1, and shows region and domain as the engine decided', async () => {
    const base = await engineResult('mlp3_seed0_testfull', { method: 'full-backward' });
    const result: ExplainResult = structuredClone(base);
    const top = result.tree!.filter((e) => e.path.length === 2);
    assert.ok(top.length >= 3, 'fixture premise: three roots of layer1 at the input');
    const [bad, good, outside] = top;
    const set = (e: TreeEntry, unresolved: number, relevanceZero: boolean, inRegion = true, inDomain = true) => {
      e.relevanceAtInput = 1;
      e.relevanceAtRoot = unresolved;
      // The engine's decision: the webview shows it and never decides a check itself.
      e.checks = { relevanceZero, inRegion, inDomain, crossing: inRegion ? null : 'layer1 unit 0 turns off at 50.0 % of the way from the input to the root' };
    };
    set(bad, 0.5, false);
    set(good, 1e-9, true);
    set(outside, 1e-9, true, false, false);
    const w = await openWebview(browser);
    await w.send({ type: 'result', result });
    await w.page.locator('.tree-panel[data-path=""]').waitFor();
    const mini = async (e: TreeEntry) => (await w.page.locator(`.tree-panel tr.tree-child[data-path="${e.path.join('/')}"] td.mini-checks`).textContent())?.trim();
    assert.equal(await mini(bad), '✗ ✓ ✓', 'the entry with half its relevance unresolved');
    assert.equal(await mini(good), '✓ ✓ ✓', 'the entry with 1e-9 unresolved');
    assert.equal(await mini(outside), '✓ ✗ ✗', 'the entry outside its region and domain');
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

describe('conservation ledger: the engine decides, the ledger shows', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(() => browser?.close());

  it('highlights the layer the engine says does not conserve (error 0) and not the one it says conserves (error 1e3)', async () => {
    const base = await engineResult('tiny_3_5_1_seed2_w5', { method: 'full-backward' });
    const result: ExplainResult = structuredClone(base);
    const layers = result.diagnostics.layers;
    assert.ok(layers.length >= 2, 'fixture premise: two layers in the ledger');
    const [notConserved, conserved] = layers;
    for (const d of layers) {
      // Every root passes: only conservation can make a row fail.
      Object.assign(d, { rootsInRegion: d.rootsTotal, rootsInDomain: d.rootsTotal, rootsWithZeroRelevance: d.rootsTotal });
    }
    Object.assign(notConserved, { relevanceSum: result.explainedValue, conservationError: 0, conserved: false });
    Object.assign(conserved, { relevanceSum: result.explainedValue + 1e3, conservationError: 1e3, conserved: true });
    for (const d of layers.slice(2)) d.conserved = true;
    const w = await openWebview(browser);
    await w.send({ type: 'result', result });
    const rows = await w.page.locator('.ledger tr.ledger-row').evaluateAll((els) =>
      els.map((e) => ({
        index: Number(e.getAttribute('data-index')),
        failing: e.classList.contains('has-failure'),
        sumFail: e.querySelector('td.sum')?.classList.contains('fail'),
        errorFail: e.querySelector('td.error')?.classList.contains('fail'),
      })),
    );
    assert.deepEqual(
      rows.map((r) => [r.index, r.failing, r.sumFail, r.errorFail]),
      layers.map((d) => [d.index, d === notConserved, d === notConserved, d === notConserved]),
    );
    const summary = (await w.page.locator('.ledger .summary').first().textContent()) ?? '';
    assert.ok(summary.includes(`1 of ${layers.length} layers fail a check: ${notConserved.name}.`), summary);
    assert.deepEqual(w.problems, []);
  });
});
