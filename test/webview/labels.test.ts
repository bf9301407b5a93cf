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
