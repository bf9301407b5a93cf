// Baselines on demand in headless Chromium: a result without baselines, from a
// host that computes them (settings.baselinesOnDemand), offers them in the compare
// menu; choosing it posts one 'baselines' request for the shown run, the menu waits
// (disabled, "computing baselines…"), and the answer — computed here by the
// engine's own request code, as the host would — is merged into the result and
// drawn next to it (gradient × input first). A failed request says why and offers
// again; a result that carries baselines lists them at once; a report (no host)
// without them shows no compare menu.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { explain, loadModel } from '../../extension/engine';
import { explainBaselines } from '../../extension/engine/baselineRequest';
import type { Network } from '../../extension/engine/network';
import { type BaselinesReply, type ExplainResult, type HostToWebview, splitResult, type WebviewToHost } from '../../extension/protocol';
import { flat } from '../helpers/conv';
import { CONV_FIXTURES_DIR, FIXTURES_DIR, loadFixture } from '../helpers/fixtures';
import { launch, openWebview, type WebviewPage } from './harness';

const RUN = 'mk1-abc123';

async function run(dir: string, name: string, ext: 'json' | 'onnx', method: 'lrp' | 'train-free'): Promise<{ net: Network; result: ExplainResult; output: number }> {
  const fx = loadFixture(name, dir);
  const net = loadModel(new Uint8Array(readFileSync(join(dir, `${name}.${ext}`))), `${name}.${ext}`);
  const output: number = fx.explanations?.[0]?.explained_output ?? fx.explained_output;
  const x = ext === 'onnx' ? flat(fx.input.x) : fx.input.x[0];
  // As VS Code runs it: no baselines; stored with its run id (the host's splitResult).
  const result = splitResult(await explain(net, x, { method, rule: method === 'lrp' ? 'epsilon' : 'z+', explainedOutput: output }), RUN).view;
  return { net, result, output };
}

/** The engine's answer to the request, as the host sends it on. */
async function answer(net: Network, result: ExplainResult): Promise<BaselinesReply> {
  const out = await explainBaselines(net, result.input, { explainedOutput: result.explainedOutput });
  return { ...out, tensors: {} };
}

const paneValues = (w: WebviewPage, pane: number) => w.page.$$eval(`svg.network[data-pane="${pane}"] .node[data-layer="0"]`, (els) => els.map((e) => Number(e.getAttribute('data-relevance'))));
const options = (w: WebviewPage) => w.page.$$eval('select.baseline option', (els) => els.map((e) => (e as HTMLOptionElement).value));
const requests = async (w: WebviewPage) => (await w.posted()).filter((m): m is Extract<WebviewToHost, { type: 'baselines' }> => m.type === 'baselines');

describe('baselines on demand', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(() => browser?.close());

  it('the compare menu offers them, asks the host once for the shown run, waits, and draws gradient × input when they arrive', async () => {
    const { net, result } = await run(FIXTURES_DIR, 'mlp3_seed0_testfull', 'json', 'train-free');
    assert.equal(result.baselines, null);
    const w = await openWebview(browser);
    await w.send({ type: 'result', result, settings: { topK: 4, baselinesOnDemand: true } });
    const page = w.page;
    assert.equal(await page.locator('label.baseline-ctl').isVisible(), true, 'the compare menu is shown');
    assert.deepEqual(await options(w), ['', '@compute']);
    assert.equal(await page.getAttribute('select.baseline', 'data-state'), 'offered');
    assert.equal(await page.locator('section.pane').count(), 1);
    assert.equal((await requests(w)).length, 0, 'nothing computed before the user asks');

    const n = (await w.posted()).filter((m) => m.type === 'rendered').length;
    await page.selectOption('select.baseline', '@compute');
    const [req] = await w.waitFor('baselines', 1);
    assert.deepEqual(req, { type: 'baselines', requestId: (req as { requestId: number }).requestId, run: RUN }, 'the request names the shown run');
    await w.waitFor('rendered', n + 1);
    // While the host computes: the menu waits and says so; still one pane.
    assert.equal(await page.getAttribute('select.baseline', 'data-state'), 'pending');
    assert.equal(await page.locator('select.baseline').isDisabled(), true);
    assert.equal(await page.locator('select.baseline option:checked').textContent(), 'computing baselines…');
    assert.match((await page.textContent('.status')) ?? '', /Computing the baselines/);
    assert.equal(await page.locator('section.pane').count(), 1);

    const reply = await answer(net, result);
    const m = (await w.posted()).filter((x) => x.type === 'rendered').length;
    await w.send({ type: 'baselines', requestId: (req as { requestId: number }).requestId, run: RUN, show: true, reply } satisfies HostToWebview, false);
    await w.waitFor('rendered', m + 1);
    assert.equal(await page.locator('section.pane').count(), 2, 'the result and its baseline side by side');
    const drawn = (await w.posted()).filter((x): x is Extract<WebviewToHost, { type: 'rendered' }> => x.type === 'rendered').at(-1)!;
    assert.equal(drawn.summary.baseline, 'gradientTimesInput', "the host is told what is drawn next to the result");
    assert.equal(await page.inputValue('select.baseline'), 'gradientTimesInput');
    assert.deepEqual(await paneValues(w, 1), reply.baselines!.gradientTimesInput);
    assert.deepEqual(await options(w), ['', 'gradientTimesInput', ...Object.keys(reply.baselines!.lrp).map((k) => `lrp:${k}`)]);
    assert.equal(await page.locator('select.baseline').isDisabled(), false);
    assert.equal((await page.textContent('.status')) ?? '', '');
    // Another baseline from the menu: its relevance at the input.
    await page.selectOption('select.baseline', 'lrp:epsilon_1e-6');
    await w.waitFor('rendered', m + 2);
    assert.deepEqual(await paneValues(w, 1), reply.baselines!.lrp['epsilon_1e-6'].relevance);
    assert.equal((await requests(w)).length, 1, 'asked once');
    // What the webview keeps (a restored panel) and exports as JSON carries them.
    await page.waitForFunction(() => !!(window as unknown as { __state?: { message?: { result?: { baselines?: unknown } } } }).__state?.message?.result?.baselines);
    await w.send({ type: 'export', format: 'json', requestId: 7 } satisfies HostToWebview, false);
    const exported = (await w.waitFor('exported', 1))[0] as Extract<WebviewToHost, { type: 'exported' }>;
    assert.deepEqual(JSON.parse(exported.data).baselines.gradientTimesInput, reply.baselines!.gradientTimesInput);
    assert.deepEqual(w.problems, []);
  });

  it('on a CNN: the heatmap shows the LRP result, then gradient × input next to it (screenshots before and after)', async () => {
    const { net, result } = await run(CONV_FIXTURES_DIR, 'cnn3x10_bn_gap_seed2', 'onnx', 'lrp');
    const w = await openWebview(browser, { width: 1500, height: 1000 });
    await w.send({ type: 'result', result, settings: { topK: 4, baselinesOnDemand: true } });
    const page = w.page;
    assert.equal(await page.locator('canvas.heat-relevance').count(), 1);
    await w.screenshot('baselines-before');
    await page.selectOption('select.baseline', '@compute');
    const [req] = await w.waitFor('baselines', 1);
    await page.waitForSelector('select.baseline[data-state="pending"]');
    await w.screenshot('baselines-computing');
    const reply = await answer(net, result);
    const n = (await w.posted()).filter((m) => m.type === 'rendered').length;
    await w.send({ type: 'baselines', requestId: (req as { requestId: number }).requestId, run: RUN, show: true, reply } satisfies HostToWebview, false);
    await w.waitFor('rendered', n + 1);
    const labels = await page.$$eval('canvas.heat-relevance', (els) => els.map((e) => e.getAttribute('aria-label')));
    assert.equal(labels.length, 2);
    assert.match(labels[0]!, /^input relevance: lrp · epsilon/);
    assert.equal(labels[1], 'input relevance: gradient × input');
    await w.screenshot('baselines-after');
    assert.deepEqual(w.problems, []);
  });

  it('a failed request says why and offers again; an answer for another run or result is not merged', async () => {
    const { net, result } = await run(FIXTURES_DIR, 'mlp3_seed0_testfull', 'json', 'train-free');
    const w = await openWebview(browser);
    await w.send({ type: 'result', result, settings: { topK: 4, baselinesOnDemand: true } });
    const page = w.page;
    await page.selectOption('select.baseline', '@compute');
    const [first] = (await w.waitFor('baselines', 1)) as Extract<WebviewToHost, { type: 'baselines' }>[];
    await page.waitForSelector('select.baseline[data-state="pending"]');
    await w.send({ type: 'baselines', requestId: first.requestId, run: RUN, show: false, error: 'Computing the baselines was cancelled.' } satisfies HostToWebview, false);
    await page.waitForSelector('.errors .error');
    assert.match((await page.textContent('.errors .error')) ?? '', /Baselines: Computing the baselines was cancelled\./);
    assert.equal(await page.getAttribute('select.baseline', 'data-state'), 'offered');
    assert.equal(await page.inputValue('select.baseline'), '');
    assert.equal(await page.locator('section.pane').count(), 1);
    // Unasked baselines for another stored run, or a stale answer: ignored.
    const reply = await answer(net, result);
    await w.send({ type: 'baselines', requestId: 0, run: 'other-run', show: true, reply } satisfies HostToWebview, false);
    await w.send({ type: 'baselines', requestId: first.requestId, run: RUN, show: true, reply } satisfies HostToWebview, false);
    await page.waitForTimeout(200);
    assert.equal(await page.getAttribute('select.baseline', 'data-state'), 'offered');
    // Asked again: a new request; computed for this run by the other webview or the command (requestId 0, show false): merged, not switched to.
    await page.selectOption('select.baseline', '@compute');
    const all = await w.waitFor('baselines', 2);
    assert.notEqual((all[1] as { requestId: number }).requestId, first.requestId);
    const n = (await w.posted()).filter((m) => m.type === 'rendered').length;
    await w.send({ type: 'baselines', requestId: 0, run: RUN, show: false, reply } satisfies HostToWebview, false);
    await w.waitFor('rendered', n + 1);
    assert.equal(await page.getAttribute('select.baseline', 'data-state'), 'carried');
    assert.equal(await page.inputValue('select.baseline'), '');
    assert.equal(await page.locator('section.pane').count(), 1);
  });

  it('a saved result with baselines lists them at once; a report without them (no host to ask) shows no compare menu', async () => {
    const { net, result } = await run(FIXTURES_DIR, 'mlp3_seed0_testfull', 'json', 'train-free');
    const saved: ExplainResult = { ...result, baselines: (await answer(net, result)).baselines };
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: saved, settings: { topK: 4, baselinesOnDemand: true } });
    assert.equal(await w.page.getAttribute('select.baseline', 'data-state'), 'carried');
    assert.ok((await options(w)).includes('gradientTimesInput') && !(await options(w)).includes('@compute'));
    const report = await openWebview(browser);
    await report.send({ type: 'result', result, settings: { topK: 4 } });
    assert.equal(await report.page.locator('label.baseline-ctl').isVisible(), false);
    assert.equal((await requests(report)).length, 0);
  });
});
