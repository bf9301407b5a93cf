// The visualizer shows what the model loader assumed (result.model.notes:
// BatchNorm folded, softmax removed, activations not stored …) in an
// "Assumptions" disclosure under the summary line: closed by default, opened
// by mouse or keyboard, one list item per note drawn as text; hidden when a
// result has no notes and after 'clear'.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { explain } from '../../extension/engine';
import type { ExplainResult } from '../../extension/protocol';
import { residualNetwork } from '../helpers/graphSummary';
import { engineResult } from './fixtures';
import { launch, openWebview } from './harness';

const HTML = '<img src=x onerror="window.__pwned=1">';

describe('assumptions (the loader notes) in the visualizer', () => {
  let browser: Browser;
  let graph: ExplainResult;
  before(async () => {
    browser = await launch();
    // A residual network built by the engine's NetworkBuilder (BatchNorms folded, a final Softmax removed), explained by the engine.
    const net = residualNetwork();
    const x = Array.from({ length: net.inputSize }, (_, i) => ((i * 37) % 100) / 100);
    const first = await explain(net, x, { method: 'lrp', rule: 'z+', baselines: false });
    const logits = first.activations[first.activations.length - 1];
    graph = await explain(net, x, { method: 'lrp', rule: 'z+', explainedOutput: logits.indexOf(Math.max(...logits)) });
  });
  after(() => browser?.close());

  it('a result with notes shows them under the summary line, closed until opened, each note as a list item', async () => {
    assert.equal(graph.status, 'ok');
    const notes = graph.model.notes;
    assert.equal(notes.length, 7, JSON.stringify(notes));
    const w = await openWebview(browser, { theme: 'vscode-dark' });
    await w.send({ type: 'result', result: graph });
    const { page } = w;
    const box = page.locator('.toolbar .heading details.assumptions');
    assert.equal(await box.isVisible(), true, 'the disclosure is shown');
    assert.equal(await box.locator('summary').innerText(), `Assumptions (${notes.length})`);
    assert.equal(await box.evaluate((d) => (d as HTMLDetailsElement).open), false, 'closed by default');
    assert.equal(await box.locator('li').first().isVisible(), false);
    // Keyboard: the summary is focusable and Enter opens it.
    await box.locator('summary').focus();
    await page.keyboard.press('Enter');
    assert.equal(await box.evaluate((d) => (d as HTMLDetailsElement).open), true, 'Enter opens it');
    assert.deepEqual(await box.locator('li').allTextContents(), notes);
    assert.ok(await box.locator('li', { hasText: /Softmax .* removed/ }).isVisible());
    assert.ok(await box.locator('li', { hasText: /BatchNormalization '\/bn1\/BatchNormalization' folded into '\/conv1\/Conv'/ }).isVisible());
    // It stays open when the view is drawn again (top-k changed).
    await page.locator('input.topk').fill('3');
    await page.locator('input.topk').dispatchEvent('change');
    await w.waitFor('rendered', 2);
    assert.equal(await box.evaluate((d) => (d as HTMLDetailsElement).open), true);
    assert.equal(await box.locator('li').count(), notes.length, 'listed once, not appended again');
    await w.screenshot('assumptions-dark');
    await box.locator('summary').click();
    assert.equal(await box.evaluate((d) => (d as HTMLDetailsElement).open), false, 'a click closes it');
    assert.deepEqual(w.problems, []);
    await page.close();
  });

  it('notes are text; a result without notes, and a cleared view, show no disclosure', async () => {
    const plain = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
    assert.deepEqual(plain.model.notes, []);
    const w = await openWebview(browser);
    const { page } = w;
    const box = page.locator('details.assumptions');
    await w.send({ type: 'result', result: plain });
    assert.equal(await box.isVisible(), false, 'no notes: no disclosure');

    const hostile = JSON.parse(JSON.stringify(plain)) as ExplainResult;
    hostile.model.notes = [`layer ${HTML} has no stored activation: ReLU assumed.`, 42 as unknown as string, 'Softmax removed.'];
    await w.send({ type: 'result', result: hostile });
    assert.equal(await box.isVisible(), true);
    assert.equal(await box.locator('summary').innerText(), 'Assumptions (2)', 'a note that is not a string is left out');
    await box.locator('summary').click();
    assert.deepEqual(await box.locator('li').allTextContents(), [`layer ${HTML} has no stored activation: ReLU assumed.`, 'Softmax removed.']);
    assert.equal(await page.locator('#app img').count(), 0, 'no element made from a note');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);

    await w.send({ type: 'clear' }, false);
    await page.waitForFunction(() => document.getElementById('app')!.getAttribute('data-state') === 'empty');
    assert.equal(await box.isVisible(), false, 'cleared: no disclosure');
    assert.deepEqual(w.problems, []);
    await page.close();
  });
});
