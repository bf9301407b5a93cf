// Labels that name the right thing (issue 11, "Broken or misleading"): the
// root tree names the explained output by its real index, as the network does;
// the ledger's root columns count the roots of the row's own layer's units.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { explain, loadModel } from '../../extension/engine';
import type { ExplainResult } from '../../extension/protocol';
import { engineResult, FIXTURES } from './fixtures';
import { launch, openWebview } from './harness';

/** An input of mlp3_seed0_testfull whose output 1 is positive (the fixture's own input explains output 0). */
const X_OUTPUT1 = [0.000007826369259425611, 0.13153778814316625, 0.7556053221950332, 0.4586501319234493, 0.5327672374121692, 0.21895918632809036, 0.04704461621448613, 0.678864716868319, 0.6792964058366122, 0.9346928959408276];

export async function output1Result(method: 'full-backward' | 'train-free'): Promise<ExplainResult> {
  const net = loadModel(new Uint8Array(readFileSync(join(FIXTURES, 'mlp3_seed0_testfull.json'))), 'mlp3_seed0_testfull.json');
  return explain(net, X_OUTPUT1, { rule: 'z+', explainedOutput: 1, method, rootFinder: 'linear' });
}

describe('labels name what the network shows', () => {
  let browser: Browser;
  let fb: ExplainResult;
  before(async () => {
    browser = await launch();
    fb = await output1Result('full-backward');
  });
  after(() => browser?.close());

  it('the root tree names the explained output by its real index (output 1, not "root 0")', async () => {
    assert.equal(fb.status, 'ok');
    assert.equal(fb.explainedRow, 1, 'premise: output 1 is explained');
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: fb });
    // The network marks unit 1 of the output layer.
    assert.equal(await w.page.locator('.node.explained').getAttribute('data-unit'), '1');
    // Walk down to an entry of the top layer.
    const top = fb.tree!.find((e) => e.path.length === 6)!;
    for (let i = 2; i <= 6; i += 2) {
      await w.page.locator(`.tree-panel tr.tree-child[data-path="${top.path.slice(0, i).join('/')}"]`).click();
      await w.page.locator(`.tree-panel[data-path="${top.path.slice(0, i).join('/')}"]`).waitFor();
    }
    const crumbs = await w.page.locator('.tree-panel .breadcrumb .crumb').allTextContents();
    assert.equal(crumbs.at(-1), 'layer3 · unit 1 (explained output)');
    assert.ok(!crumbs.some((c) => /root 0/.test(c)), crumbs.join(' | '));
    const caption = (await w.page.locator('.tree-panel figure.root-bars figcaption').textContent()) ?? '';
    assert.match(caption, /layer3 · unit 1/);
    // One level up, the table names the top layer's unit by its index too.
    await w.page.locator(`.tree-panel .crumb[data-path="${top.path.slice(0, 4).join('/')}"]`).click();
    const units = await w.page.locator('.tree-panel tr.tree-child button').allTextContents();
    assert.deepEqual(units, ['unit 1']);
    assert.deepEqual(w.problems, []);
  });

  it('the ledger counts a layer\'s failing roots on that layer\'s row, and the input row has no roots', async () => {
    const tf = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: tf });
    const rows = await w.page.locator('.ledger tr.ledger-row').evaluateAll((els) =>
      els.map((e) => ({ index: Number(e.getAttribute('data-index')), region: e.querySelector('td.region .num')?.textContent, failing: e.classList.contains('has-failure') })),
    );
    for (const row of rows) {
      if (row.index === 0) {
        assert.equal(row.region, '—', 'the input is not decomposed');
        continue;
      }
      const roots = tf.roots[row.index - 1].filter((r) => r.hasRoot && r.checks);
      const out = roots.filter((r) => r.checks!.inRegion === false).length;
      assert.equal(row.region, `${out} / ${roots.length}`, `layer ${row.index}`);
    }
    // Premise and consequence: layer1 unit 1 is marked "✗ same linear region" in the inspector; layer1's row shows it.
    assert.equal(tf.roots[0].find((r) => r.unit === 1)?.checks?.inRegion, false);
    assert.notEqual(rows.find((r) => r.index === 1)?.region?.split(' / ')[0], '0');
  });
});

describe('legend, tooltips and unit labels say what the drawing means', () => {
  let browser: Browser;
  let tf: ExplainResult;
  before(async () => {
    browser = await launch();
    tf = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
  });
  after(() => browser?.close());

  it('the legend has a numeric scale, states the per-layer square-root normalisation and explains size, grey and dashed units', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: tf });
    const legend = (await w.page.locator('svg.network .legend').evaluate((g) => Array.from(g.querySelectorAll('text')).map((t) => t.querySelector('title')?.textContent ?? t.textContent).join(' | '))) ?? '';
    assert.deepEqual(await w.page.locator('svg.network .legend .legend-tick').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-fraction')))), [-1, -0.25, 0, 0.25, 1]);
    assert.match(legend, /max \|R\|/);
    assert.match(legend, /layer/);
    assert.match(legend, /square-root/);
    assert.match(legend, /size: activation/);
    assert.match(legend, /grey, dashed outline: inactive/);
    assert.match(legend, /dashed stub: flows not drawn/);
    // The numbers the colours are relative to: each layer's max |R|, under its name.
    const scales = await w.page.locator('svg.network .layer-scale').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-max'))));
    const want = tf.relevance.map((r) => Math.max(...(r ?? [0]).map(Math.abs)));
    assert.deepEqual(scales, want);
    assert.match((await w.page.locator('svg.network .layer-scale').first().textContent()) ?? '', /max \|R\| \d/);
    // Nothing of the legend is drawn over by the network: it is below the drawing.
    const [svgBox, legendBox, nodesBox] = await Promise.all(['svg.network', 'svg.network .legend', 'svg.network g.nodes'].map((s) => w.page.locator(s).boundingBox()));
    assert.ok(legendBox!.y >= nodesBox!.y + nodesBox!.height - 1 && legendBox!.y + legendBox!.height <= svgBox!.y + svgBox!.height + 1);
    await w.screenshot('legend-light');
  });

  it('tooltips print 4–5 significant digits, and units carry their index where there is room', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: tf });
    const node = w.page.locator('.node[data-layer="1"][data-unit="3"]');
    await node.hover();
    const tip = (await w.page.locator('.tooltip').textContent()) ?? '';
    const numbers = tip.match(/-?\d[\d.]*(e[-+]?\d+)?/g) ?? [];
    assert.ok(numbers.length >= 2, tip);
    for (const n of numbers) assert.ok(n.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').length <= 5, `"${n}" in "${tip}"`);
    // The relevance in the tooltip is the result's, rounded.
    const r = tf.relevance[1]![3];
    assert.ok(tip.includes(String(Number(r.toPrecision(5)))), tip);
    // Every unit of the 10-unit layers is labelled with its index.
    for (const l of [0, 1, 2]) {
      const units = await w.page.locator(`svg.network .unit-label[data-layer="${l}"]`).allTextContents();
      assert.deepEqual(units, Array.from({ length: 10 }, (_, i) => String(i)), `layer ${l}`);
    }
  });

  it('a difference view has its own legend: which run is larger where, not "+ relevance"', async () => {
    const w2 = await engineResult('mlp3_seed0_testfull', { method: 'train-free', rule: 'w2' });
    const w = await openWebview(browser);
    await w.send({ type: 'compare', left: w2, right: tf });
    await w.page.selectOption('select.compare-mode', 'diff');
    await w.waitFor('rendered', 2);
    const ends = await w.page.locator('svg.network .legend .legend-end').allTextContents();
    assert.deepEqual(ends, ['train-free · w2 larger', 'train-free · z+ larger']);
    const caption = await w.page.locator('svg.network .legend').getAttribute('data-caption');
    assert.equal(caption, 'difference train-free · z+ − train-free · w2');
    assert.ok(!(await w.page.locator('svg.network .legend').textContent())?.includes('+ relevance'));
  });

  it('side by side: each network at full size (stacked when narrow) and each root tree labelled by its run', async () => {
    const fb = await engineResult('mlp3_seed0_testfull', { method: 'full-backward' });
    const fb2 = await engineResult('mlp3_seed0_testfull', { method: 'full-backward', rule: 'w2' });
    const w = await openWebview(browser, { width: 1100 });
    await w.send({ type: 'result', result: fb });
    const single = await w.page.locator('svg.network g.viewport').getAttribute('transform');
    await w.send({ type: 'compare', left: fb, right: fb2 });
    const transforms = await w.page.locator('svg.network g.viewport').evaluateAll((els) => els.map((e) => e.getAttribute('transform')));
    const scale = (t: string | null) => Number(/scale\(([\d.]+)/.exec(t ?? '')?.[1] ?? 1);
    assert.equal(transforms.length, 2);
    for (const t of transforms) assert.ok(scale(t) >= scale(single) * 0.99, `pane scale ${scale(t)} vs single ${scale(single)}`);
    const owners = await w.page.locator('.tree-panel .tree-owner').allTextContents();
    assert.deepEqual(owners, ['Root tree of full-backward · z+ · linear', 'Root tree of full-backward · w2 · linear']);
    await w.screenshot('compare-side-by-side');
  });

  it('searching a unit keeps the column headers in view', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: tf });
    await w.page.fill('input.search', '2:9');
    await w.page.press('input.search', 'Enter');
    await w.page.waitForTimeout(300);
    const svgBox = (await w.page.locator('svg.network').boundingBox())!;
    const names = await w.page.locator('svg.network .column-label .layer-name').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
    const visible = names.filter((b) => b.top >= svgBox.y - 1 && b.bottom <= svgBox.y + svgBox.height && b.right > svgBox.x && b.left < svgBox.x + svgBox.width);
    // The searched layer's header is among the visible ones.
    const layer2 = await w.page.locator('svg.network .column-label[data-layer="2"] .layer-name').evaluate((e) => e.getBoundingClientRect().toJSON() as DOMRect);
    assert.ok(visible.length >= 1);
    assert.ok(layer2.top >= svgBox.y - 1 && layer2.bottom <= svgBox.y + 60, `layer2 header at ${layer2.top}, svg top ${svgBox.y}`);
  });
});

describe('search', () => {
  it('the search text does not carry over to another model', async () => {
    const browser = await launch();
    try {
      const a = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
      const b = await engineResult('tiny_3_5_1_seed2_w5', { method: 'train-free' });
      const w = await openWebview(browser);
      await w.send({ type: 'result', result: a });
      await w.page.fill('input.search', '2:9');
      await w.page.press('input.search', 'Enter');
      // Another run of the same model keeps it.
      await w.send({ type: 'result', result: { ...a } });
      assert.equal(await w.page.inputValue('input.search'), '2:9');
      await w.send({ type: 'result', result: b });
      assert.equal(await w.page.inputValue('input.search'), '');
      assert.equal(await w.page.locator('input.search.invalid').count(), 0);
    } finally {
      await browser.close();
    }
  });
});
