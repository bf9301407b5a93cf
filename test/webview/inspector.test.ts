// Root inspector, root-tree walk and conservation ledger, against the
// engine's results on fixture networks.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ExplainResult } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview } from './harness';

function state(v: boolean | null | undefined): string {
  return v === true ? 'pass' : v === false ? 'fail' : 'unknown';
}

describe('root inspector', () => {
  let browser: Browser;
  let tf: ExplainResult;
  let fb: ExplainResult;
  before(async () => {
    browser = await launch();
    tf = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
    fb = await engineResult('mlp3_seed0_testfull', { method: 'full-backward' });
  });
  after(() => browser?.close());

  it('shows a root outside its region with a failing badge and the exact numbers', async () => {
    const info = tf.roots[0].find((r) => r.unit === 1)!;
    assert.equal(info.checks?.inRegion, false, 'fixture premise: layer1 unit 1 has its root outside the region');
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: tf });
    await w.page.click('.node[data-layer="1"][data-unit="1"]');
    const panel = w.page.locator('.unit-panel[data-layer="1"][data-unit="1"]');
    await panel.waitFor();
    const badges = await panel.locator('.badge').evaluateAll((els) => els.map((e) => [e.getAttribute('data-check'), e.getAttribute('data-state')]));
    assert.deepEqual(badges, [
      ['relevance ≈ 0 at root', state(info.checks?.relevanceZero)],
      ['same linear region', 'fail'],
      ['inside domain', state(info.checks?.inDomain)],
    ]);
    // The exact region names the constraint the root crosses first.
    assert.match(info.checks!.crossing ?? '', /^layer\d+ unit \d+ turns (on|off) at [\d.]+ % of the way/);
    assert.equal(await panel.locator('.crossing').getAttribute('data-crossing'), info.checks!.crossing);
    const values = await panel.locator('.kvs .num').evaluateAll((els) => els.map((e) => e.getAttribute('data-value')));
    assert.deepEqual(values, [info.relevanceAtInput, info.relevanceAtRoot, info.passedOn, info.taylorResidual, info.distance].map((v) => (v === null ? 'null' : String(v))));
    // Root against layer input, one pair of bars per dimension (10 ≤ the bar limit).
    const bars = await panel.locator('rect.bar-root').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    assert.deepEqual(bars, info.root);
    const inputs = await panel.locator('rect.bar-input').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    assert.deepEqual(inputs, tf.activations[0]);
    // The host hears about the selection.
    const sel = (await w.posted()).filter((m) => m.type === 'select');
    assert.deepEqual(sel.at(-1), { type: 'select', layer: 1, unit: 1 });
    await w.screenshot('inspector-root-outside-region');
  });

  it('colours root coordinates as failing only when the engine\'s domain check failed', async () => {
    // w2 roots leave the non-negative domain of a ReLU layer input.
    const w2 = await engineResult('mlp3_seed0_testfull', { method: 'train-free', rule: 'w2' });
    const info = w2.roots[1].find((r) => r.checks?.inDomain === false && r.root?.some((v) => v < 0));
    assert.ok(info, 'fixture premise: a layer-2 root outside its domain');
    const fills = async (result: ExplainResult) => {
      const w = await openWebview(browser);
      await w.send({ type: 'result', result });
      await w.page.click(`.node[data-layer="2"][data-unit="${info.unit}"]`);
      const panel = w.page.locator(`.unit-panel[data-layer="2"][data-unit="${info.unit}"]`);
      await panel.waitFor();
      const bars = await panel.locator('rect.bar-root').evaluateAll((els) => els.map((e) => ({ v: Number(e.getAttribute('data-value')), fill: e.getAttribute('fill') })));
      return { neg: new Set(bars.filter((b) => b.v < 0).map((b) => b.fill)), rest: new Set(bars.filter((b) => b.v >= 0).map((b) => b.fill)), badge: await panel.locator('.badge[data-check="inside domain"]').getAttribute('data-state') };
    };
    const failed = await fills(w2);
    assert.equal(failed.badge, 'fail');
    assert.equal(failed.neg.size, 1);
    assert.ok(![...failed.neg].some((f) => failed.rest.has(f)), 'negative coordinates drawn in the failure colour');
    // The same root with the engine's verdict turned to pass: the webview does not second-guess it.
    const passed = structuredClone(w2);
    passed.roots[1].find((r) => r.unit === info.unit)!.checks!.inDomain = true;
    const shown = await fills(passed);
    assert.equal(shown.badge, 'pass');
    assert.deepEqual([...new Set([...shown.neg, ...shown.rest])], [...shown.rest], 'every root coordinate in the ordinary colour');
    assert.equal(shown.rest.size, 1);
  });

  it('shows the polytope finder\'s certificate for a root', async () => {
    const poly = await engineResult('tiny_3_5_1_seed0', { method: 'full-backward', rootFinder: 'polytope' });
    assert.equal(poly.status, 'ok', poly.message ?? '');
    const info = poly.roots[0].find((r) => r.certificate && r.relevanceAtInput > 0)!;
    assert.ok(info, 'a layer-1 root with a certificate');
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: poly });
    await w.page.click(`.node[data-layer="1"][data-unit="${info.unit}"]`);
    const panel = w.page.locator(`.unit-panel[data-layer="1"][data-unit="${info.unit}"]`);
    await panel.waitFor();
    assert.equal(await panel.locator('.certificate').getAttribute('data-certificate'), info.certificate!.kind);
    const text = (await panel.locator('.certificate').textContent()) ?? '';
    assert.match(text, info.certificate!.kind === 'zero' ? /Exact root/ : info.certificate!.kind === 'boundary' ? /boundary/ : /does not fall/);
    await w.screenshot('inspector-polytope-certificate');
  });

  it('walks the full-backward root tree and back with the breadcrumb', async () => {
    const tree = fb.tree!;
    const top4 = tree.find((e) => e.path.join('/') === 'layer1/root_4');
    assert.ok(top4, 'fixture premise: layer1/root_4 exists');
    assert.equal(top4.checks.inRegion, false, 'fixture premise: layer1/root_4 is outside the region');
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: fb });
    // Top level lists the roots of layer1 at the input.
    const topRows = await w.page.locator('.tree-panel tr.tree-child').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    assert.deepEqual(topRows, tree.filter((e) => e.path.length === 2).map((e) => e.path.join('/')));
    await w.page.click('.node[data-layer="1"][data-unit="4"]');
    await w.page.locator('.tree-panel[data-path="layer1/root_4"]').waitFor();
    assert.equal(await w.page.getAttribute('.tree-panel .badge[data-check="same linear region"]', 'data-state'), 'fail');
    const kids = tree.filter((e) => e.path.length === 4 && e.path[1] === 'root_4');
    assert.ok(kids.length > 0);
    const rows = await w.page.locator('.tree-panel tr.tree-child').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    assert.deepEqual(rows, kids.map((e) => e.path.join('/')));
    // Step into the first child: its numbers and a three-step breadcrumb.
    const child = kids[0];
    await w.page.click(`.tree-panel tr.tree-child[data-path="${child.path.join('/')}"]`);
    const panel = w.page.locator(`.tree-panel[data-path="${child.path.join('/')}"]`);
    await panel.waitFor();
    const crumbs = await panel.locator('.breadcrumb .crumb').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    assert.deepEqual(crumbs, ['', 'layer1/root_4', child.path.join('/')]);
    const nums = await panel.locator('.kvs .num').evaluateAll((els) => els.map((e) => e.getAttribute('data-value')));
    assert.deepEqual(nums.slice(0, 4), [child.relevanceAtInput, child.relevanceAtRoot, child.passedOn, child.taylorResidual].map(String));
    assert.equal(await panel.locator('.badge[data-check="same linear region"]').getAttribute('data-state'), child.checks.inRegion ? 'pass' : 'fail');
    await w.screenshot('inspector-tree-walk');
    // Back to the top through the breadcrumb.
    await panel.locator('.breadcrumb .crumb[data-path=""]').click();
    await w.page.locator('.tree-panel[data-path=""]').waitFor();
    assert.equal(await w.page.locator('.tree-panel tr.tree-child').count(), tree.filter((e) => e.path.length === 2).length);
  });

  it('ledger numbers equal the result diagnostics and failures are highlighted', async () => {
    for (const r of [tf, fb]) {
      const w = await openWebview(browser);
      await w.send({ type: 'result', result: r });
      const rows = await w.page.locator('.ledger tr.ledger-row').evaluateAll((els) =>
        els.map((e) => ({
          index: Number(e.getAttribute('data-index')),
          failing: e.classList.contains('has-failure'),
          sum: e.querySelector('td.sum .num')?.getAttribute('data-value'),
          sumFail: e.querySelector('td.sum')?.classList.contains('fail'),
          error: e.querySelector('td.error .num')?.getAttribute('data-value'),
          negative: e.querySelector('td.negative .num')?.getAttribute('data-value'),
          region: e.querySelector('td.region .num')?.textContent,
          regionFail: e.querySelector('td.region')?.classList.contains('fail'),
          domain: e.querySelector('td.domain .num')?.textContent,
          zero: e.querySelector('td.zero .num')?.textContent,
        })),
      );
      const d = r.diagnostics.layers;
      assert.equal(rows.length, d.length);
      d.forEach((x, i) => {
        const row = rows[i];
        assert.equal(row.index, x.index);
        assert.equal(row.sum, String(x.relevanceSum));
        assert.equal(row.error, String(x.conservationError));
        assert.equal(row.negative, String(x.negativeMass));
        // A row's root columns count the roots of its own layer's units: the engine keeps them one index lower.
        const y = d.find((q) => q.index === x.index - 1);
        if (!y) assert.deepEqual([row.region, row.domain, row.zero], ['—', '—', '—']);
        else {
          assert.equal(row.region, `${y.rootsTotal - y.rootsInRegion} / ${y.rootsTotal}`);
          assert.equal(row.domain, `${y.rootsTotal - y.rootsInDomain} / ${y.rootsTotal}`);
          assert.equal(row.zero, `${y.rootsTotal - y.rootsWithZeroRelevance} / ${y.rootsTotal}`);
        }
        const consFail = Math.abs(x.conservationError) > 1e-6 * Math.abs(x.explainedValue);
        assert.equal(row.sumFail, consFail, `conservation highlight, layer ${x.index}`);
        const rootsFail = !!y && (y.rootsInRegion < y.rootsTotal || y.rootsInDomain < y.rootsTotal || y.rootsWithZeroRelevance < y.rootsTotal);
        assert.equal(row.regionFail, !!y && y.rootsInRegion < y.rootsTotal);
        assert.equal(row.failing, consFail || rootsFail);
      });
      // Premises that make the highlight meaningful: full-backward does not conserve; train-free has roots outside.
      if (r.method === 'full-backward') assert.ok(rows.some((q) => q.sumFail));
      else assert.ok(rows.some((q) => q.regionFail) && rows.some((q) => !q.failing));
      if (r.method === 'full-backward') await w.screenshot('ledger-full-backward');
    }
  });
});
