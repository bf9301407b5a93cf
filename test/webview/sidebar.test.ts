// The side-bar view (issue 11: "the full panel squeezed into ~300 px: toolbar
// wraps, the network is clipped, mostly blank"): told by the host that it is
// the side bar, the webview draws its own layout — summary, compact ledger,
// mini network, Assumptions, "Open in editor" — with nothing wider than the
// view at 280 and 360 px; the panel's layout stays as it was.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { explain, loadModel } from '../../extension/engine';
import type { ExplainResult, WebviewToHost } from '../../extension/protocol';
import { CONV_FIXTURES_DIR, loadFixture } from '../helpers/fixtures';
import { flat } from '../helpers/conv';
import { engineResult } from './fixtures';
import { launch, openWebview, type WebviewPage } from './harness';

type Rendered = Extract<WebviewToHost, { type: 'rendered' }>;

async function convResult(): Promise<ExplainResult> {
  const name = 'cnn3x10_bn_gap_seed2';
  const fx = loadFixture(name, CONV_FIXTURES_DIR);
  const net = loadModel(new Uint8Array(readFileSync(join(CONV_FIXTURES_DIR, `${name}.onnx`))), `${name}.onnx`);
  return explain(net, flat(fx.input.x), { method: 'train-free', rule: 'z+', explainedOutput: fx.explanations[0].explained_output });
}

/** Elements wider than their box or reaching past the viewport's right edge (what the user would not see). */
async function overflow(w: WebviewPage): Promise<string[]> {
  // A string: tsx would wrap a named arrow function in a helper the page does not have.
  return w.page.evaluate<string[]>(`(() => {
    const bad = [];
    const vw = document.documentElement.clientWidth;
    const name = (e) => e.tagName.toLowerCase() + '.' + (e.getAttribute('class') || '').replace(/ /g, '.');
    for (const e of [document.documentElement, document.body]) if (e.scrollWidth > e.clientWidth) bad.push(name(e) + ' scrollWidth ' + e.scrollWidth + ' > ' + e.clientWidth);
    for (const e of Array.from(document.querySelectorAll('#app > *, .sidebar > *, .sidebar section, .sidebar li, .sidebar figure'))) {
      if (e.hidden) continue;
      if (e.scrollWidth > e.clientWidth) bad.push(name(e) + ' scrollWidth ' + e.scrollWidth + ' > clientWidth ' + e.clientWidth);
    }
    for (const e of Array.from(document.querySelectorAll('#app *'))) {
      const r = e.getBoundingClientRect();
      if (r.width > 0 && r.right > vw + 0.5) bad.push(name(e) + ' right ' + r.right.toFixed(1) + ' > ' + vw);
    }
    return bad;
  })()`);
}

describe('the side-bar layout', () => {
  let browser: Browser;
  let mlp: ExplainResult;
  let big: ExplainResult;
  let conv: ExplainResult;
  before(async () => {
    browser = await launch();
    mlp = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
    big = await engineResult('scale_784_256_128_10_seed0', { method: 'train-free' });
    conv = await convResult();
  });
  after(() => browser?.close());

  for (const width of [280, 360]) {
    for (const [label, get] of [
      ['10-10-10-2 MLP', () => mlp],
      ['784-256-128-10 MLP', () => big],
      ['conv net', () => conv],
    ] as const) {
      it(`${label} at ${width} px: summary, compact ledger and mini network, no toolbar, nothing wider than the view`, async () => {
        const r = get();
        const w = await openWebview(browser, { width, height: 900, theme: 'vscode-dark' });
        await w.send({ type: 'hello', view: 'sidebar' }, false);
        await w.send({ type: 'result', result: r, settings: { topK: 8, view: 'sidebar' } });
        const rendered = (await w.waitFor('rendered', 1)).at(-1) as Rendered;
        assert.equal(rendered.summary.view, 'sidebar');
        const page = w.page;
        assert.equal(await page.locator('.toolbar').count(), 0, 'no toolbar');
        assert.equal(await page.locator('svg.network').count(), 0, 'not the panel network');
        // The summary line: model, method and rule, output, f(x), status.
        const summary = (await page.locator('.sb-summary').innerText()).replace(/\s+/g, ' ');
        assert.ok(summary.includes(r.model.name), summary);
        assert.ok(summary.includes(`${r.method} · z+`), summary);
        assert.ok(summary.includes(`output ${r.explainedOutput}`), summary);
        assert.match(summary, /f\(x\) = /);
        assert.equal(await page.locator('.sb-status .badge').count() > 0, true, 'a status badge');
        // The compact ledger: one row per layer of the diagnostics, each with its Σ R / f(x) bar.
        const rows = page.locator('.ledger.compact .ledger-compact > li');
        assert.equal(await rows.count(), r.diagnostics.layers.length);
        assert.equal(await page.locator('.ledger.compact .ratio-bar').count(), r.diagnostics.layers.length);
        assert.equal(await page.locator('.ledger-table').count(), 0, 'no wide table');
        // The mini network: every layer, with nodes and flows, within the side bar's width.
        const mini = page.locator('svg.mini-network');
        assert.equal(await mini.count(), 1);
        assert.deepEqual(await mini.locator('.layer-name').count() > 0, true);
        assert.equal(rendered.summary.nodesPerLayer.length, r.activations.length, 'a column per tensor');
        assert.ok(rendered.summary.nodesPerLayer.every((n) => n > 0 && n <= 16), JSON.stringify(rendered.summary.nodesPerLayer));
        assert.ok((await mini.locator('.flow').count()) > 0, 'flows drawn');
        const box = (await mini.boundingBox())!;
        assert.ok(box.width >= width - 40 && box.x + box.width <= width, `mini network ${JSON.stringify(box)} at ${width} px`);
        assert.ok(box.height >= 90, `mini network height ${box.height}`);
        assert.deepEqual(await overflow(w), []);
        // No large blank area: the content ends within a screen, and the gaps between sections are small.
        const gaps = await page.evaluate(() => {
          const kids = Array.from(document.querySelectorAll('.sidebar > *')).filter((e) => !(e as HTMLElement).hidden).map((e) => e.getBoundingClientRect());
          return kids.slice(1).map((r, i) => r.top - kids[i].bottom);
        });
        assert.ok(Math.max(...gaps) <= 24, `gaps ${JSON.stringify(gaps)}`);
        assert.deepEqual(w.problems, []);
        if (width === 280) await w.screenshot(`side-bar-${label.replace(/[^a-z0-9]+/gi, '-')}-${width}`);
      });
    }
  }

  it('the failing checks show in the summary and as badges on their ledger rows', async () => {
    const w = await openWebview(browser, { width: 300 });
    await w.send({ type: 'hello', view: 'sidebar' }, false);
    await w.send({ type: 'result', result: mlp, settings: { topK: 8 } });
    // Premise (labels.test.ts): layer1 unit 1's root is outside its linear region.
    assert.equal(mlp.roots[0].find((r) => r.unit === 1)?.checks?.inRegion, false);
    const row = w.page.locator('.ledger-compact > li[data-index="1"]');
    assert.ok(await row.evaluate((e) => e.classList.contains('has-failure')));
    const badges = await row.locator('.badge.fail').allTextContents();
    assert.ok(badges.some((b) => /outside region/.test(b)), badges.join(' | '));
    const region = await w.page.locator('.sb-status .badge[data-failed-check="region"]').textContent();
    assert.match(region ?? '', /roots outside region \(\d+ layers?\)/);
  });

  it('"Open in editor" posts openInEditor with the run shown, by click and by keyboard; Tab reaches it and the ledger rows', async () => {
    const r: ExplainResult = { ...mlp, paged: { run: 'mq3k2a-7x1b', tree: null, tensors: {}, roots: [] } };
    const w = await openWebview(browser, { width: 300 });
    await w.send({ type: 'hello', view: 'sidebar' }, false);
    await w.send({ type: 'result', result: r, settings: { topK: 8 } });
    await w.page.locator('button.open-in-editor').click();
    let opens = await w.waitFor('openInEditor', 1);
    assert.deepEqual(opens[0], { type: 'openInEditor', run: 'mq3k2a-7x1b' });
    // Keyboard: Tab from the top reaches the button, then the ledger's rows.
    await w.page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const reached: string[] = [];
    for (let i = 0; i < 12; i++) {
      await w.page.keyboard.press('Tab');
      reached.push(await w.page.evaluate(() => {
        const e = document.activeElement;
        return e ? `${e.tagName.toLowerCase()}.${e.className}${e.getAttribute('data-index') ? `#${e.getAttribute('data-index')}` : ''}` : '';
      }));
    }
    const btn = reached.indexOf('button.tool open-in-editor');
    assert.ok(btn >= 0, reached.join(', '));
    assert.ok(reached.slice(btn).some((x) => x.startsWith('li.ledger-row')), reached.join(', '));
    await w.page.locator('button.open-in-editor').focus();
    await w.page.keyboard.press('Enter');
    opens = await w.waitFor('openInEditor', 2);
    assert.equal(opens.length, 2);
    // A result the host did not store (no run id): the host opens the panel's run.
    const w2 = await openWebview(browser, { width: 300 });
    await w2.send({ type: 'hello', view: 'sidebar' }, false);
    await w2.send({ type: 'result', result: mlp, settings: { topK: 8 } });
    await w2.page.locator('button.open-in-editor').click();
    assert.deepEqual((await w2.waitFor('openInEditor', 1))[0], { type: 'openInEditor', run: null });
  });

  it('the settings alone say it is the side bar (a restored webview draws its layout before the hello)', async () => {
    const w = await openWebview(browser, { width: 300 });
    await w.send({ type: 'result', result: mlp, settings: { topK: 8, view: 'sidebar' } });
    assert.equal(await w.page.locator('.sidebar .sb-summary').count(), 1);
    assert.equal(await w.page.locator('.toolbar').count(), 0);
  });

  it('the panel layout is unchanged when the view is "panel"', async () => {
    const structure = (w: WebviewPage) =>
      w.page.evaluate(() => Array.from(document.querySelectorAll('#app *')).map((e) => `${e.tagName}.${e.getAttribute('class') ?? ''}`).join('\n'));
    const plain = await openWebview(browser, { width: 1400 });
    await plain.send({ type: 'result', result: mlp, settings: { topK: 8 } });
    const told = await openWebview(browser, { width: 1400 });
    await told.send({ type: 'hello', view: 'panel' }, false);
    await told.send({ type: 'result', result: mlp, settings: { topK: 8, view: 'panel' } });
    assert.equal(await told.page.locator('.toolbar').count(), 1);
    assert.equal(await told.page.locator('svg.network').count(), 1);
    assert.equal(await told.page.locator('.ledger-table').count(), 1);
    assert.equal(await told.page.locator('.sidebar').count(), 0);
    assert.equal(await structure(told), await structure(plain));
    assert.equal(((await told.waitFor('rendered', 1)).at(-1) as Rendered).summary.view, 'panel');
  });

  it('screenshot of the side bar at 300 px, dark theme (test-output/screenshots/side-bar-300.png)', async () => {
    const w = await openWebview(browser, { width: 300, height: 580, theme: 'vscode-dark' });
    await w.send({ type: 'hello', view: 'sidebar' }, false);
    await w.send({ type: 'result', result: mlp, settings: { topK: 8 } });
    await w.screenshot('side-bar-300');
    assert.deepEqual(w.problems, []);
  });
});
