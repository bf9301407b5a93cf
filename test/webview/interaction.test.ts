// Messages and interaction: validation of host messages, progress, clear,
// state restore through getState/setState, keyboard navigation and search,
// tooltips.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ExplainResult } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview } from './harness';

describe('messages and interaction', () => {
  let browser: Browser;
  let r: ExplainResult;
  before(async () => {
    browser = await launch();
    r = await engineResult('mlp3_seed1_notebook', { method: 'train-free' });
  });
  after(() => browser?.close());

  it('ignores a message that fails validation and says so', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    const nodes = await w.page.locator('.node').count();
    // A result without its schema marker, a made-up type, and a non-object.
    await w.send({ type: 'result', result: { ...r, schema: 'something-else', activations: [[1, 2, 3]] } }, false);
    await w.send({ type: 'explode' }, false);
    await w.send('hello', false);
    const errors = await w.waitFor('error', 3);
    assert.match((errors[0] as { message: string }).message, /failed validation \(type: result\)/);
    assert.match((errors[1] as { message: string }).message, /type: explode/);
    assert.match((errors[2] as { message: string }).message, /type: string/);
    assert.equal(await w.page.locator('.errors .error').count(), 3);
    assert.equal(await w.page.locator('.node').count(), nodes, 'the drawing is unchanged');
    assert.equal((await w.posted()).filter((m) => m.type === 'rendered').length, 1, 'nothing was redrawn');
    await w.screenshot('invalid-message');
  });

  it('shows progress while a run streams in and hides it with the result; clear empties the view', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'progress', progress: { stage: 'full-backward layer 2', fraction: 0.4 } }, false);
    await w.page.locator('.progress:not([hidden])').waitFor();
    assert.equal(await w.page.textContent('.progress-text'), 'full-backward layer 2 · 40 %');
    assert.equal(await w.page.getAttribute('.progress', 'aria-valuenow'), '40');
    await w.send({ type: 'progress', progress: { stage: 'loading model' } }, false);
    await w.page.waitForFunction(() => document.querySelector('.progress')?.classList.contains('indeterminate'));
    assert.equal(await w.page.textContent('.progress-text'), 'loading model');
    await w.send({ type: 'result', result: r });
    assert.equal(await w.page.locator('.progress').isHidden(), true);
    await w.send({ type: 'progress', progress: { stage: 'again', fraction: 1 } }, false);
    await w.page.locator('.progress:not([hidden])').waitFor();
    await w.send({ type: 'progress', progress: null }, false);
    await w.page.locator('.progress[hidden]').waitFor({ state: 'attached' });
    await w.send({ type: 'clear' }, false);
    await w.page.waitForFunction(() => document.getElementById('app')?.getAttribute('data-state') === 'empty');
    assert.equal(await w.page.locator('.node').count(), 0);
  });

  it('restores selection, expanded layers, top-k and the result from the saved state', async () => {
    const big = await engineResult('scale_784_256_128_10_seed0', { method: 'train-free' });
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r, settings: { topK: 2 } });
    await w.page.click('.node[data-layer="2"][data-unit="4"]');
    await w.page.waitForFunction(() => (window as unknown as { __state?: { ui?: { selection?: unknown } } }).__state?.ui?.selection);
    const saved = await w.page.evaluate(() => (window as unknown as { __state: unknown }).__state);
    // A fresh webview (the panel was hidden and shown again) with that state and no host message.
    const w2 = await openWebview(browser, { state: saved });
    await w2.waitFor('rendered', 1);
    assert.equal(await w2.page.locator('.node').count(), 32);
    assert.equal(await w2.page.inputValue('input.topk'), '2');
    await w2.page.locator('.unit-panel[data-layer="2"][data-unit="4"]').waitFor();
    assert.equal(await w2.page.locator('.node.focused').getAttribute('data-unit'), '4');
    // Expanded layers are part of the state too.
    const w3 = await openWebview(browser);
    await w3.send({ type: 'result', result: big });
    const n = (await w3.posted()).filter((m) => m.type === 'rendered').length;
    await w3.page.click('.expand-toggle[data-layer="1"]');
    await w3.waitFor('rendered', n + 1);
    await w3.page.waitForFunction(() => ((window as unknown as { __state?: { ui?: { expanded?: number[] } } }).__state?.ui?.expanded ?? []).includes(1));
    const saved3 = await w3.page.evaluate(() => (window as unknown as { __state: unknown }).__state);
    const w4 = await openWebview(browser, { state: saved3 });
    await w4.waitFor('rendered', 1);
    assert.equal(await w4.page.locator('.node[data-layer="1"]').count(), 256);
  });

  it('moves between units and layers with the keyboard, finds units by search, and shows tooltips', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    await w.page.focus('svg.network');
    await w.page.keyboard.press('ArrowDown'); // first unit of the input
    await w.page.keyboard.press('ArrowDown');
    await w.page.keyboard.press('ArrowDown');
    assert.equal(await w.page.textContent('.unit-panel h3'), 'input · unit 2');
    await w.page.keyboard.press('ArrowRight');
    assert.equal(await w.page.textContent('.unit-panel h3'), 'layer1 · unit 2');
    await w.page.keyboard.press('ArrowRight');
    await w.page.keyboard.press('ArrowRight');
    // 10 → 2 units: relative position 2/9 maps to unit 0.
    assert.equal(await w.page.textContent('.unit-panel h3'), 'layer3 · unit 0');
    await w.page.keyboard.press('ArrowUp'); // stays at the top
    assert.equal(await w.page.textContent('.unit-panel h3'), 'layer3 · unit 0');
    await w.page.keyboard.press('Escape');
    assert.equal(await w.page.locator('.unit-panel').count(), 0);
    await w.page.keyboard.press('/');
    assert.equal(await w.page.evaluate(() => document.activeElement?.className), 'search');
    await w.page.keyboard.type('2:7');
    await w.page.keyboard.press('Enter');
    assert.equal(await w.page.textContent('.unit-panel h3'), 'layer2 · unit 7');
    await w.page.fill('input.search', '9:1');
    await w.page.press('input.search', 'Enter');
    assert.match((await w.page.textContent('.status')) ?? '', /no layer 9/);
    assert.equal(await w.page.locator('input.search.invalid').count(), 1);
    // Tooltip with the value to 5 significant digits (after fitting the view again: the search zoomed in on layer2).
    await w.page.click('button.tool:text-is("Fit")');
    await w.page.hover('.node[data-layer="0"][data-unit="3"]');
    await w.page.locator('.tooltip:not([hidden])').waitFor();
    assert.match((await w.page.textContent('.tooltip')) ?? '', new RegExp(`relevance ${String(Number(r.relevance[0]![3].toPrecision(5))).replace(/[.+-]/g, '\\$&')}`));
    await w.screenshot('tooltip-and-search');
  });

  it('search expands a binned layer to reach the unit', async () => {
    const big = await engineResult('scale_784_256_128_10_seed0', { method: 'train-free' });
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: big });
    assert.equal(await w.page.locator('.node[data-layer="0"]').count(), 61);
    await w.page.fill('input.search', '0:300');
    await w.page.press('input.search', 'Enter');
    await w.page.locator('.unit-panel[data-layer="0"][data-unit="300"]').waitFor();
    assert.equal(await w.page.locator('.node[data-layer="0"]').count(), 784);
    assert.equal(await w.page.locator('.node.focused').getAttribute('data-unit'), '300');
  });
});
