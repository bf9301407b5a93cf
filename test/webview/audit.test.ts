// The root audit drawn in the visualizer: bars per rule and method with the
// audit's own numbers, the table, definitions and sanity checks.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { audit } from '../../extension/engine/audit';
import type { AuditResult } from '../../extension/protocol';
import { loadModel } from '../../extension/engine';
import { fixtureFile } from '../helpers/fixtures';
import { launch, openWebview } from './harness';

describe('root audit chart', () => {
  let browser: Browser;
  let result: AuditResult;
  before(async () => {
    browser = await launch();
    const net = loadModel(new Uint8Array(readFileSync(fixtureFile('mlp3_seed1_notebook', 'json'))), 'mlp3_seed1_notebook.json');
    result = await audit(net, { inputs: 200, rules: ['z+', 'w2'], methods: ['train-free', 'full-backward'], rootFinder: 'polytope', seed: 2, sanity: ['pixel-flipping'] });
  });
  after(() => browser?.close());

  it('draws one bar per rule, method and measure with the audit numbers, and the table', async () => {
    const w = await openWebview(browser, { theme: 'vscode-dark' });
    await w.send({ type: 'audit', audit: result }, false);
    const [done] = await w.waitFor('auditRendered', 1);
    assert.deepEqual(done, { type: 'auditRendered', rows: 4, bars: 12 });
    const bars = await w.page.$$eval('.audit-chart rect.bar', (els) => els.map((e) => ({ m: e.getAttribute('data-measure'), row: Number(e.getAttribute('data-row')), v: Number(e.getAttribute('data-value')), w: Number(e.getAttribute('width')) })));
    assert.equal(bars.length, 12);
    for (const b of bars) {
      const row = result.rows[b.row];
      assert.equal(b.v, row[b.m as 'shareRootsOutside']);
    }
    // Widths are proportional to the shares.
    const full = bars.find((b) => b.v > 0.2)!;
    for (const b of bars) if (b.v > 0) assert.ok(Math.abs(b.w / full.w - b.v / full.v) < 1e-6);
    const tableRows = await w.page.$$eval('.audit-table tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-rule'), tr.getAttribute('data-method'), (tr.children[6] as HTMLElement).querySelector('.num')!.getAttribute('data-value')]));
    assert.deepEqual(tableRows, result.rows.map((r) => [r.rule, r.method, String(r.shareRootsOutside)]));
    assert.match(await w.page.textContent('.audit-sanity') ?? '', /Pixel flipping/);
    assert.deepEqual(w.problems, []);
    await w.screenshot('audit-dark');
  });

  it('column help names the columns as the table does (no internal keys), and a sanity check over 0 inputs reads sensibly', async () => {
    const a: AuditResult = structuredClone(result);
    a.sanity = { ...a.sanity, randomization: [{ randomizedFrom: 'layer2', meanSpearman: NaN, pairs: 0 }, { randomizedFrom: 'layer1', meanSpearman: 0.25, pairs: 7 }] };
    const w = await openWebview(browser);
    await w.send({ type: 'audit', audit: a }, false);
    await w.waitFor('auditRendered', 1);
    const terms = await w.page.locator('.audit-definitions dt').allTextContents();
    const headers = await w.page.locator('.audit-table thead th').allTextContents();
    assert.equal(terms.length, Object.keys(a.definitions).length);
    for (const t of terms) {
      assert.ok(!/[a-z][A-Z]/.test(t), `internal key "${t}"`);
      assert.ok(headers.includes(t), `"${t}" is not a column of the table (${headers.join(', ')})`);
    }
    // Each header that has a definition explains itself on hover.
    assert.equal(await w.page.locator('.audit-table thead th', { hasText: 'roots outside' }).last().getAttribute('title'), a.definitions.shareRootsOutside);
    const sanity = await w.page.locator('.audit-sanity li').allTextContents();
    assert.ok(!sanity.some((l) => /— \(0 inputs\)/.test(l)), sanity.join(' | '));
    assert.match(sanity[0], /layer2 up: not measured: no input gave two non-constant explanations/);
    assert.match(sanity[1], /layer1 up: mean Spearman ρ 0\.25 \(7 inputs\)/);
  });

  it('refuses a malformed audit', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'audit', audit: { schema: 'dtd-lens/audit@1', rows: 'nope' } }, false);
    const posted = await w.waitFor('error', 1);
    assert.match((posted[0] as { message: string }).message, /failed validation/);
  });

  it('the view has its own Save CSV and Save JSON buttons, which ask the host to save the audit in that format', async () => {
    const w = await openWebview(browser, { theme: 'vscode-dark' });
    await w.send({ type: 'audit', audit: result }, false);
    await w.waitFor('auditRendered', 1);
    await w.page.click('.audit button.audit-save-csv');
    await w.page.click('.audit button.audit-save-json');
    const saves = await w.waitFor('saveAudit', 2);
    assert.deepEqual(saves, [
      { type: 'saveAudit', format: 'csv' },
      { type: 'saveAudit', format: 'json' },
    ]);
  });
});
