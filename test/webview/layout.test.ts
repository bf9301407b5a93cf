// Layouts that never clip (issue 11): the ledger's last column stays visible
// next to the heatmaps, the root chart's axis labels are not drawn over, the
// audit's row labels fit, and long layer names ellipsize with the full name
// in a title instead of running into each other.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { loadModel } from '../../extension/engine';
import { audit } from '../../extension/engine/audit';
import type { ExplainResult } from '../../extension/protocol';
import { fixtureFile } from '../helpers/fixtures';
import { engineResult } from './fixtures';
import { launch, openWebview } from './harness';

describe('layouts that never clip', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(() => browser?.close());

  for (const width of [800, 1100, 1400]) {
    it(`the ledger's last column is visible and not under the heatmaps (${width} px)`, async () => {
      const big = await engineResult('scale_784_256_128_10_seed0', { method: 'train-free' });
      const w = await openWebview(browser, { width });
      await w.send({ type: 'result', result: big });
      assert.equal(await w.page.locator('.heatmap').count(), 1, 'premise: the 784 input is drawn as an image');
      const ledger = w.page.locator('.ledger').first();
      const last = ledger.locator('thead th').last();
      // Scroll the page (not the ledger): the column must be visible without scrolling inside the ledger.
      await w.page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      const box = (await last.boundingBox())!;
      // What is drawn at the middle of the last header cell is that cell.
      const hit = await w.page.evaluate(([x, y]) => document.elementFromPoint(x, y)?.closest('th')?.textContent ?? document.elementFromPoint(x, y)?.className ?? null, [box.x + box.width / 2, box.y + box.height / 2]);
      assert.equal(hit, 'R ≠ 0 at root');
      const [l, h] = [(await w.page.locator('.ledgers').boundingBox())!, (await w.page.locator('.heatmaps').boundingBox())!];
      const overlap = l.x < h.x + h.width && h.x < l.x + l.width && l.y < h.y + h.height && h.y < l.y + l.height;
      assert.ok(!overlap, `ledgers ${JSON.stringify(l)} overlap heatmaps ${JSON.stringify(h)}`);
      await w.screenshot(`layout-ledger-${width}`);
    });
  }

  it('the root chart\'s axis labels are not drawn over by its bars', async () => {
    const tf = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: tf });
    await w.page.click('.node[data-layer="1"][data-unit="1"]');
    const fig = w.page.locator('.unit-panel figure.root-bars');
    const labels = await fig.locator('text.axis-label').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    const bars = await fig.locator('rect').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().left));
    assert.equal(labels.length, 2);
    assert.ok(Math.max(...labels) <= Math.min(...bars) + 0.5, `labels end at ${Math.max(...labels)}, bars start at ${Math.min(...bars)}`);
  });

  it('the audit\'s row labels fit in the chart', async () => {
    const net = loadModel(new Uint8Array(readFileSync(fixtureFile('mlp3_seed1_notebook', 'json'))), 'mlp3_seed1_notebook.json');
    const result = await audit(net, { inputs: 20, rules: ['gamma=0.25', 'z+'], methods: ['train-free', 'full-backward'], rootFinder: 'polytope', seed: 2, sanity: [] });
    const w = await openWebview(browser, { width: 1000 });
    await w.send({ type: 'audit', audit: result }, false);
    await w.waitFor('auditRendered', 1);
    const svg = (await w.page.locator('svg.audit-chart').boundingBox())!;
    const labels = await w.page.locator('svg.audit-chart text.group-label').evaluateAll((els) => els.map((e) => ({ left: e.getBoundingClientRect().left, text: e.textContent })));
    assert.ok(labels.some((l) => l.text?.startsWith('gamma=0.25 · full-backward (polytope)')));
    for (const l of labels) assert.ok(l.left >= svg.x - 0.5, `"${l.text}" starts at ${l.left}, the chart at ${svg.x}`);
  });

  it('long layer names ellipsize with the full name in a title, without running into each other', async () => {
    const tf: ExplainResult = structuredClone(await engineResult('mlp3_seed0_testfull', { method: 'train-free' }));
    tf.model.layers.forEach((l, i) => (l.name = `/features/features.${i}/block/Conv_with_a_very_long_onnx_node_name_${i}`));
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: tf });
    const names = await w.page.locator('svg.network .layer-name').evaluateAll((els) => els.map((e) => ({ r: e.getBoundingClientRect().toJSON() as DOMRect, title: e.querySelector('title')?.textContent, text: e.firstChild?.textContent })));
    for (let i = 1; i < names.length; i++) assert.ok(names[i - 1].r.right <= names[i].r.left, `header ${i - 1} (${names[i - 1].text}) runs into header ${i}`);
    assert.equal(names[1].title, tf.model.layers[0].name);
    assert.ok(names[1].text!.endsWith('…'));
  });
});
